"""The fleet read through a real Prometheus scraping a real node_exporter and vLLM/llama.cpp-shaped
servers on loopback: the figures match the direct scrape's.

Needs Debian's ``prometheus`` and ``prometheus-node-exporter`` (``.ci/run`` installs them); the
tests are skipped, which tests/conftest.py turns into a failure, only where a binary is missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import closed_port
from tests.metrics_server import MetricsServer, metrics_server
from tests.ollama_replay import start_replay_server
from tests.prometheus_server import (
    NODE_EXPORTER,
    PROMETHEUS,
    Process,
    get,
    get_json,
    have,
    missing_reason,
    node_exporter,
    prometheus,
    wait_for_samples,
)
from tests.test_fleet_collector import load
from tests.waiting import until_loop
from tui.fleet import prom_api
from tui.fleet.collector import FleetCollector
from tui.fleet.hosts import FleetSettings, Host, OpenAIServer
from tui.fleet.model import HostView

pytestmark = pytest.mark.skipif(
    not (have(PROMETHEUS) and have(NODE_EXPORTER)), reason=missing_reason(PROMETHEUS, NODE_EXPORTER)
)


WINDOW_S = 5
WINDOW = f"{WINDOW_S}s"
"""rate() range for the comparison: five of this Prometheus' 1 s scrapes."""


class Fleet:
    def __init__(self, stack: ExitStack, tmp: Path) -> None:
        self.node = stack.enter_context(node_exporter(tmp / "node"))
        self.vllm: MetricsServer = stack.enter_context(
            metrics_server("vllm", running=2, waiting=1, kv_usage=0.25, gen_rate=50.0)
        )
        self.lcpp: MetricsServer = stack.enter_context(
            metrics_server("llamacpp", running=1, waiting=3, gen_rate=20.0, decode_tok_s=20.0)
        )
        self.replays = [stack.enter_context(start_replay_server()) for _ in range(3)]
        load(self.replays[0], "qwen3:0.6b")
        self.dead_node = f"127.0.0.1:{closed_port()}"
        self.hosts = [
            Host("local", ollama=self.replays[0].url, node_exporter=self.node.url),
            Host(
                "edge-1",
                ollama=self.replays[1].url,
                openai=(OpenAIServer("vllm", self.vllm.api_url),),
            ),
            Host(
                "edge-2",
                ollama=self.replays[2].url,
                openai=(OpenAIServer("lcpp", self.lcpp.api_url),),
            ),
            Host("edge-3", node_exporter=f"http://{self.dead_node}"),
        ]
        self.prom: Process = stack.enter_context(
            prometheus(
                tmp / "prom",
                {
                    "node": [self.node.host_port, self.dead_node],
                    "vllm": [self.vllm.host_port],
                    "llamacpp": [self.lcpp.host_port],
                },
            )
        )


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with ExitStack() as stack:
        yield Fleet(stack, tmp_path)


def _query(prom: Process, promql: str) -> Any:
    return get_json(f"{prom.url}/api/v1/query?query={quote(promql)}")["data"]["result"]


def by_name(snapshot: list[HostView]) -> dict[str, HostView]:
    return {h.name: h for h in snapshot}


async def test_prometheus_figures_match_the_direct_scrape(fleet: Fleet) -> None:
    queries = prom_api.queries(WINDOW)
    direct = FleetCollector(fleet.hosts, FleetSettings(interval=1.0, timeout=60.0))
    through = FleetCollector(
        fleet.hosts,
        FleetSettings(
            interval=1.0, timeout=60.0, prometheus=fleet.prom.url, prometheus_window=WINDOW
        ),
    )
    async with direct, through:
        wait_for_samples(fleet.prom, 'up{job="node"} == 1', 1)
        started = time.time()
        await direct.poll_once()
        # The rates of both cover about the same seconds: the direct one from its two readings,
        # Prometheus' over its window, which ends at its last scrape, a window after the first.
        wait_for_samples(fleet.prom, f"timestamp(up{{job='node'}}) > {started + WINDOW_S}", 1)
        wait_for_samples(fleet.prom, queries["tok_s"], 2)
        wait_for_samples(fleet.prom, 'up{job="node"} == 0', 1)
        d = by_name(await direct.poll_once())
        p = by_name(await through.poll_once())

    assert all(h.source == "prometheus" for h in p.values())
    # node_exporter figures
    dl, pl = d["local"], p["local"]
    assert dl.ram_total == pl.ram_total and dl.ram_total
    assert dl.ram_percent.now == pytest.approx(pl.ram_percent.now, abs=5)
    assert dl.disk_percent.now == pytest.approx(pl.disk_percent.now, abs=1)
    assert dl.disk_total == pytest.approx(pl.disk_total, rel=0.001)
    assert dl.cpu_percent.now is not None and pl.cpu_percent.now is not None
    assert 0 <= pl.cpu_percent.now <= 100
    # nearly the same seconds, read at different instants of a shared machine
    assert dl.cpu_percent.now == pytest.approx(pl.cpu_percent.now, abs=25)
    # inference servers: gauges exactly, counters' rates within a tolerance
    for name, running, waiting, rate in (("edge-1", 2, 1, 50.0), ("edge-2", 1, 3, 20.0)):
        assert d[name].requests_running.now == p[name].requests_running.now == running
        assert d[name].requests_waiting.now == p[name].requests_waiting.now == waiting
        assert d[name].tok_s.now == pytest.approx(rate, rel=0.15)
        assert p[name].tok_s.now == pytest.approx(rate, rel=0.15)
    # Ollama has no /metrics: its loaded models still come from /api/ps
    assert (
        [m.name for m in p["local"].loaded] == [m.name for m in d["local"].loaded] == ["qwen3:0.6b"]
    )
    # a target Prometheus cannot scrape is that host's reason, through Prometheus
    dead = p["edge-3"]
    assert dead.backends[0].up is False
    assert dead.reason.startswith(f"node_exporter http://{fleet.dead_node}/metrics (Prometheus): ")
    assert d["edge-3"].reachable is False and "connection refused" in d["edge-3"].reason
    assert p["edge-1"].backends[1].up is True  # the vLLM target is healthy
    assert p["local"].reason == ""


