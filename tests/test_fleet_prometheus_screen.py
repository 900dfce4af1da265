"""The Fleet screen with ``[fleet] prometheus`` in the config: a real Prometheus scraping a real
node_exporter, a dcgm-exporter-shaped GPU exporter and vLLM/llama.cpp-shaped servers on loopback,
beside Ollama replay hosts. Its rows show the same figures as the Fleet screen of the same fleet
scraped directly: the same models loaded (name, size, VRAM share, context, expiry), the same
requests running/waiting, GPU and VRAM, RAM and CPU within what a few seconds of a shared machine
move, tok/s within a tolerance (both are rates of the same counter over a few seconds).

Polls are the screen's own key (``r``); the test waits for the screen to show the collector's
snapshot, and for Prometheus to have scraped (its own ``timestamp()``), never for time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.conftest import REACHABLE, closed_port
from tests.metrics_server import MetricsServer, metrics_server
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.prometheus_server import (
    NODE_EXPORTER,
    PROMETHEUS,
    Process,
    have,
    missing_reason,
    node_exporter,
    prometheus,
    wait_for_samples,
)
from tests.test_fleet_screen import GIB, NOW, SAMPLES, load, row_text, rows
from tests.waiting import until, workers_done
from tui.app import SlmdeckApp, make_app
from tui.config import load_config
from tui.controller import Controller, backends_for_host, build_backends
from tui.fleet.collector import FleetCollector
from tui.fleet.model import HostView
from tui.monitor import Monitor
from tui.screens import fleet as fleet_screen
from tui.screens.fleet import FleetScreen, FleetTable, cells, details, state_of

pytestmark = pytest.mark.skipif(
    not (have(PROMETHEUS) and have(NODE_EXPORTER)), reason=missing_reason(PROMETHEUS, NODE_EXPORTER)
)

WINDOW_S = 5
"""rate() range of the Prometheus side: five of this Prometheus' 1 s scrapes."""
MIB = 1024 * 1024

# dcgm-exporter's names and units (MiB), two GPUs: utilisation 30 and 50 %, 8 of 16 GiB used,
# 7 GiB free, 1 GiB reserved by the driver (counted in the total, not free).
DCGM = "".join(
    f"# HELP {name} {doc}\n# TYPE {name} gauge\n"
    + "".join(
        f'{name}{{gpu="{gpu}",UUID="GPU-{gpu}",device="nvidia{gpu}",modelName="NVIDIA L4",'
        f'Hostname="edge-0"}} {value}\n'
        for gpu, value in enumerate(values)
    )
    for name, doc, values in (
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", (30, 50)),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", (6144, 2048)),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", (1536, 5632)),
        ("DCGM_FI_DEV_FB_RESERVED", "Framebuffer memory reserved (in MiB).", (512, 512)),
    )
).encode()


@dataclass
class Site:
    replays: list[ReplayServer]
    node: Process
    gpu: MetricsServer
    vllm: MetricsServer
    lcpp: MetricsServer
    dead: str
    prom: Process

    def config(self, *, through_prometheus: bool) -> str:
        """The config file: four hosts, and ``[fleet] prometheus`` when asked for."""
        fleet = ["[fleet]", "interval = 2.0", f"timeout = {REACHABLE}"]
        if through_prometheus:
            fleet += [f'prometheus = "{self.prom.url}"', f'prometheus_window = "{WINDOW_S}s"']
        r = self.replays
        hosts = [
            f'[[hosts]]\nname = "edge-0"\nollama = "{r[0].url}"\n'
            f'node_exporter = "{self.node.url}"\ngpu_exporter = "{self.gpu.url}"',
            f'[[hosts]]\nname = "edge-1"\nollama = "{r[1].url}"\n'
            f'openai = [{{ name = "vllm", url = "{self.vllm.api_url}" }}]',
            f'[[hosts]]\nname = "edge-2"\nollama = "{r[2].url}"\n'
            f'openai = [{{ name = "lcpp", url = "{self.lcpp.api_url}" }}]',
            f'[[hosts]]\nname = "edge-3"\nnode_exporter = "http://{self.dead}"',
        ]
        return "\n".join(fleet) + "\n\n" + "\n\n".join(hosts) + "\n"


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Site]:
    with ExitStack() as stack:
        replays = [stack.enter_context(start_replay_server()) for _ in range(3)]
        load(replays[0], "qwen3:0.6b", 4096)
        load(replays[1], "llama3.2", 8192)
        node = stack.enter_context(node_exporter(tmp_path / "node"))
        gpu = stack.enter_context(metrics_server("vllm"))
        with gpu.state.lock:
            gpu.state.raw = DCGM
        vllm = stack.enter_context(
            metrics_server("vllm", running=2, waiting=1, kv_usage=0.25, gen_rate=50.0, n_ctx=8192)
        )
        lcpp = stack.enter_context(
            metrics_server("llamacpp", running=1, waiting=3, gen_rate=20.0, decode_tok_s=20.0)
        )
        dead = f"127.0.0.1:{closed_port()}"
        prom = stack.enter_context(
            prometheus(
                tmp_path / "prom",
                {
                    "node": [node.host_port, dead],
                    "dcgm": [gpu.host_port],
                    "vllm": [vllm.host_port],
                    "llamacpp": [lcpp.host_port],
                },
            )
        )
        # Every live target scraped once, the dead one tried.
        wait_for_samples(prom, "up == 1", 4)
        wait_for_samples(prom, "up == 0", 1)
        yield Site(replays, node, gpu, vllm, lcpp, dead, prom)


