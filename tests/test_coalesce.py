"""Progress coalescing at the source: at most one update per interval, always the latest, the end
at once. Run on a clock and a timer the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from tui.backends.base import Progress
from tui.controller import Controller, OperationState, OperationUpdated
from tui.core.coalesce import Coalescer


class FakeTime:
    """A clock and a one-shot timer queue that move only when the test says."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[list[object]] = []  # [due, callback, cancelled]

    def clock(self) -> float:
        return self.now

    def schedule(self, delay: float, callback: Callable[[], None]) -> _Handle:
        entry: list[object] = [self.now + delay, callback, False]
        self.timers.append(entry)
        return _Handle(entry)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for entry in sorted(self.timers, key=lambda e: e[0]):  # type: ignore[arg-type, return-value]
            due, callback, cancelled = entry
            if not cancelled and due <= self.now:  # type: ignore[operator]
                entry[2] = True
                callback()  # type: ignore[operator]
        self.timers = [e for e in self.timers if not e[2]]


class _Handle:
    def __init__(self, entry: list[object]) -> None:
        self.entry = entry

    def cancel(self) -> None:
        self.entry[2] = True


def test_first_at_once_then_latest_per_interval_then_final() -> None:
    t = FakeTime()
    got: list[int] = []
    c: Coalescer[int] = Coalescer(got.append, 0.1, clock=t.clock, schedule=t.schedule)
    c.push(0)
    assert got == [0]
    for i in range(1, 50):  # 49 updates, 20 ms apart: about 1 s
        t.advance(0.02)
        c.push(i)
    # At most one per 0.1 s of the test's clock, each newer than the last.
    assert len(got) <= 1 + 49 * 0.02 / 0.1 + 1
    assert got == sorted(got) and len(set(got)) == len(got)
    t.advance(0.1)  # the timer hands over the latest one kept
    assert got[-1] == 49
    c.finish(50)
    assert got[-1] == 50
    t.advance(1.0)
    assert got.count(50) == 1 and got[-1] == 50  # nothing after the end


def test_final_value_replaces_a_kept_one_and_arrives_at_once() -> None:
    t = FakeTime()
    got: list[str] = []
    c: Coalescer[str] = Coalescer(got.append, 0.1, clock=t.clock, schedule=t.schedule)
    c.push("start")
    t.advance(0.01)
    c.push("50%")  # kept: within the interval
    assert got == ["start"]
    c.finish("done")
    assert got == ["start", "done"]
    t.advance(1.0)
    assert got == ["start", "done"]  # the kept 50% never arrives after the end


def test_an_update_after_a_quiet_spell_is_sent_at_once() -> None:
    t = FakeTime()
    got: list[int] = []
    c: Coalescer[int] = Coalescer(got.append, 0.1, clock=t.clock, schedule=t.schedule)
    c.push(1)
    t.advance(5.0)
    c.push(2)
    assert got == [1, 2] and c.emitted == 2


async def test_controller_hands_listeners_coalesced_snapshots() -> None:
    t = FakeTime()
    controller = Controller([], clock=t.clock, schedule=t.schedule, progress_interval=0.1)
    events: list[OperationUpdated] = []
    controller.subscribe(lambda e: events.append(e) if isinstance(e, OperationUpdated) else None)
    step = asyncio.Event()
    count = 300

    async def steps() -> AsyncIterator[Progress]:
        for i in range(1, count + 1):
            t.advance(0.02)  # a progress line every 20 ms of the test's clock
            yield Progress("downloading", i, count)
        step.set()

    op = controller.run_operation("pull", "pull x", "ollama", steps, refresh_after=False)
    assert op.task is not None
    await op.task
    assert step.is_set()
    # The start, at most one per 0.1 s of 6 s of progress, and the end.
    assert 2 <= len(events) <= 2 + 60 + 1
    assert events[0].operation.state is OperationState.RUNNING
    final = events[-1].operation
    assert final.state is OperationState.DONE and final.progress is not None
    assert final.progress.completed == count
    # Each event is a copy of its moment: only the last one says done.
    assert [e.operation.state for e in events].count(OperationState.DONE) == 1
    completed = [e.operation.progress.completed for e in events[1:] if e.operation.progress]
    assert completed == sorted(completed)
    assert all(e.operation is not op for e in events)
