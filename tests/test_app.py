"""Pilot tests of the app shell: start with nothing reachable, show why, never hang, quit cleanly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.conftest import FIXTURES, closed_port
from tests.waiting import workers_done
from tui.app import make_app
from tui.config import Config
from tui.controller import BackendStatus


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung backend)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    srv.close()


def down_config(ollama_port: int | None = None, model_dir: Path | None = None) -> Config:
    return Config(
        ollama_host=f"127.0.0.1:{ollama_port or closed_port()}",
        model_dirs=[model_dir or Path("/nonexistent/slmdeck-models")],
        probe_timeout=0.5,
        retry_interval=0,
    )


def cell(table: DataTable[object], row: str, column: str) -> str:
    return str(table.get_cell(row, column))


async def wait_until(pilot, predicate: Callable[[], object]) -> None:  # type: ignore[no-untyped-def]
    """Process the app's messages until ``predicate()`` holds (the deadline only stops a broken
    test from hanging the suite; no machine is that slow)."""
    deadline = time.monotonic() + 120
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


async def test_starts_with_nothing_reachable_and_says_why() -> None:
    app = make_app(down_config())
    async with app.run_test(size=(100, 30)) as pilot:
        await app.controller.refresh_all()
        await pilot.pause()
        table = app.screen.query_one("#backends-table", DataTable)
        assert table.row_count == 2
        assert "down" in cell(table, "ollama", "status")
        detail = cell(table, "ollama", "detail")
        assert "is not running" in detail and "connection refused" in detail
        assert "down" in cell(table, "onnx", "status")
        assert cell(table, "onnx", "detail")  # a reason, whatever it is, is shown
        await pilot.press("q")
    assert app.return_code == 0


async def test_hung_backend_does_not_delay_first_paint(silent_server: int) -> None:
    cfg = down_config(ollama_port=silent_server)
    cfg.probe_timeout = 3.0
    app = make_app(cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        # The screen is up and usable while the probe is still waiting on the silent server.
        table = app.screen.query_one("#backends-table", DataTable)
        assert app.controller.states["ollama"].status is BackendStatus.PROBING
        assert "probing" in cell(table, "ollama", "status")
        await pilot.press("down")  # the UI answers keys meanwhile
        await wait_until(
            pilot, lambda: app.controller.states["ollama"].status is not BackendStatus.PROBING
        )
        await pilot.pause()
        assert "did not answer within 3 s" in cell(table, "ollama", "detail")


async def test_onnx_models_counted(tmp_path: Path) -> None:
    app = make_app(down_config(model_dir=FIXTURES))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.controller.refresh_all()
        await pilot.pause()
        table = app.screen.query_one("#backends-table", DataTable)
        assert "up" in cell(table, "onnx", "status")
        assert int(cell(table, "onnx", "models")) >= 1
        assert any(m.backend == "onnx" for m in app.controller.all_models())


async def test_detail_follows_cursor_and_reprobe_key() -> None:
    app = make_app(down_config())
    async with app.run_test(size=(100, 30)) as pilot:
        await app.controller.refresh_all()
        await pilot.pause()
        detail = app.screen.query_one("#backend-detail", Static)
        assert "ollama" in str(detail.render())
        await pilot.press("down")
        await pilot.pause()
        assert "onnx" in str(detail.render())
        before = app.controller.states["ollama"].checked_at
        await pilot.press("r")
        await workers_done(app)
        assert app.controller.states["ollama"].checked_at > before


async def test_ctrl_c_quits() -> None:
    app = make_app(down_config())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+c")
    assert app.return_code == 0


async def test_config_problems_are_shown(tmp_path: Path) -> None:
    cfg = down_config()
    cfg.problems.append("config.toml is not valid TOML (x); using defaults")
    app = make_app(cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("not valid TOML" in m for m in messages)


async def test_themes_registered_and_switchable() -> None:
    cfg = down_config()
    cfg.theme = "slmdeck-light"
    app = make_app(cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "slmdeck-light"
        assert {"slmdeck-dark", "slmdeck-mono"} <= set(app.available_themes)


async def test_command_palette_lists_screens() -> None:
    app = make_app(down_config())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"backends")
        from textual.command import CommandList

        options = app.screen.query_one(CommandList)

        def prompts() -> list[str]:
            return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

        # The palette searches in a worker: wait for its answer, not for a while.
        await wait_until(pilot, lambda: any("Go to Backends" in p for p in prompts()))


def test_unknown_screen_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown screen 'nope'; choose one of: backends"):
        make_app(down_config(), start_screen="nope")


async def test_f1_toggles_the_keys_panel() -> None:
    from tui.widgets.keys_panel import KeysPanel

    app = make_app(Config(ollama_host="127.0.0.1:1", probe_timeout=0.5, retry_interval=0))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysPanel))
        await pilot.press("f1")
        await wait_until(pilot, lambda: not isinstance(app.screen, KeysPanel))


async def test_palette_lists_screens_in_key_order_then_this_screens_actions() -> None:
    from textual.command import CommandList

    app = make_app(down_config())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        options = app.screen.query_one(CommandList)

        def prompts() -> list[str]:
            return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

        # With nothing typed the palette lists everything it has (found in a worker: wait).
        await wait_until(pilot, lambda: any("Re-probe backends" in p for p in prompts()))
        shown = [p.splitlines()[0] for p in prompts()]
        go_to = [p for p in shown if p.startswith("Go to ")]
        assert go_to == [
            f"Go to {t}"
            for t in (
                "Backends",
                "Models",
                "Variants",
                "Editor",
                "Monitor",
                "Chat",
                "Bench",
                "Fleet",
            )
        ]
        # The Backends screen's own action (key r) is there, by name, after the screens.
        assert "Backends: Re-probe" in shown
        assert shown.index("Backends: Re-probe") > shown.index("Go to Bench")
        # Textual's own commands stay.
        assert any(p.startswith("Theme") or "theme" in p.lower() for p in shown)


async def test_a_theme_picked_in_the_palette_is_kept_for_the_next_start() -> None:
    from tui.config import config_path, load_config

    app = make_app(down_config())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.theme = "slmdeck-light"  # what the palette's theme picker does
        await wait_until(pilot, lambda: config_path().exists())
        await wait_until(pilot, lambda: load_config().theme == "slmdeck-light")
