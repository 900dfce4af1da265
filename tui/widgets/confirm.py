"""A small yes/no dialog: ``y``/enter confirms, ``n``/escape declines. Returns a bool."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask one question; dismisses with True (confirmed) or False."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical {
        width: 60; max-width: 95%; height: auto;
        border: thick $error 60%; background: $surface; padding: 1 2;
    }
    ConfirmDialog .dialog-title { text-style: bold; margin-bottom: 1; }
    ConfirmDialog Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmDialog Button { margin-left: 2; min-width: 10; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, message: str, *, confirm_label: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.message, markup=False)
            with Horizontal():
                yield Button("No (n)", id="no")
                yield Button(f"{self.confirm_label} (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChoiceDialog(ModalScreen[str | None]):
    """Pick one of a few answers by key; escape dismisses with ``None``.

    ``choices`` are ``(key, label)`` pairs; the key is also what the dialog returns.
    """

    DEFAULT_CSS = """
    ChoiceDialog { align: center middle; }
    ChoiceDialog > Vertical {
        width: 70; max-width: 95%; height: auto;
        border: thick $primary 60%; background: $surface; padding: 1 2;
    }
    ChoiceDialog .dialog-title { text-style: bold; margin-bottom: 1; }
    ChoiceDialog Horizontal { height: auto; margin-top: 1; }
    ChoiceDialog Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "choose('')", "Cancel", id="choice.cancel"),
    ]

    def __init__(self, title: str, message: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.message, markup=False)
            with Horizontal():
                for key, label in self.choices:
                    yield Button(f"{label} ({key})", id=f"choice-{key}")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_key(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.character and any(event.character == k for k, _ in self.choices):
            event.stop()
            self.dismiss(event.character)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-") or None)

    def action_choose(self, key: str) -> None:
        self.dismiss(key or None)


class QuitDialog(ConfirmDialog):
    """ "Quit slmdeck?" with what would be stopped or lost; ``q`` or ctrl+c again also quits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,ctrl+c,ctrl+q", "answer(True)", "Quit", id="quit.again", priority=True),
    ]

    def __init__(self, reasons: list[str]) -> None:
        message = "\n".join(f"• {reason}" for reason in reasons)
        super().__init__("Quit slmdeck?", message, confirm_label="Quit")
