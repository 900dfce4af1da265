"""Pilot tests of the gauge strip and the Monitor screen, fed recorded samples (tests/fixtures)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.conftest import FIXTURES, REACHABLE, REPO, TINY_ONNX
from tests.ollama_replay import Faults, start_replay_server
from tests.waiting import until as run_until
from tests.waiting import workers_done
from tui.app import SlmdeckApp, make_app
from tui.backends.base import ChatMessage, ChatOptions
from tui.config import Config
from tui.monitor import Monitor, load_samples
from tui.screens.monitor import MonitorScreen, until
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.gauges import CoreBars, GaugePanel, bar, trend

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")
LAST = SAMPLES[-1]


def cfg(model_dir: Path | None = None, interval: float = 0.05) -> Config:
    return Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[model_dir or Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
        monitor_interval=interval,
    )


async def wait_for(pilot, condition) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until ``condition()`` holds."""
    await run_until(pilot, condition)


def strip_text(app: SlmdeckApp) -> str:
    return app.screen.query_one(GaugeStrip).render().plain


def gauges_text(app: SlmdeckApp) -> str:
    return app.screen.query_one(GaugePanel).render().plain


# ------------------------------------------------------------------------------------ pure parts


def test_bar_fills_in_eighths() -> None:
    assert bar(0.0, 4) == ("", "░░░░")
    assert bar(1.0, 4) == ("████", "")
    assert bar(0.5, 3) == ("█▌", "░")
    assert bar(2.0, 2) == ("██", "")  # clamped
    assert bar(float("nan"), 2) == ("", "░░")


def test_trend_is_right_aligned_on_a_fixed_scale() -> None:
    assert trend([0.0, 50.0, 100.0], 5) == "  ▁▅█"
    assert trend([10.0, 10.0], 3, scale=None) == " ██"  # auto scale: the peak is full
    assert trend([None, 100.0], 2) == " █"  # N/A is a gap
    # Peaks of 2 values per cell; the newest cell holds 1 value (phase 1).
    assert trend([0.0, 100.0, 0.0, 0.0, 50.0], 3, per=2, phase=1) == "█▁▅"


def test_until_counts_from_the_sample_time() -> None:
    model = LAST.loaded_models[0]
    assert model.expires_at is not None
    assert until(model, model.expires_at.timestamp() - 240) == "4 min"
    assert until(model, model.expires_at.timestamp() + 1) == "now"
    assert until(replace(model, expires_at=None), 0) == "–"


# ------------------------------------------------------------------------------------ the strip


async def test_strip_follows_the_samples_on_every_screen() -> None:
    # Three distinct samples played at 0.05 s: the strip ends on the last one's figures.
    monitor = Monitor.replay(SAMPLES[-3:])
    app = make_app(cfg(), monitor=monitor)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: monitor.ticks > 3)
        await pilot.pause()
        text = strip_text(app)
        assert text.startswith("CPU ")
        assert " 18% 5.7/31.1G" in text  # RAM: 31.1 GiB total, 5.7 GiB not available
        assert " 45% 5.4/12.0G" in text  # VRAM of the RTX A2000
        assert "– tok/s" in text
        await pilot.press("5")  # the Monitor screen has the strip too
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen)
        assert " 45% 5.4/12.0G" in strip_text(app)


