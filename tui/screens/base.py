"""Base class of slmdeck's screens: typed access to the app, controller events, resource samples,
and one place where a failed worker is told, logged and recovered from."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from textual import events, on
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from tui.controller import (
    BackendChanged,
    Event,
    FleetChanged,
    HostChanged,
    ModelsChanged,
    OperationUpdated,
)
from tui.messages import ControllerEvent, MonitorSampled
from tui.widgets.gauge_strip import GaugeStrip

if TYPE_CHECKING:
    from tui.config import Config
    from tui.controller import Controller
    from tui.monitor.sample import Sample

__all__ = ["Deck", "DeckScreen", "MonitorSampled", "report_worker_error"]


class Deck(Protocol):
    """What screens use of the app (:class:`tui.app.SlmdeckApp` is one), so that this module
    does not import the app that imports it."""

    config: Config
    controller: Controller
    screen_options: dict[str, str]
    last_sample: Sample | None

    def start_sampling(self) -> None: ...

    def open_screen(self, name: str, **options: str) -> bool: ...

    def reprobe(self) -> None: ...

    def track_screen(self, screen: DeckScreen) -> None: ...

    def untrack_screen(self, screen: DeckScreen) -> None: ...


def worker_title(node: Widget, worker: Worker[object]) -> str:
    """What a worker was doing, for people: ``Models: fetch details``."""
    owner = type(node).__name__.removesuffix("Screen") or type(node).__name__
    return f"{owner}: {worker.name.strip('_').replace('_', ' ') or 'a background task'}"


def report_worker_error(node: Widget, worker: Worker[object]) -> None:
    """Tell the user what failed (a toast) and write its traceback to the log file."""
    from tui.core.sanitize import sanitize
    from tui.logfile import log_error

    error = worker.error
    what = worker_title(node, worker)
    reason = (
        f"{type(error).__name__}: {sanitize(str(error))}" if error is not None else "unknown error"
    )
    path = log_error(what, error if error is not None else RuntimeError(reason))
    node.notify(
        f"{what} failed ({reason}). The screen goes on; details are in {path}.",
        title="Something went wrong",
        severity="error",
        timeout=15,
        markup=False,
    )


class DeckScreen(Screen[None]):
    """A screen that receives controller events as :class:`ControllerEvent` messages while mounted,
    and resource samples as :class:`MonitorSampled` while it is the active one (which keeps its
    :class:`~tui.widgets.gauge_strip.GaugeStrip` current)."""

    _unsubscribe: Callable[[], None] | None = None
    _missed: dict[tuple[str, object], Event] | None = None

    @property
    def deck(self) -> Deck:
        return cast("Deck", self.app)

    @on(events.Mount)
    def _subscribe(self) -> None:
        self._unsubscribe = self.deck.controller.subscribe(self._forward)
        self.deck.track_screen(self)
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
        # On a remote host: its exporters' figures, or why there are none (never this machine's).
        sample, note = self.deck.controller.strip_sample(message.sample)
        for strip in self.query(GaugeStrip):
            if sample is None:
                strip.show_note(note)
            else:
                strip.show(sample, rate)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # Workers run with exit_on_error=False: one that raises must neither end the app nor
        # fail silently, leaving the screen waiting for it forever.
        if event.state is WorkerState.ERROR:
            report_worker_error(self, event.worker)
            self.worker_failed(event.worker)

    def unsaved_work(self) -> list[str]:
        """What quitting now would lose on this screen, one line each (an unsaved edit, a reply
        still streaming); the app asks before quitting when any screen has some."""
        return []

    async def before_quit(self) -> None:
        """Keep what can be kept (a draft) before the app exits; the app awaits it."""

    def worker_failed(self, worker: Worker[object]) -> None:
        """Put the screen back in a usable state after ``worker`` raised (it has been told and
        logged already); screens with a pane waiting for a worker override this."""

    @on(events.Unmount)
    def _unsubscribe_all(self) -> None:
        self.deck.untrack_screen(self)
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
    if isinstance(event, FleetChanged):
        return ("fleet", None)  # each is the whole fleet: only the latest matters
    if isinstance(event, HostChanged):
        return ("host", None)
    return ("other", id(event))
