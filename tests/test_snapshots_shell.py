"""Snapshots of the app shell (backends screen) with every backend down, at 100x30 and 80x24.

The gauge strip is fed the recorded samples of tests/fixtures/monitor_samples.json, so the
snapshot does not depend on this machine's load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REACHABLE
from tests.waiting import until
from tui.app import make_app
from tui.config import Config
from tui.monitor import Monitor, load_samples


def shell_app():  # type: ignore[no-untyped-def]
    # Port 1 is never served here: "connection refused" is deterministic.
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    samples = load_samples(FIXTURES / "monitor_samples.json")
    return make_app(cfg, monitor=Monitor.replay(samples, preload=True))


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.controller.refresh_all()
    await until(pilot, lambda: app.last_sample is not None)
    assert app.last_sample is not None
    await pilot.pause()


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_backends_screen_all_down(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(shell_app(), terminal_size=size, run_before=settle)
