"""Snapshots of the Monitor screen and of the gauge strip (on the Backends screen), at 100x30 and
80x24, fed the recorded samples of tests/fixtures/monitor_samples.json (an 8-core box with one GPU
and a model loaded by Ollama), with every backend down so nothing else varies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REACHABLE
from tests.waiting import until, workers_done
from tui.app import make_app
from tui.config import Config
from tui.monitor import Monitor, load_samples

SIZES = [(100, 30), (80, 24)]


def monitor_app(start_screen: str):  # type: ignore[no-untyped-def]
    # Port 1 is never served here: "connection refused" is deterministic; no ONNX models.
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    samples = load_samples(FIXTURES / "monitor_samples.json")
    # Preloaded: the history is full and every later tick repeats the last sample.
    return make_app(cfg, start_screen=start_screen, monitor=Monitor.replay(samples, preload=True))


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.controller.refresh_all()
    await until(pilot, lambda: app.last_sample is not None)
    assert app.last_sample is not None
    await app.controller.refresh_loaded_models()
    await workers_done(app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_monitor_screen(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(monitor_app("monitor"), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_gauge_strip_on_backends_screen(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(monitor_app("backends"), terminal_size=size, run_before=settle)
