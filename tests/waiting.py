"""Waiting for an event in tests: the app (or the loop) runs until a condition holds.

The deadline is far beyond any machine's pace (two minutes): it exists only so that a broken test
fails instead of hanging the suite. No test depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

DEADLINE = 120.0


async def until(pilot: Any, predicate: Callable[[], object], what: str = "the condition") -> None:
    """Let the app process its messages until ``predicate()`` holds."""
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def until_loop(predicate: Callable[[], object], what: str = "the condition") -> None:
    """Let the event loop run (no app) until ``predicate()`` holds."""
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def workers_done(app: Any) -> None:
    """Wait until no worker of the app runs. An exclusive worker replaced by a newer one ends
    cancelled (which ``wait_for_complete`` raises): that is not a failure, wait for the rest."""
    from textual.worker import WorkerCancelled

    while True:
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            continue
        return
