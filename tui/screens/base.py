"""Base class of slmdeck's screens: typed access to the app and controller events."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import events, on
from textual.screen import Screen

from tui.controller import Event
from tui.messages import ControllerEvent

if TYPE_CHECKING:
    from tui.app import SlmdeckApp


class DeckScreen(Screen[None]):
    """A screen that receives controller events as :class:`ControllerEvent` messages while mounted."""

    _unsubscribe: Callable[[], None] | None = None

    @property
    def deck(self) -> SlmdeckApp:
        from tui.app import SlmdeckApp

        app = self.app
        assert isinstance(app, SlmdeckApp)
        return app

    @on(events.Mount)
    def _subscribe(self) -> None:
        self._unsubscribe = self.deck.controller.subscribe(self._forward)

    @on(events.Unmount)
    def _unsubscribe_all(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _forward(self, event: Event) -> None:
        self.post_message(ControllerEvent(event))
