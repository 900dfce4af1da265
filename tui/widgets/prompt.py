"""A small dialog asking for one line of text (a model name, a path).

Enter submits, escape cancels (dismisses with ``None``). Every dialog treats an empty answer the
same way: it stays open and says ``Type <what>, or press escape to cancel.``; ``what`` names the
value asked for. An optional ``validate`` callable returns a sentence saying what else is wrong,
or ``None``; the dialog stays open and shows it until fixed.

Path dialogs opt in to Tab completion (``paths=PathCompletion(...)``): Tab completes to the longest
common prefix of the matching entries and lists them when several match. The folder is listed in a
thread, capped at :data:`tui.core.path_complete.MAX_ENTRIES` entries, so a slow or huge folder
never blocks typing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.core.path_complete import Completion, complete_path
from tui.core.sanitize import sanitize

Validator = Callable[[str], str | None]

SHOWN_CANDIDATES = 12
"""Matching names listed under the field when Tab finds several (the rest are counted)."""


def empty_problem(what: str) -> str:
    """What every dialog says for an empty answer."""
    return f"Type {what}, or press escape to cancel."


@dataclass(frozen=True, slots=True)
class PathCompletion:
    """Tab completion for a path field."""

    dirs_only: bool = False
    """Offer folders only."""
    suffixes: tuple[str, ...] = ()
    """Offer only files with these endings (besides folders); empty: every regular file."""


class PromptDialog(ModalScreen[str | None]):
    """Ask for a line of text; dismisses with the stripped text or ``None``."""

    DEFAULT_CSS = """
    PromptDialog { align: center middle; }
    PromptDialog > Vertical {
        width: 70; max-width: 95%; height: auto;
        border: thick $primary 60%; background: $surface; padding: 1 2;
    }
    PromptDialog .dialog-title { text-style: bold; }
    PromptDialog .dialog-help { color: $text-muted; margin-bottom: 1; }
    PromptDialog #prompt-error { color: $error; height: auto; }
    PromptDialog #prompt-candidates { color: $text-muted; height: auto; max-height: 8; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
        Binding("tab", "complete", "Complete", show=False, id="prompt.complete"),
    ]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        help: str = "",
        placeholder: str = "",
        validate: Validator | None = None,
        what: str = "a value",
        paths: PathCompletion | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.help_text = help
        self.placeholder = placeholder
        self.validate = validate
        self.what = what
        self.paths = paths
        self.completions = 0
        """Tab completions shown so far (tests wait on it)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="dialog-title", markup=False)
            help_text = self.help_text
            if self.paths is not None:
                help_text = f"{help_text} Tab completes." if help_text else "Tab completes."
            if help_text:
                yield Static(help_text, classes="dialog-help", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-candidates", markup=False)
            yield Static("", id="prompt-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        problem = empty_problem(self.what) if not text else None
        if problem is None and self.validate is not None:
            problem = self.validate(text)
        if problem:
            self.query_one("#prompt-error", Static).update(problem)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "complete":
            # Without completion Tab moves the focus as everywhere else.
            return self.paths is not None
        return True

    def action_complete(self) -> None:
        if self.paths is not None:
            self._complete(self.query_one(Input).value, self.paths)

    @work(thread=True, exclusive=True, group="prompt-complete", exit_on_error=False)
    def _complete(self, text: str, paths: PathCompletion) -> None:
        result = complete_path(text, dirs_only=paths.dirs_only, suffixes=paths.suffixes)
        self.app.call_from_thread(self._show_completion, text, result)

    def _show_completion(self, typed: str, result: Completion) -> None:
        box = self.query_one(Input)
        if box.value != typed:  # typed on while the folder was listed: that text wins
            return
        if result.text != typed:
            box.value = result.text
            box.cursor_position = len(result.text)
        lines: list[str] = []
        if result.candidates:
            shown = [sanitize(c) for c in result.candidates[:SHOWN_CANDIDATES]]
            lines.append("  ".join(shown))
            rest = len(result.candidates) - len(shown)
            if rest > 0:
                lines.append(f"… and {rest} more")
        if result.problem:
            lines.append(sanitize(result.problem))
        elif result.partial:
            lines.append("(a large folder: only its first entries were looked at)")
        self.query_one("#prompt-candidates", Static).update("\n".join(lines))
        self.completions += 1
