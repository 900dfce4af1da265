"""Choosing what to copy from a chat: any message, or any code block of one, with a preview."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.core.chat.stats import plural

PREVIEW_LINES = 8


@dataclass(frozen=True, slots=True)
class CopyChoice:
    """One thing that can be copied: a message or one of its code blocks."""

    label: str
    """What the list shows (one line; external text, never markup)."""
    text: str
    what: str
    """What the toast calls it ("reply", "prompt", "code block")."""
    code: bool = False


class CopyPicker(ModalScreen[CopyChoice | None]):
    """Up/down through the messages and their code blocks (the newest highlighted), a preview of
    the one highlighted, enter copies it."""

    DEFAULT_CSS = """
    CopyPicker { align: center middle; }
    CopyPicker > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    CopyPicker OptionList { height: auto; max-height: 12; }
    CopyPicker #copy-preview {
        height: auto; max-height: 10; color: $text-muted; border-top: solid $primary;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="chat.copy_pick.cancel"),
    ]

    def __init__(self, choices: Sequence[CopyChoice]) -> None:
        super().__init__()
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Copy[/b]  ↑↓ choose, enter copies, esc cancels")
            options = OptionList(id="copy-options")
            for i, choice in enumerate(self.choices):
                label = Text(choice.label, no_wrap=True, overflow="ellipsis")
                if choice.code:
                    label.stylize("dim", 0, 4)
                options.add_option(Option(label, id=str(i)))
            yield options
            yield Static("", id="copy-preview", markup=False)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.choices:
            options.highlighted = len(self.choices) - 1
        options.focus()

    @on(OptionList.OptionHighlighted)
    def _preview(self, event: OptionList.OptionHighlighted) -> None:
        choice = self.choices[int(event.option.id or 0)]
        lines = choice.text.splitlines()
        shown = "\n".join(lines[:PREVIEW_LINES])
        if len(lines) > PREVIEW_LINES:
            shown += f"\n… {plural(len(lines) - PREVIEW_LINES, 'more line')}"
        self.query_one("#copy-preview", Static).update(shown)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)
