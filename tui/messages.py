"""Textual messages that carry controller events and resource samples into the screens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from tui.controller import Event
    from tui.monitor.sample import Sample


class ControllerEvent(Message):
    """A controller event (backend state, models, operation progress) delivered on the UI loop."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class MonitorSampled(Message):
    """A new resource sample, posted by the app to the active deck screen.

    A newer one replaces an older one still waiting in the queue, so a busy screen never works
    through a backlog of stale samples.
    """

    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MonitorSampled)


class OptionsGiven(Message):
    """New ``app.screen_options`` (a model, a file) for the screen that is already shown: it reads
    them as it does when it is shown again (``open_screen`` to the current screen)."""
