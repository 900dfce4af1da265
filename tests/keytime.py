"""How long a key waited because of the app, not because of the machine.

A key's latency by the wall clock is the app's work before the key plus the time the app's threads
stood runnable with no core to run on. The second part is the machine's: on a 2-core machine whose
cores are taken (tests/stress.sh keeps every core busy, CI runs beside other jobs) it grows however
fast the app is, and a 250 ms budget on the wall clock then fails tests that nothing is wrong with.

Linux counts, per thread, the nanoseconds it waited on a run queue (the second field of
``/proc/self/task/<tid>/schedstat``). :class:`AppClock` reads the wall clock and the sum of those
waits over the process' threads; :meth:`AppClock.since` is the wall time since a mark less the
waits in between, capped at the wall time. Time a thread sleeps (a blocking read, a lock, the GIL
held by another thread) is not a wait for a core, so it still counts: a loop blocked on a FIFO is
late however idle the machine. On an idle machine the waits are about 0 and this is the wall clock.

A core the app does get can still run slower than an idle one: a busy sibling hyperthread, or a
virtual CPU shared with other guests, slows every instruction, and no run-queue wait shows it. So
a latency that is not small is also divided by the machine's pace: how much longer a fixed piece
of Python takes this thread's own CPU clock now than it took when this module was imported (at
least 1; measured only then, so an idle machine pays nothing).

Where the counters are not there, the wall time is divided by the run queue per core (the 1-minute
load average over the cores) when that is above 1.

Even app time has noise the app did not make: a virtual machine's stolen time, a garbage
collection pass that happened to fall on the key, another guest's disk flush. Noise only ever adds
to a latency. So a key is judged as ``timeit`` judges code, by the best of :data:`TRIES` presses
(:func:`best`); and a stream of keys by its median and its worst (:func:`judge`). A
fault that blocks the loop fails both: it makes every key pressed while it is active late, the
retries too, and a hang is far past :data:`HANG`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

TASKS = Path("/proc/self/task")


def _waits() -> dict[str, int] | None:
    """Nanoseconds each thread of this process has waited for a core, by thread id; None where
    the kernel does not count them."""
    waits: dict[str, int] = {}
    try:
        tids = os.listdir(TASKS)
    except OSError:
        return None
    for tid in tids:
        try:
            fields = (TASKS / tid / "schedstat").read_text().split()
        except OSError:
            continue  # the thread ended between the listing and the read
        if len(fields) >= 2:
            waits[tid] = int(fields[1])
    return waits or None


@dataclass(frozen=True)
class Mark:
    wall: float
    waits: dict[str, int] | None


class AppClock:
    """Marks and measures app time (see the module docstring). Safe to call from any thread."""

    def mark(self) -> Mark:
        return Mark(time.monotonic(), _waits())

    def since(self, mark: Mark, now: Mark | None = None) -> float:
        """Seconds of app time from ``mark`` to ``now`` (to this moment if None)."""
        now = now or self.mark()
        wall = now.wall - mark.wall
        if mark.waits is None or now.waits is None:
            return wall / _load_per_core()
        # Threads in both readings only: one started or ended in between has no delta to give.
        waited = sum(now.waits[t] - mark.waits[t] for t in now.waits.keys() & mark.waits.keys())
        app = wall - min(wall, waited / 1e9)
        return app / pace() if app > SMALL else app


SMALL = 0.05
"""Seconds below which a latency is not worth measuring the pace for."""


def _work_seconds() -> float:
    """This thread's CPU seconds for a fixed piece of Python (the best of three)."""
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        total = 0
        for i in range(20_000):
            total += i * i
        best = min(best, time.thread_time() - start)
    return best


_IDLE_WORK = _work_seconds()


def pace() -> float:
    """How many times slower this machine runs Python now than at import (at least 1)."""
    return max(1.0, _work_seconds() / _IDLE_WORK) if _IDLE_WORK > 0 else 1.0


def _load_per_core() -> float:
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1.0
    return max(1.0, load / (os.cpu_count() or 1))


CLOCK = AppClock()

BUDGET = 0.25
"""Seconds of app time a key may wait for its handler (issue 15: within 250 ms while a fault is
active)."""
TRIES = 3
"""Presses of one key before it is judged late: the best of them counts."""
HANG = 2.0
"""Seconds of app time no key of a stream may wait: eight budgets, far below any hang."""


def best(tries: list[float], budget: float = BUDGET) -> str | None:
    """None when the best of ``tries`` (one key's presses) is within ``budget``; else why not."""
    if tries and min(tries) < budget:
        return None
    shown = ", ".join(f"{t:.3f} s" for t in tries)
    return f"every press waited at least {budget:.3f} s of app time: {shown}"


async def within_budget(press: Callable[[], Awaitable[float]], what: str) -> None:
    """Press a key until one press is within :data:`BUDGET`, :data:`TRIES` times at most
    (``press`` presses it once and returns its latency); fails naming every try otherwise."""
    tries: list[float] = []
    while len(tries) < TRIES:
        tries.append(await press())
        if tries[-1] < BUDGET:
            return
    raise AssertionError(f"{what}: {best(tries)}")


def judge(latencies: list[float], budget: float = BUDGET) -> str | None:
    """None when a stream of keys answered in time: the typical key (the median) within
    ``budget``, none over :data:`HANG`; else why not. A loop blocked by the work it streams
    makes most keys late, or one very late."""
    if not latencies:
        return "no key was handled"
    ordered = sorted(latencies)
    median = ordered[len(ordered) // 2]
    if median >= budget or ordered[-1] >= HANG:
        late = sum(1 for t in ordered if t >= budget)
        worst = ", ".join(f"{t:.3f} s" for t in ordered[-3:])
        return (
            f"{late} of {len(ordered)} keys over {budget:.3f} s, median {median:.3f} s; "
            f"worst {worst}"
        )
    return None
