"""The collector against real loopback servers: Ollama replays as hosts, vLLM- and llama.cpp-shaped
exposition servers; a clock the test controls for rates and backoff."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.conftest import REPO, closed_port
from tests.metrics_server import llamacpp_slot, metrics_server
from tests.ollama_replay import Loaded, ReplayServer, normalize_name, start_replay_server
from tests.waiting import until_loop
from tui.fleet.collector import FleetCollector
from tui.fleet.hosts import FleetSettings, Host, OpenAIServer
from tui.fleet.model import HostView

INTERVAL = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = INTERVAL) -> None:
        self.now += seconds


def load(replay: ReplayServer, name: str, ctx: int = 2048) -> None:
    """Make the replay report ``name`` as loaded (as a chat would)."""
    with replay.state.lock:
        expires = time.time_ns() + 3600 * 10**9
        replay.state.loaded[normalize_name(name)] = Loaded(name, expires, ctx)


@contextlib.contextmanager
def replay_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """An Ollama replay in its own process (``python -m tests.ollama_replay``), so that killing
    it closes its connections as a dying host does."""
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ollama_replay", "--port", str(port)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(url + "/api/version", trust_env=False, timeout=5)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the replay process did not start") from None
                time.sleep(0.05)  # until it listens (an event), far deadline above
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture
def replays() -> Iterator[list[ReplayServer]]:
    with ExitStack() as stack:
        servers = [stack.enter_context(start_replay_server()) for _ in range(3)]
        yield servers


def by_name(snapshot: list[HostView]) -> dict[str, HostView]:
    return {h.name: h for h in snapshot}


def settings(**kw: float) -> FleetSettings:
    # Loopback servers answer; a busy machine must not make one look down (conftest.REACHABLE).
    return FleetSettings(interval=INTERVAL, timeout=kw.pop("timeout", 60.0), **kw)  # type: ignore[arg-type]


async def test_three_hosts_then_one_dies_and_only_its_row_goes_down(
    replays: list[ReplayServer],
) -> None:
    load(replays[0], "qwen3:0.6b", 4096)
    with replay_process() as (victim_url, victim):
        async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
            answer = await client.post(
                victim_url + "/api/generate", json={"model": "llama3.2", "keep_alive": "1h"}
            )
            answer.raise_for_status()
        hosts = [
            Host("edge-0", ollama=replays[0].url),
            Host("edge-1", ollama=victim_url),
            Host("edge-2", ollama=replays[2].url),
        ]
        clock = Clock()
        seen: list[list[HostView]] = []
        async with FleetCollector(hosts, settings(), clock=clock) as fleet:
            fleet.subscribe(lambda snap: seen.append(list(snap)))
            assert [h.reachable for h in fleet.snapshot()] == [None, None, None]
            rows = by_name(await fleet.poll_once())
            assert seen and by_name(seen[-1]) == rows
            assert all(h.reachable for h in rows.values())
            (m,) = rows["edge-0"].loaded
            assert (m.name, m.backend, m.context_length) == ("qwen3:0.6b", "ollama", 4096)
            assert m.vram_share == 1.0 and m.size and m.expires_at is not None
            assert [x.name for x in rows["edge-1"].loaded] == ["llama3.2:latest"]
            assert rows["edge-2"].loaded == ()
            assert rows["edge-0"].backends[0].models == 4  # /api/tags
            before = rows["edge-0"].updated

            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=30)
            load(replays[2], "qwen2.5:0.5b")
            clock.advance()  # one interval
            rows = by_name(await fleet.poll_once())
            down = rows["edge-1"]
            assert down.reachable is False
            assert down.reason.startswith(f"ollama {victim_url}/api/ps: "), down.reason
            assert down.loaded == ()
            assert rows["edge-0"].reachable and rows["edge-2"].reachable
            assert [x.name for x in rows["edge-2"].loaded] == ["qwen2.5:0.5b"]
            assert rows["edge-0"].updated != before
            assert rows["edge-0"].reason == rows["edge-2"].reason == ""


async def test_vllm_and_llamacpp_figures_and_tok_s_from_counters() -> None:
    slots = [llamacpp_slot(i, n_ctx=512, processing=i == 0, n_prompt=200) for i in range(2)]
    with (
        metrics_server("vllm", running=3, waiting=1, kv_usage=0.5, generation_tokens=1000) as vllm,
        metrics_server(
            "llamacpp", running=1, waiting=2, n_ctx=512, slots=slots, decode_tok_s=33.0
        ) as lcpp,
    ):
        host = Host(
            "gpu-1",
            openai=(OpenAIServer("vllm", vllm.api_url), OpenAIServer("lcpp", lcpp.api_url)),
        )
        clock = Clock()
        async with FleetCollector([host], settings(), clock=clock) as fleet:
            (view,) = await fleet.poll_once()
            v, lc = view.backends
            assert (v.kind, v.up, v.models, v.requests_running, v.requests_waiting) == (
                "vllm",
                True,
                1,
                3,
                1,
            )
            assert v.kv_cache_percent == 50.0
            assert v.tok_s is None  # one reading is no rate
            assert (lc.kind, lc.requests_running, lc.requests_waiting) == ("llama.cpp", 1, 2)
            assert (lc.slots_busy, lc.slots_total, lc.decode_tok_s) == (1, 2, 33.0)
            assert lc.kv_cache_percent == pytest.approx(100 * 200 / 1024)
            assert view.requests_running.now == 4 and view.requests_waiting.now == 3
            contexts = {m.backend: m.context_length for m in view.loaded}
            assert contexts == {"openai:vllm": 2048, "openai:lcpp": 512}

            with vllm.state.lock:
                vllm.state.generation_tokens = 1500
            with lcpp.state.lock:
                lcpp.state.generation_tokens = 100
            clock.advance(2.0)
            (view,) = await fleet.poll_once()
            assert view.backends[0].tok_s == 250.0
            assert view.backends[1].tok_s == 50.0
            assert view.tok_s.now == 300.0 and view.tok_s.history == (300.0,)

            with vllm.state.lock:  # a restart: the counter starts over, no negative rate
                vllm.state.generation_tokens = 10
            clock.advance(2.0)
            (view,) = await fleet.poll_once()
            assert view.backends[0].tok_s is None


def node_text(idle: float, busy: float, avail: float = 6e9) -> bytes:
    return (
        "# TYPE node_cpu_seconds_total counter\n"
        f'node_cpu_seconds_total{{cpu="0",mode="idle"}} {idle}\n'
        f'node_cpu_seconds_total{{cpu="0",mode="user"}} {busy}\n'
        "node_memory_MemTotal_bytes 8e+09\n"
        f"node_memory_MemAvailable_bytes {avail}\n"
        'node_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 1000\n'
        'node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 400\n'
    ).encode()


async def test_cpu_from_counter_rates_with_history_for_sparklines() -> None:
    with metrics_server("vllm") as node:
        node.state.raw = node_text(100, 100)
        host = Host("box", node_exporter=node.url)
        clock = Clock()
        async with FleetCollector(
            [host], FleetSettings(interval=INTERVAL, timeout=60, history=3), clock=clock
        ) as fleet:
            (view,) = await fleet.poll_once()
            assert view.cpu_percent.now is None  # needs two readings
            assert view.ram_percent.now == 25.0 and view.disk_percent.now == 60.0
            assert (view.ram_total, view.ram_used) == (8_000_000_000, 2_000_000_000)
            assert (view.disk_total, view.disk_used) == (1000, 600)
            for idle, busy in ((101.5, 100.5), (101.5, 102.5), (103.5, 102.5), (104.0, 104.0)):
                node.state.raw = node_text(idle, busy)
                clock.advance()
                (view,) = await fleet.poll_once()
            assert view.cpu_percent.history == (100.0, 0.0, 75.0)  # the last three, oldest first
            assert view.cpu_percent.now == 75.0
            paths = [p for p, _ in node.state.requests]
            assert paths == ["/metrics"] * 5


async def test_failing_endpoint_backs_off_exponentially_and_recovers() -> None:
    with metrics_server("vllm", error_status=503) as server:
        host = Host("flaky", openai=(OpenAIServer("vllm", server.api_url),))
        clock = Clock()
        async with FleetCollector([host], settings(), clock=clock) as fleet:
            polled_at: list[float] = []
            for _ in range(12):
                before = len(server.state.requests)
                (view,) = await fleet.poll_once()
                if len(server.state.requests) > before:
                    polled_at.append(clock.now - 1000.0)
                clock.advance()
            # fails at 0, retried after 1, 2, 4, 8 intervals
            assert polled_at == [0.0, 2.0, 6.0, 14.0]
            assert view.reachable is False
            assert view.reason == (
                f"openai:vllm {server.api_url}/models: HTTP 503 Service Unavailable: "
                '{"error": {"message": "injected", "code": 503}}'
            )
            server.state.error_status = None
            while fleet.snapshot()[0].reachable is not True:
                clock.advance()
                await fleet.poll_once()
            assert fleet.snapshot()[0].reason == ""


async def test_garbage_slow_and_html_each_degrade_their_own_row(
    replays: list[ReplayServer],
) -> None:
    with metrics_server("vllm") as garbage, metrics_server("vllm") as good:
        garbage.state.raw = b"<<<this is not prometheus>>>\n\x00\x1b[2J"
        replays[0].set_faults(delay_first_byte=30.0)
        replays[1].set_faults(
            error_status=502, error_body=b"<html><title>502 Bad Gateway</title></html>"
        )
        hosts = [
            Host("slow", ollama=replays[0].url),
            Host("proxied", ollama=replays[1].url),
            Host("garbage", openai=(OpenAIServer("g", garbage.api_url),)),
            Host("good", openai=(OpenAIServer("ok", good.api_url),)),
            Host("nothing", ollama=f"http://127.0.0.1:{closed_port()}"),
        ]
        async with FleetCollector(hosts, FleetSettings(interval=INTERVAL, timeout=0.5)) as fleet:
            started = time.monotonic()
            rows = by_name(await fleet.poll_once())
            assert time.monotonic() - started < 20  # bounded by the timeout, not the slow host
        assert rows["slow"].reason == f"ollama {replays[0].url}/api/ps: no answer within 0.5 s"
        assert (
            rows["proxied"].reason
            == f"ollama {replays[1].url}/api/ps: HTTP 502 Bad Gateway (HTML page)"
        )
        garbage_backend = rows["garbage"].backends[0]
        assert garbage_backend.up is False
        assert "not the Prometheus text format" in garbage_backend.reason
        assert "\x1b" not in garbage_backend.reason and "\x00" not in garbage_backend.reason
        assert rows["good"].reachable and rows["good"].backends[0].kind == "vllm"
        assert "connection refused" in rows["nothing"].reason


async def test_bearer_key_from_the_environment_and_no_proxy_ever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy in the environment must never see loopback (or any configured endpoint) traffic.
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("FLEET_TEST_KEY", "s3cret")
    with metrics_server("vllm") as server:
        host = Host("keyed", openai=(OpenAIServer("v", server.api_url, "FLEET_TEST_KEY"),))
        async with FleetCollector([host], settings()) as fleet:
            (view,) = await fleet.poll_once()
        assert view.reachable, view.reason
        assert {auth for _, auth in server.state.requests} == {"Bearer s3cret"}


async def test_background_polling_and_aclose() -> None:
    with metrics_server("llamacpp") as server:
        host = Host("bg", openai=(OpenAIServer("l", server.api_url),))
        fleet = FleetCollector([host], FleetSettings(interval=0.2, timeout=60))
        updates: list[int] = []
        fleet.subscribe(lambda snap: updates.append(fleet.polls))
        await fleet.start()
        await until_loop(lambda: fleet.polls >= 3, "three background polls")
        await fleet.aclose()
        polls = fleet.polls
        assert updates and fleet.snapshot()[0].reachable
        # the server saw /props once: slow-changing parts are not re-read every poll
        assert [p for p, _ in server.state.requests].count("/props") == 1
        assert fleet.polls == polls
