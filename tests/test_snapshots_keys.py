"""Every screen's keys at 100x30 and 80x24: the footer bar and the keys panel (F1), as snapshots,
and a check that every action a screen offers now is in its footer or in its panel (one key away).

Against the Ollama replay server with a recorded monitor and UTC dates, so the pictures are stable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.binding import Binding

from tests.conftest import FIXTURES, REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until, workers_done
from tui.app import SCREEN_KEYS, SlmdeckApp, make_app
from tui.config import Config, data_dir
from tui.monitor import Monitor, load_samples
from tui.widgets.key_bar import KeyBar
from tui.widgets.keys_panel import KeysPanel

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")
SCREENS = sorted(SCREEN_KEYS, key=SCREEN_KEYS.__getitem__)
SIZES = [(100, 30), (80, 24)]


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


def app_for(server: ReplayServer, screen: str) -> SlmdeckApp:
    # The Backends screen shows the URL: its random port must not reach the picture, so it gets
    # port 1 (never served: "connection refused" every time), as in test_snapshots_shell.
    cfg = Config(
        ollama_host="127.0.0.1:1" if screen == "backends" else server.host_port,
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    options = {"model": "qwen2.5:0.5b", "backend": "ollama"} if screen == "variants" else None
    return make_app(
        cfg,
        start_screen=screen,
        screen_options=options,
        monitor=Monitor.replay(SAMPLES[-1:], preload=True),
    )


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.controller.refresh_all()
    await until(pilot, lambda: app.last_sample is not None, "the first sample")
    await workers_done(app)
    await pilot.pause()


async def with_keys_panel(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("f1")
    await until(pilot, lambda: isinstance(pilot.app.screen, KeysPanel), "the keys panel")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_footer(snap_compare, replay, screen, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_for(replay, screen), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_keys_panel(snap_compare, replay, screen, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_for(replay, screen), terminal_size=size, run_before=with_keys_panel)


@pytest.mark.parametrize("screen", SCREENS)
async def test_every_action_is_in_the_footer_or_one_key_away(
    replay: ReplayServer, screen: str
) -> None:
    app = app_for(replay, screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        shown = app.screen
        offered = [
            binding
            for binding in type(shown).BINDINGS
            if isinstance(binding, Binding)
            and app._check_action_state(binding.action, shown) is not False
        ]
        assert offered, f"{screen} offers no action"
        bar = shown.query_one(KeyBar)
        in_bar = {hint.description for hint in bar.hints()}
        assert len(str(bar.render())) <= 80
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, KeysPanel), "the keys panel")
        panel = app.screen
        assert isinstance(panel, KeysPanel)
        in_panel = {row.description for row in panel.rows}
        for binding in offered:
            assert binding.description in in_bar | in_panel, (screen, binding.key)
        # The footer always says how to get there.
        assert {"Keys", "More"} & in_bar
