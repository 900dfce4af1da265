"""Screens and commands on a remote host: Backends lists that host's backends only, Monitor and the
gauge strip show its exporters' figures (or say it has none, never this machine's), and
``fit --host`` / ``top --host`` read that host."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import closed_port
from tests.ollama_replay import start_replay_server
from tests.test_fleet_screen import GIB, Clock, fleet_app, load, site
from tests.waiting import until
from tui import cli
from tui.fleet.hosts import Host
from tui.screens.backends import BackendsScreen
from tui.screens.monitor import MonitorScreen
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.gauges import GaugePanel


def _table_rows(app: object) -> list[str]:
    from textual.widgets import DataTable

    table = app.screen.query_one("#backends-table", DataTable)  # type: ignore[attr-defined]
    return [str(k.value) for k in table.rows]


async def test_backends_screen_shows_the_new_hosts_backends_only() -> None:
    clock = Clock()
    with site(1) as fleet:
        app, _ = fleet_app(fleet.hosts(), clock, start_screen="backends")
        async with app.run_test(size=(100, 30)) as pilot:
            assert isinstance(app.screen, BackendsScreen)
            await until(pilot, lambda: "onnx" in _table_rows(app), "local's rows")
            await app.controller.use_host("edge-0")
            await until(pilot, lambda: "onnx" not in _table_rows(app), "local's rows gone")
            assert _table_rows(app) == ["ollama"]
            title = str(app.screen.query_one("#backends-title").render())
            assert "edge-0" in title
            state = app.controller.states["ollama"]
            assert fleet.replays[0].url in state.location
            await app.controller.use_host("local")
            await until(pilot, lambda: "onnx" in _table_rows(app), "back to local")


def _gauge_labels(app: object) -> list[str]:
    panel = app.screen.query_one("#gauges", GaugePanel)  # type: ignore[attr-defined]
    return [r.label for r in panel._rows]


async def test_monitor_and_strip_show_the_remote_hosts_exporter_figures() -> None:
    clock = Clock()
    with site(1) as fleet:
        load(fleet.replays[0], "qwen3:0.6b")
        e = fleet.exporters[0]
        e.gpu, e.vram_used = 60.0, 4 * GIB
        app, collector = fleet_app(fleet.hosts(), clock, start_screen="monitor")
        async with app.run_test(size=(100, 30)) as pilot:
            assert isinstance(app.screen, MonitorScreen)
            await collector.poll_once()
            e.step(30.0)
            clock.advance()
            await collector.poll_once()
            view = collector.view("edge-0")
            assert view is not None and view.cpu_percent.now == pytest.approx(30.0)
            local_strip = app.screen.query_one(GaugeStrip).figures
            await app.controller.use_host("edge-0")

            def title() -> str:
                return str(app.screen.query_one("#resources-title").render())

            await until(pilot, lambda: "host edge-0" in title(), "the host's title")
            assert "(node_exporter, GPU exporter)" in title()
            assert _gauge_labels(app) == ["CPU", "RAM", "GPU", "VRAM", "Disk"]
            text = app.screen.query_one("#gauges", GaugePanel).build(96).plain
            assert "30.0 %" in text and "4.0 of 16.0 GiB" in text and "4.0 of 8.0 GiB" in text
            assert not app.screen.query_one("#cores").display
            assert not app.screen.query_one("#processes").display

            def strip_cpu() -> int | None:
                figures = app.screen.query_one(GaugeStrip).figures
                return figures.cpu if figures else None

            await until(pilot, lambda: strip_cpu() == 30, "the strip's host figures")
            figures = app.screen.query_one(GaugeStrip).figures
            assert figures is not None and figures.ram == 25 and figures.vram == 50
            assert figures != local_strip

            # Back home: this machine's figures again, cores and processes shown.
            await app.controller.use_host("local")
            await until(pilot, lambda: "host" not in title(), "local title")
            assert app.screen.query_one("#cores").display
            assert "Swap" in _gauge_labels(app)


async def test_a_host_without_exporters_says_so_instead_of_local_figures() -> None:
    clock = Clock()
    with start_replay_server() as replay:
        hosts = [Host("bare", ollama=replay.url)]
        app, collector = fleet_app(hosts, clock, start_screen="monitor")
        async with app.run_test(size=(80, 24)) as pilot:
            await collector.poll_once()
            await app.controller.use_host("bare")
            note = "no host figures for bare (no node_exporter configured)"

            def shown() -> str:
                return str(app.screen.query_one("#host-note").render())

            await until(pilot, lambda: "No host figures for bare" in shown(), "the note")
            assert "no node_exporter configured" in shown()
            assert _gauge_labels(app) == []
            strip = app.screen.query_one(GaugeStrip)
            await until(pilot, lambda: strip.note == note, "the strip's note")
            assert strip.figures is None
            assert note in strip.line(200).plain


def _write_config(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_top_host_prints_that_hosts_figures(capsys: pytest.CaptureFixture[str]) -> None:
    with site(1) as fleet:
        load(fleet.replays[0], "qwen3:0.6b")
        e = fleet.exporters[0]
        _write_config(
            Path(os.environ["SLMDECK_CONFIG"]),
            f'[[hosts]]\nname = "edge"\nollama = "{fleet.replays[0].url}"\n'
            f'node_exporter = "{e.url}"\n',
        )
        assert cli.main(["top", "--host", "edge", "--once", "--json"]) == 0
    (host,) = json.loads(capsys.readouterr().out)["hosts"]
    assert host["name"] == "edge" and host["reachable"] is True
    assert host["ram_percent"]["now"] == pytest.approx(25.0)
    assert [m["name"] for m in host["loaded"]] == ["qwen3:0.6b"]
    assert cli.main(["top", "--host", "nope", "--once"]) == 2
    assert "no host named nope" in capsys.readouterr().err


def test_fit_host_resolves_on_that_hosts_ollama(capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"127.0.0.1:{closed_port()}"
    with start_replay_server() as replay:
        _write_config(
            Path(os.environ["SLMDECK_CONFIG"]),
            f'ollama_host = "{dead}"\n[[hosts]]\nname = "edge"\nollama = "{replay.url}"\n',
        )
        argv = ["fit", "llama3.2", "--host", "edge", "--json", "--bandwidth", "50"]
        assert cli.main(argv) == 0
        captured = capsys.readouterr()
        assert [r.path for r in replay.requests if r.path == "/api/show"] == ["/api/show"]
    report = json.loads(captured.out)
    assert report["kind"] == "ollama" and report["dims"]["source"] == "ollama"
    assert captured.err == (
        "note: host edge's free memory is not known (no node_exporter configured for it); free "
        "memory and bandwidth are this machine's (--memory-gib and --vram-gib give that host's)\n"
    )
    assert cli.main(["fit", "llama3.2", "--host", "nope"]) == 2
    assert "no host named nope" in capsys.readouterr().err
