"""Snapshots of the Models and Variants screens against the Ollama replay server, with a recorded
monitor (fixed free memory), cached bandwidths and UTC dates, so the pictures are stable. The
replay server's random port is never drawn: these screens name backends by id, not URL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until, workers_done
from tui.app import make_app
from tui.config import Config, data_dir
from tui.monitor import Monitor, load_samples

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bandwidth.json").write_text(json.dumps({"bandwidth_bytes_s": 20e9}))
    (folder / "gpu_bandwidth.json").write_text(json.dumps({"bandwidth_bytes_s": 288e9}))
    with start_replay_server() as server:
        yield server
    monkeypatch.undo()
    time.tzset()


def app_for(server: ReplayServer, screen: str, **options: str):  # type: ignore[no-untyped-def]
    cfg = Config(
        ollama_host=server.host_port,
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    return make_app(
        cfg,
        start_screen=screen,
        screen_options=options or None,
        monitor=Monitor.replay(SAMPLES[-1:], preload=True),
    )


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.controller.refresh_all()
    await pilot.pause()
    load = getattr(app.screen, "_load", None)
    if load is not None:  # the Variants screen: read once more, now every backend has answered
        await load().wait()

    def settled() -> bool:
        screen = app.screen
        rows = getattr(screen, "rows", None)
        body = screen.query("#details-body")
        return bool(rows or (body and "Reading" not in str(body.first().render())))

    await workers_done(app)
    await until(pilot, settled, "the rows or the details read")
    await workers_done(app)
    await pilot.pause()


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_models_screen(snap_compare, replay, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_for(replay, "models"), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_variants_screen(snap_compare, replay, size) -> None:  # type: ignore[no-untyped-def]
    app = app_for(replay, "variants", model="qwen2.5:0.5b", backend="ollama")
    assert snap_compare(app, terminal_size=size, run_before=settle)
