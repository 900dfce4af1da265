"""Coalescing of high-rate updates at their source.

A pull reports progress every few tens of milliseconds (Ollama's ticker is 60 ms, the replay can
go faster); a listener that redraws for each one spends the event loop on frames nobody can read.
:class:`Coalescer` hands its listener at most one value per interval, always the latest, and the
final value at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Cancellable]
"""``schedule(delay, callback)``: run ``callback`` after ``delay`` seconds; returns a handle."""


def loop_scheduler(delay: float, callback: Callable[[], None]) -> Cancellable:
    """Schedule on the running asyncio loop (the default)."""
    return asyncio.get_running_loop().call_later(delay, callback)


class Coalescer(Generic[T]):
    """Pass values to ``emit`` at most once per ``interval`` seconds: the first at once, then the
    latest of those that arrive within an interval when it ends, and :meth:`finish`'s at once.

    ``clock`` and ``schedule`` are the monotonic clock and the timer; tests pass their own.
    """

    def __init__(
        self,
        emit: Callable[[T], None],
        interval: float = 0.1,
        *,
        clock: Callable[[], float] = time.monotonic,
        schedule: Scheduler = loop_scheduler,
    ) -> None:
        self._emit = emit
        self.interval = interval
        self._clock = clock
        self._schedule = schedule
        self._last: float | None = None
        self._pending: tuple[T] | None = None
        self._timer: Cancellable | None = None
        self.emitted = 0
        """How many values reached ``emit`` (for tests and benches)."""

    def push(self, value: T) -> None:
        """Offer a value: emitted now if the interval since the last one has passed, else kept
        (replacing an older kept one) until it has."""
        now = self._clock()
        if self._timer is None and (self._last is None or now - self._last >= self.interval):
            self._send(value, now)
            return
        self._pending = (value,)
        if self._timer is None:
            assert self._last is not None
            delay = max(0.0, self.interval - (now - self._last))
            self._timer = self._schedule(delay, self._fire)

    def finish(self, value: T) -> None:
        """Emit the final value at once; anything kept is dropped (this one is newer)."""
        self.close()
        self._send(value, self._clock())

    def close(self) -> None:
        """Drop what is kept and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None

    def _fire(self) -> None:
        self._timer = None
        if self._pending is not None:
            (value,) = self._pending
            self._pending = None
            self._send(value, self._clock())

    def _send(self, value: T, now: float) -> None:
        self._last = now
        self.emitted += 1
        self._emit(value)
