"""Snapshots of the Fleet screen at 100x30 and 80x24: three Ollama replay hosts with exporters
answering fixed figures, one host down, polled on a fixed clock with a fixed wall clock.

The hosts have fixed names in their URLs (``http://edge-0.lan:11434``); a transport sends each to
its loopback server, so the random ports never show.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.conftest import closed_port
from tests.metrics_server import metrics_server
from tests.ollama_replay import start_replay_server
from tests.test_fleet_screen import Clock, Exporter, fixed_wall_clock, load
from tests.waiting import until, workers_done
from tui.app import SlmdeckApp
from tui.config import Config
from tui.fleet.collector import FleetCollector
from tui.fleet.hosts import Host
from tui.screens.fleet import FleetTable

__all__ = ["fixed_wall_clock"]  # the autouse fixture, used here too

SIZES = [(100, 30), (80, 24)]
GIB = 1024**3


class Routes(httpx.AsyncBaseTransport):
    """Sends ``http://NAME:PORT/...`` to the loopback ``host:port`` given for NAME (other
    addresses as they are)."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = routes
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.routes.get(request.url.host)
        if target is not None:
            host, _, port = target.partition(":")
            request.url = request.url.copy_with(host=host, port=int(port))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def fleet() -> Iterator[tuple[SlmdeckApp, FleetCollector, list[Exporter], Clock]]:
    from tests.test_fleet_screen import fleet_app

    with ExitStack() as stack:
        replays = [stack.enter_context(start_replay_server()) for _ in range(2)]
        exporters = [Exporter(stack.enter_context(metrics_server("vllm"))) for _ in range(2)]
        load(replays[0], "qwen3:0.6b", 4096)
        load(replays[1], "llama3.2", 8192)
        load(replays[1], "qwen2.5:0.5b", 2048)
        exporters[0].ram_used = 5 * GIB
        exporters[1].gpu = 63.0
        exporters[1].vram_used = 6 * GIB
        routes = {
            "edge-0.lan": replays[0].host_port,
            "edge-1.lan": replays[1].host_port,
            "node-0.lan": exporters[0].server.host_port,
            "node-1.lan": exporters[1].server.host_port,
            "edge-9.lan": f"127.0.0.1:{closed_port()}",
        }
        hosts = [
            Host(
                "edge-0",
                ollama="http://edge-0.lan:11434",
                node_exporter="http://node-0.lan:9100",
            ),
            Host(
                "edge-1",
                ollama="http://edge-1.lan:11434",
                node_exporter="http://node-1.lan:9100",
                gpu_exporter="http://node-1.lan:9400",
            ),
            Host("edge-9", ollama="http://edge-9.lan:11434"),
        ]
        clock = Clock()
        # Port 1 is never served: the local host's "connection refused" is deterministic.
        cfg = Config(ollama_host="127.0.0.1:1", model_dirs=[])
        client = httpx.AsyncClient(transport=Routes(routes), trust_env=False)
        app, collector = fleet_app(hosts, clock, config=cfg, http=client)
        yield app, collector, exporters, clock


def poller(collector: FleetCollector, exporters: list[Exporter], clock: Clock):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        busy = [(12.0, 55.0), (18.0, 70.0), (25.0, 85.0), (20.0, 90.0), (35.0, 75.0)]
        for step in [(0.0, 0.0), *busy]:
            for e, cpu in zip(exporters, step, strict=True):
                e.step(cpu)
            clock.advance()
            await collector.poll_once()
        await until(
            pilot,
            lambda: (
                len(pilot.app.screen.query_one(FleetTable).shown) == 4
                and all(
                    r.view.reachable is not None for r in app.screen.query_one(FleetTable).shown
                )
            ),
            "every host polled",
        )
        await until(pilot, lambda: app.last_sample is not None, "a sample")
        await workers_done(app)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_fleet_screen(snap_compare, fleet, size) -> None:  # type: ignore[no-untyped-def]
    app, collector, exporters, clock = fleet
    assert snap_compare(app, terminal_size=size, run_before=poller(collector, exporters, clock))
