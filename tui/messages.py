"""Textual messages that carry controller events into the app."""

from __future__ import annotations

from textual.message import Message

from tui.controller import Event


class ControllerEvent(Message):
    """A controller event (backend state, models, operation progress) delivered on the UI loop."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