@pytest.fixture(autouse=True)
def fixed_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet_screen, "wall_clock", lambda: NOW)


def config_app(text: str) -> tuple[SlmdeckApp, FleetCollector]:
    """The app the config file ``text`` describes, on the Fleet screen; its fleet collector (the
    one the config makes: hosts and ``[fleet]``) polls when the screen's ``r`` is pressed."""
    Path(os.environ["SLMDECK_CONFIG"]).write_text(text, encoding="utf-8")
    cfg = load_config()
    assert cfg.problems == []
    cfg.probe_timeout = REACHABLE
    cfg.retry_interval = 0
    cfg.model_dirs = []
    controller = Controller(
        build_backends(cfg),
        probe_timeout=REACHABLE,
        retry_interval=0,
        monitor=Monitor.replay(SAMPLES, preload=True),
        data_dir=Path(os.environ["SLMDECK_DATA_DIR"]),
        hosts=cfg.hosts,
        fleet_settings=cfg.fleet,
        host_backends=lambda h: backends_for_host(cfg, h),
    )
    collector = FleetCollector(cfg.hosts, cfg.fleet)
    controller.start_fleet(collector, run=False)
    return make_app(cfg, controller=controller, start_screen="fleet"), collector


async def poll(pilot: Pilot[None], app: SlmdeckApp, collector: FleetCollector) -> None:
    """Press ``r`` and wait until the table shows what that poll read."""
    polls = collector.polls
    await pilot.press("r")
    await workers_done(app)
    assert collector.polls == polls + 1

    def shown() -> bool:
        views = rows(app)
        return all(views.get(v.name) is v for v in collector.snapshot())

    await until(pilot, shown, "the poll's rows on the screen")


async def prometheus_scraped_after(prom: Process, when: float) -> None:
    """Until Prometheus has scraped the node_exporter after the wall-clock time ``when``."""
    await asyncio.to_thread(
        wait_for_samples, prom, f'timestamp(up{{job="node"}} == 1) > {when:.3f}', 1
    )


@dataclass
class Screen:
    """What the Fleet screen showed: each host's view, its row's cells and drawn line, and its
    details."""

    views: dict[str, HostView]
    cells: dict[str, dict[str, str]]
    lines: dict[str, str]
    details: dict[str, str]


def capture(app: SlmdeckApp) -> Screen:
    assert isinstance(app.screen, FleetScreen)
    table = app.screen.query_one(FleetTable)
    views = rows(app)
    row_cells = {
        r.key: {k: str(t) for k, t in cells(r, table.current_host, table.spark_width, NOW).items()}
        for r in table.shown
    }
    lines = {name: row_text(app, name) for name in views}
    text = {name: str(details(v, table.current_host, NOW)) for name, v in views.items()}
    return Screen(views, row_cells, lines, text)


def endpoint_line(details_text: str, endpoint: str) -> str:
    """The details pane's line of ``endpoint``."""
    return next(x for x in details_text.splitlines() if x.startswith(f"  {endpoint} "))


