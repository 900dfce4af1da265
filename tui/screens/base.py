"""Base class of slmdeck's screens: typed access to the app, controller events, resource samples."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import events, on
from textual.message import Message
from textual.screen import Screen

from tui.controller import BackendChanged, Event, ModelsChanged, OperationUpdated
from tui.messages import ControllerEvent
from tui.widgets.gauge_strip import GaugeStrip

if TYPE_CHECKING:
    from tui.app import SlmdeckApp
    from tui.monitor.sample import Sample


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


class DeckScreen(Screen[None]):
    """A screen that receives controller events as :class:`ControllerEvent` messages while mounted,
    and resource samples as :class:`MonitorSampled` while it is the active one (which keeps its
    :class:`~tui.widgets.gauge_strip.GaugeStrip` current)."""

    _unsubscribe: Callable[[], None] | None = None
    _missed: dict[tuple[str, object], Event] | None = None

    @property
    def deck(self) -> SlmdeckApp:
        from tui.app import SlmdeckApp

        app = self.app
        assert isinstance(app, SlmdeckApp)
        return app

    @on(events.Mount)
    def _subscribe(self) -> None:
        self._unsubscribe = self.deck.controller.subscribe(self._forward)
        # Sampling begins once a deck screen has painted, never before the first frame.
        self.call_after_refresh(self.deck.start_sampling)

    @on(events.ScreenResume)
    def _catch_up(self) -> None:
        # Samples go to the active screen only: one coming back shows the latest at once.
        if self.deck.last_sample is not None:
            self.post_message(MonitorSampled(self.deck.last_sample))
        # So do controller events: the latest of each one missed while hidden, in order.
        missed, self._missed = self._missed, None
        for event in (missed or {}).values():
            self.post_message(ControllerEvent(event))

    @on(MonitorSampled)
    def _update_strip(self, message: MonitorSampled) -> None:
        rate = self.deck.controller.live_tokens_per_second
        for strip in self.query(GaugeStrip):
            strip.show(message.sample, rate)

    @on(events.Unmount)
    def _unsubscribe_all(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _forward(self, event: Event) -> None:
        if self.is_current:
            self.post_message(ControllerEvent(event))
            return
        # A screen that is not shown does no work for an event: it keeps the latest event of
        # each backend and operation, and handles those when it is shown again.
        if self._missed is None:
            self._missed = {}
        key = _event_key(event)
        self._missed.pop(key, None)
        self._missed[key] = event


def _event_key(event: Event) -> tuple[str, object]:
    """What a newer event replaces an older one of: the same backend's state or models, the same
    operation's progress."""
    if isinstance(event, BackendChanged):
        return ("backend", event.state.id)
    if isinstance(event, ModelsChanged):
        return ("models", event.backend_id)
    if isinstance(event, OperationUpdated):
        return ("operation", event.operation.id)
    return ("other", id(event))
