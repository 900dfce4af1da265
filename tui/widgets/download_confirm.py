"""The question asked before a download: its size first, since edge links are often metered."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.binding import Binding, BindingType
from textual.widgets import Button

from tui.widgets.confirm import ConfirmDialog


class DownloadDialog(ConfirmDialog):
    """``Download X (1.2 GB)?``: y or enter downloads, n or escape does not.

    Unlike a :class:`ConfirmDialog` for a deletion, the answer under the cursor is yes: nothing is
    lost by a download, only bytes spent, and the size is in the question.
    """

    DEFAULT_CSS = """
    DownloadDialog > Vertical { border: thick $primary 60%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Download", id="download.yes"),
        Binding("n,escape", "answer(False)", "No", id="download.no"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__(title, message, confirm_label="Download")

    @on(events.Mount)
    def _focus_yes(self, event: events.Mount) -> None:
        event.prevent_default()  # ConfirmDialog's handler would focus "No"
        self.query_one("#yes", Button).focus()