async def test_prometheus_down_degrades_figures_not_models(fleet: Fleet) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    async with FleetCollector(fleet.hosts, FleetSettings(timeout=60.0, prometheus=url)) as c:
        rows = by_name(await c.poll_once())
    local = rows["local"]
    assert f"prometheus {url}/api/v1/targets: connection refused" in local.reason
    assert local.cpu_percent.now is None
    assert [m.name for m in local.loaded] == ["qwen3:0.6b"]


async def test_background_collector_through_prometheus(fleet: Fleet) -> None:
    wait_for_samples(fleet.prom, prom_api.queries()["requests_running"], 2)
    fleet_settings = FleetSettings(interval=0.5, timeout=60.0, prometheus=fleet.prom.url)
    async with FleetCollector(fleet.hosts, fleet_settings) as c:
        await c.start()
        await until_loop(
            lambda: (c.view("edge-1") or HostView("x", None)).requests_running.now == 2,
            "edge-1's requests through Prometheus",
        )
    assert get(f"{fleet.prom.url}/-/healthy")


async def test_node_exporter_with_a_collector_disabled_is_read_whole(tmp_path: Path) -> None:
    """node_exporter answers 400 to a ``collect[]`` naming a collector it runs without; the
    fleet then reads all it serves (its memory, here), not a reason."""
    with node_exporter(tmp_path / "node", ("meminfo",)) as node:
        assert b"disabled collector" in _status_body(node.url + "/metrics?collect[]=cpu")
        host = Host("edge", node_exporter=node.url)
        async with FleetCollector([host], FleetSettings(timeout=60.0)) as c:
            first = (await c.poll_once())[0]
            again = (await c.poll_once())[0]
    for view in (first, again):
        assert view.reachable is True and view.reason == ""
        assert view.ram_total and view.ram_percent.now is not None
        assert view.cpu_percent.now is None  # no cpu collector there


def _status_body(url: str) -> bytes:
    import urllib.error

    try:
        return get(url)
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        return exc.read()


def test_prometheus_scrape_errors_read_like_the_direct_scrapes() -> None:
    cases = {
        'Get "http://127.0.0.1:9/metrics": dial tcp 127.0.0.1:9: connect: connection refused': (
            "connection refused"
        ),
        'Get "http://10.0.0.5:9100/metrics": context deadline exceeded': (
            "no answer within Prometheus' scrape timeout"
        ),
        'Get "http://edge-9:9100/metrics": dial tcp: lookup edge-9 on 127.0.0.53:53: no such '
        "host": "no such host",
        "server returned HTTP status 404 Not Found": "server returned HTTP status 404 Not Found",
        "": "down",
    }
    for error, cause in cases.items():
        assert prom_api.scrape_error(error) == cause, error


async def test_through_prometheus_a_servers_model_list_is_still_its_own(fleet: Fleet) -> None:
    """/v1/models is read from the server (Prometheus has no model list), every tenth poll: when
    it fails, that endpoint is down with its reason, and the host only part-down (its Ollama
    answers)."""
    wait_for_samples(fleet.prom, 'up{job="vllm"} == 1', 1)
    clock = [1000.0]
    settings = FleetSettings(timeout=60.0, prometheus=fleet.prom.url, prometheus_window=WINDOW)

    def model_reads() -> int:
        with fleet.vllm.state.lock:
            return [path for path, _ in fleet.vllm.state.requests].count("/v1/models")

    async with FleetCollector(fleet.hosts, settings, clock=lambda: clock[0]) as c:
        edge = by_name(await c.poll_once())["edge-1"]
        assert [m.name for m in edge.loaded] == ["tiny-llama"] and model_reads() == 1
        with fleet.vllm.state.lock:
            fleet.vllm.state.error_status = 500
        polls = 1
        while model_reads() == 1:
            clock[0] += settings.interval
            edge = by_name(await c.poll_once())["edge-1"]
            polls += 1
            assert polls <= 11, "the model list was not read again by the eleventh poll"
    assert polls == 11
    vllm = next(b for b in edge.backends if b.id == "openai:vllm")
    assert vllm.up is False and edge.reachable is True
    assert vllm.reason.startswith(f"openai:vllm {fleet.vllm.api_url}/models: HTTP 500")
    assert edge.reason.startswith("openai:vllm ")
    assert edge.loaded == ()  # its Ollama holds none; the server's list is not shown stale