async def test_fleet_screen_through_prometheus_shows_the_direct_scrapes_figures(
    fleet: Site,
) -> None:
    # The fleet scraped directly: two polls a rate window apart (CPU and tok/s are rates).
    app, collector = config_app(fleet.config(through_prometheus=False))
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.time()
        await poll(pilot, app, collector)
        await prometheus_scraped_after(fleet.prom, started + WINDOW_S)
        await poll(pilot, app, collector)
        direct = capture(app)
    # The same fleet through Prometheus, its rate() window now full of scrapes; two polls, so
    # that the sparklines hold as many readings as the direct ones.
    app, collector = config_app(fleet.config(through_prometheus=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await poll(pilot, app, collector)
        await poll(pilot, app, collector)
        through = capture(app)
        assert collector.settings.prometheus == fleet.prom.url

    d, p = direct.views, through.views
    assert list(d) == list(p) == ["edge-0", "edge-1", "edge-2", "edge-3", "local"]
    assert all(v.source == "direct" for v in d.values())
    assert all(v.source == "prometheus" for v in p.values())
    for name in d:
        assert state_of(d[name]) == state_of(p[name]), name
        # Models loaded (name, size, VRAM share, context, expiry), backends, requests: same text.
        for column in ("host", "state", "backends", "req"):
            assert direct.cells[name][column] == through.cells[name][column], (name, column)
        if name not in ("edge-3", "local"):
            assert direct.cells[name]["loaded"] == through.cells[name]["loaded"], name
    loaded = direct.cells["edge-0"]["loaded"]
    assert loaded.startswith("qwen3:0.6b ") and loaded.endswith(" 100%GPU 4K 30m"), loaded
    loaded = direct.cells["edge-1"]["loaded"]
    assert loaded.startswith("llama3.2:latest +1 ") and loaded.endswith(" 8K 30m"), loaded
    assert [m.name for m in p["edge-1"].loaded] == ["llama3.2:latest", "tiny-llama"]
    assert [(m.name, m.context_length) for m in p["edge-2"].loaded][-1] == ("tiny-llama", 2048)
    assert d["edge-2"].loaded == p["edge-2"].loaded
    for screen in (direct, through):  # as drawn: llama.cpp's model, its size and context
        assert " tiny-llama 460K 2K " in screen.lines["edge-2"], screen.lines["edge-2"]

    # node_exporter through Prometheus: the same machine a few seconds apart.
    e0d, e0p = d["edge-0"], p["edge-0"]
    assert e0d.ram_total == e0p.ram_total and e0d.ram_total
    assert e0d.ram_percent.now == pytest.approx(e0p.ram_percent.now, abs=5)
    assert e0d.ram_used == pytest.approx(e0p.ram_used, abs=0.05 * e0d.ram_total)
    assert e0d.cpu_percent.now is not None and e0p.cpu_percent.now is not None
    assert e0d.cpu_percent.now == pytest.approx(e0p.cpu_percent.now, abs=25)
    assert e0d.disk_total == pytest.approx(e0p.disk_total, rel=0.001)
    for column in ("cpu", "ram"):
        assert through.cells["edge-0"][column].split()[0].endswith("%"), column
    # The GPU exporter: the same cell, the same VRAM (the reserved GiB in the total, not free).
    assert direct.cells["edge-0"]["gpu"] == through.cells["edge-0"]["gpu"]
    assert through.cells["edge-0"]["gpu"].startswith(" 40% ")
    for v in (e0d, e0p):
        assert (v.vram_total, v.vram_used, v.vram_free) == (16 * GIB, 8 * GIB, 7168 * MIB)
        assert v.vram_percent.now == pytest.approx(50.0)
    vram = "VRAM 50% (8.0 GiB of 16.0 GiB)"
    assert vram in direct.details["edge-0"] and vram in through.details["edge-0"]
    assert "via Prometheus" in through.details["edge-0"]

    # Inference servers: gauges exactly, the rates of the same counter within a tolerance.
    for name, endpoint, rate in (("edge-1", "openai:vllm", 50.0), ("edge-2", "openai:lcpp", 20.0)):
        for v in (d[name], p[name]):
            assert (v.requests_running.now, v.requests_waiting.now) == (
                {"edge-1": (2, 1), "edge-2": (1, 3)}[name]
            )
            assert v.tok_s.now == pytest.approx(rate, rel=0.15), (v.source, name)
        assert float(through.cells[name]["tok_s"]) == pytest.approx(rate, rel=0.15)
        backend_d = next(b for b in d[name].backends if b.id == endpoint)
        backend_p = next(b for b in p[name].backends if b.id == endpoint)
        for field in ("kind", "up", "models", "requests_running", "requests_waiting"):
            assert getattr(backend_d, field) == getattr(backend_p, field), (name, field)
        assert backend_p.tok_s == pytest.approx(rate, rel=0.15)
    assert "(vllm) up" in endpoint_line(through.details["edge-1"], "openai:vllm")
    for text in (direct.details["edge-1"], through.details["edge-1"]):
        assert "1 model · 2 running, 1 waiting · KV 25%" in endpoint_line(text, "openai:vllm")
    for text in (direct.details["edge-2"], through.details["edge-2"]):
        line = endpoint_line(text, "openai:lcpp")
        assert "(llama.cpp) up" in line and "1 running, 3 waiting" in line, line
        assert "decode 20.0 tok/s" in line

    # The dead node_exporter: down in its own row, with the same cause either way.
    assert d["edge-3"].reachable is False and p["edge-3"].reachable is False
    assert direct.cells["edge-3"]["loaded"] == "node_exporter: connection refused"
    assert through.cells["edge-3"]["loaded"] == "node_exporter (Prometheus): connection refused"
    assert p["edge-3"].reason == (
        f"node_exporter http://{fleet.dead}/metrics (Prometheus): connection refused"
    )
    for name in ("edge-0", "edge-1", "edge-2"):
        assert d[name].reason == p[name].reason == "", name