async def test_strip_shows_the_running_generation_rate() -> None:
    app = make_app(cfg(), monitor=Monitor.replay(SAMPLES, preload=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.last_sample is not None)
        app.controller.live_tokens_per_second = 23.46
        await wait_for(pilot, lambda: "23.5 tok/s" in strip_text(app))
        app.controller.live_tokens_per_second = None
        await wait_for(pilot, lambda: "– tok/s" in strip_text(app))


async def test_strip_repaints_only_when_its_text_changes() -> None:
    app = make_app(cfg(interval=60), monitor=Monitor.replay(SAMPLES, preload=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        strip = app.screen.query_one(GaugeStrip)
        # The app's first tick shows the latest sample (a preloaded replay keeps returning it),
        # so showing it again changes nothing.
        await wait_for(pilot, lambda: strip.figures is not None)
        assert strip.show(LAST) is False
        # A change below what the strip shows (0.04 % of CPU) is no change either.
        assert strip.show(replace(LAST, cpu_percent=LAST.cpu_percent + 0.04)) is False
        assert strip.show(replace(LAST, cpu_percent=93.0)) is True
        assert strip.render().plain.startswith("CPU ")
        assert " 93%" in strip.render().plain
        assert strip.show(LAST) is True
        assert strip.show(LAST) is False


async def test_strip_fits_80_columns() -> None:
    app = make_app(cfg(), monitor=Monitor.replay(SAMPLES, preload=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.last_sample is not None)
        app.controller.live_tokens_per_second = 123.4
        await wait_for(pilot, lambda: "123.4 tok/s" in strip_text(app))
        strip = app.screen.query_one(GaugeStrip)
        assert strip.render().cell_len <= strip.content_region.width


# ------------------------------------------------------------------------------------ the screen


async def test_monitor_screen_shows_gauges_cores_and_processes() -> None:
    app = make_app(cfg(), start_screen="monitor", monitor=Monitor.replay(SAMPLES, preload=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.last_sample is not None)
        await pilot.pause()
        text = gauges_text(app)
        for label in ("CPU", "RAM", "Swap", "GPU", "VRAM", "Power", "Net", "Disk"):
            assert f"\n{label} " in f"\n{text}", label
        assert "RTX A2000 12GB" in text
        assert "5.4 of 12.0 GiB" in text
        assert "269.4 GiB free" in text
        # The trends cover 120 recorded samples: not blank, on the right.
        cpu_line = text.splitlines()[0]
        assert cpu_line.rstrip()[-1] in "▁▂▃▄▅▆▇█"
        cores = app.screen.query_one(CoreBars).render().plain
        assert cores.count("%") == len(LAST.cpu_per_core) == 8
        procs = app.screen.query_one("#processes", DataTable)
        assert procs.row_count == 3
        assert [str(procs.get_cell("5310", c)) for c in ("label", "rss")] == [
            "ollama runner",
            "1.1 GiB",
        ]


async def test_no_gpu_is_a_quiet_line() -> None:
    quiet = replace(LAST, gpus=(), gpu_status="no GPU: the NVIDIA driver is not loaded")
    app = make_app(cfg(), start_screen="monitor", monitor=Monitor.replay([quiet], preload=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.last_sample is not None)
        await pilot.pause()
        lines = gauges_text(app).splitlines()
        assert "GPU   no GPU: the NVIDIA driver is not loaded" in lines
        assert not any(line.startswith(("VRAM", "Power")) for line in lines)
        assert "VRAM no GPU" in strip_text(app)
        assert not [n for n in app._notifications if n.severity != "information"]


async def test_hidden_monitor_screen_gets_no_samples() -> None:
    monitor = Monitor.replay(SAMPLES)  # 120 distinct samples, one per 0.05 s
    app = make_app(cfg(), start_screen="monitor", monitor=monitor)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: monitor.ticks > 2)
        monitor_screen = app.screen
        gauges = monitor_screen.query_one(GaugePanel)
        await pilot.press("1")
        await pilot.pause()
        hidden_at = gauges._tick
        ticks = monitor.ticks
        await wait_for(pilot, lambda: monitor.ticks >= ticks + 5)
        await pilot.pause()
        # Sampling went on (the Backends strip shows it), the hidden Monitor drew nothing.
        assert gauges._tick == hidden_at
        assert monitor_screen._poll is not None and not monitor_screen._poll._active.is_set()
        await pilot.press("5")
        await wait_for(pilot, lambda: gauges._tick > hidden_at)  # back: caught up at once


def test_no_psutil_before_first_paint() -> None:
    """Importing the app and these screens and widgets loads neither psutil nor NVML."""
    code = (
        "import sys, tui.app, tui.screens.monitor, tui.widgets.gauge_strip; "
        "print(sorted(m for m in ('psutil', 'pynvml') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------ unload


async def _load_tiny_model(app: SlmdeckApp) -> str:
    await app.controller.refresh_all()
    name = app.controller.models["onnx"][0].name
    stream = app.controller.chat(
        "onnx", name, [ChatMessage("user", "Hello")], ChatOptions(max_tokens=2, seed=0)
    )
    async for _ in stream:
        pass
    return name


@pytest.fixture
def onnx_models() -> Path:
    if not (TINY_ONNX / "genai_config.json").is_file():
        pytest.fail(f"{TINY_ONNX} is missing: it is committed, restore it")
    return TINY_ONNX.parent


async def test_unload_the_highlighted_model_by_key(onnx_models: Path) -> None:
    app = make_app(cfg(onnx_models), monitor=Monitor.replay(SAMPLES, preload=True))
    async with app.run_test(size=(80, 24)) as pilot:
        name = await _load_tiny_model(app)
        await pilot.press("5")
        table = app.screen.query_one("#loaded", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert str(table.get_cell(f"onnx\x00{name}", "name")) == name
        assert str(table.get_cell(f"onnx\x00{name}", "size")).endswith("KiB")
        await pilot.press("u")
        await workers_done(app)
        await pilot.pause()
        assert await app.controller.backends["onnx"].ps() == []
        assert table.row_count == 0
        messages = [n.message for n in app._notifications]
        assert f"Unloaded {name} from onnx." in messages
        note = str(app.screen.query_one("#loaded-note", Static).render())
        assert "No model is loaded" in note


async def test_unload_through_ollama_and_its_refusal(free_port: int) -> None:
    with start_replay_server() as server:
        config = cfg()
        config.ollama_host = server.host_port
        app = make_app(config, monitor=Monitor.replay(SAMPLES, preload=True))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("5")
            await pilot.pause()
            # Nothing loaded yet: u is not offered (not in the footer), and pressing it does
            # nothing.
            from tui.widgets.key_bar import KeyBar

            bar = app.screen.query_one(KeyBar)
            await wait_for(pilot, lambda: "Loaded models" in str(bar.render()))
            assert "Unload" not in str(bar.render())
            await pilot.press("u")
            await pilot.pause()
            assert not app._notifications
            await app.controller.refresh_all()
            async for _ in app.controller.chat(
                "ollama", "llama3.2:latest", [ChatMessage("user", "Hi")], ChatOptions(max_tokens=2)
            ):
                pass
            table = app.screen.query_one("#loaded", DataTable)
            await pilot.press("l")  # ask the backends again now
            await wait_for(pilot, lambda: table.row_count == 1)
            await wait_for(pilot, lambda: "Unload model" in str(bar.render()))
            key = "ollama\x00llama3.2:latest"
            assert str(table.get_cell(key, "until")) in ("5 min", "4 min", "forever", "now")
            # The server refuses once: the screen says so in a sentence and keeps the model.
            server.state.faults = Faults(
                error_status=500,
                error_message="model is busy",
                paths=frozenset({"/api/chat"}),
                times=1,
            )
            await pilot.press("u")
            await workers_done(app)
            await pilot.pause()
            errors = [n.message for n in app._notifications if n.severity == "error"]
            assert len(errors) == 1 and errors[0].startswith("Could not unload llama3.2:latest: ")
            assert "model is busy" in errors[0]
            assert table.row_count == 1
            # The second try goes through.
            await pilot.press("u")
            await workers_done(app)
            await pilot.pause()
            assert table.row_count == 0
            assert not server.state.loaded
            assert "Unloaded llama3.2:latest from ollama." in [
                n.message for n in app._notifications
            ]
