"""A small dialog asking for one line of text (a model name, a path).

Enter submits, escape cancels (dismisses with ``None``). An optional ``validate`` callable returns
a sentence saying what is wrong, or ``None``; the dialog stays open and shows it until fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

Validator = Callable[[str], str | None]


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
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        help: str = "",
        placeholder: str = "",
        validate: Validator | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.help_text = help
        self.placeholder = placeholder
        self.validate = validate

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="dialog-title", markup=False)
            if self.help_text:
                yield Static(self.help_text, classes="dialog-help", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        problem = "Please enter a value." if not text else None
        if problem is None and self.validate is not None:
            problem = self.validate(text)
        if problem:
            self.query_one("#prompt-error", Static).update(problem)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
