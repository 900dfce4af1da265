"""The fleet from real parts only: three Ollama replay hosts (one in a process of its own, to be
killed), llama.cpp's own ``llama-server`` (``/metrics``, ``/slots``, ``/props`` as the server writes
them) and the real Prometheus node_exporter, polled by the controller's collector on a clock the test
controls, shown on the Fleet screen.

What the server writes is read from it in the test (its ``/metrics``), never assumed: rates come
from its counters over the test's clock."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests import llamacpp_server
from tests.conftest import REACHABLE, TINY_GGUF
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.prometheus_server import NODE_EXPORTER, gauge, have, missing_reason, node_exporter
from tests.test_fleet_collector import replay_process
from tests.test_fleet_screen import Clock, fleet_app, load, row_text, rows
from tests.waiting import until
from tui.fleet.collector import FleetCollector
from tui.fleet.hosts import FleetSettings, Host, OpenAIServer
from tui.screens.fleet import FleetScreen

KEY = "sk-fleet-real-parts-31c9"
ALIAS = "tiny-llama"
QUESTION = {"role": "user", "content": "What is the capital of France?"}


@pytest.fixture(scope="module")
def llama() -> Iterator[llamacpp_server.LlamaServer]:
    if not (llamacpp_server.available() and TINY_GGUF.is_file()):
        pytest.fail(f"{llamacpp_server.MISSING}, or {TINY_GGUF} is missing")
    with llamacpp_server.llamacpp_server(TINY_GGUF, api_key=KEY, alias=ALIAS) as server:
        yield server


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of the environment variable that holds the server's key (as a user sets it)."""
    monkeypatch.setenv("FLEET_LLAMA_KEY", KEY)
    return "FLEET_LLAMA_KEY"


def metric(server: llamacpp_server.LlamaServer, name: str) -> float:
    """A value of the server's own ``/metrics`` now."""
    answer = httpx.get(
        server.url.removesuffix("/v1") + "/metrics",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=REACHABLE,
    )
    answer.raise_for_status()
    for line in answer.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"the server's /metrics has no {name}")


async def ask(server: llamacpp_server.LlamaServer, tokens: int) -> None:
    """One real chat completion of ``tokens`` tokens at most."""
    async with httpx.AsyncClient(trust_env=False, timeout=REACHABLE) as client:
        answer = await client.post(
            server.url + "/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": ALIAS, "messages": [QUESTION], "max_tokens": tokens, "seed": 0},
        )
        answer.raise_for_status()


async def test_the_collector_reads_llama_server_as_it_writes(
    llama: llamacpp_server.LlamaServer, keyed: str
) -> None:
    host = Host("gpu-1", openai=(OpenAIServer("llama.cpp", llama.url, api_key_env=keyed),))
    clock = Clock()
    settings = FleetSettings(interval=2.0, timeout=REACHABLE)
    async with FleetCollector([host], settings, clock=clock) as fleet:
        (view,) = await fleet.poll_once()
        assert view.reachable, view.reason
        (backend,) = view.backends
        assert (backend.kind, backend.up, backend.models) == ("llama.cpp", True, 1)
        assert (backend.slots_busy, backend.slots_total) == (0, 2)  # --parallel 2, idle
        assert (backend.requests_running, backend.requests_waiting) == (0, 0)
        assert [(m.name, m.context_length) for m in view.loaded] == [(ALIAS, 256)]
        assert backend.tok_s is None  # one reading of a counter is no rate

        before = metric(llama, "llamacpp:tokens_predicted_total")
        await ask(llama, 8)
        clock.advance(2.0)
        (view,) = await fleet.poll_once()
        # Read after the poll: each read of /metrics starts the server's gauges anew (they are
        # averages since the previous read, by anyone), its counters never.
        after = metric(llama, "llamacpp:tokens_predicted_total")
        assert after > before
        (backend,) = view.backends
        assert backend.tok_s == pytest.approx((after - before) / 2.0)
        assert backend.decode_tok_s is not None and backend.decode_tok_s > 0
        # Both slots idle again (/slots): the prompt the answering slot keeps is reusable, not
        # held, so no context is in use. The real server writes no n_past (tests/metrics_server
        # does, as older servers did): what is in use comes from n_prompt_tokens + n_decoded.
        assert (backend.slots_busy, backend.kv_cache_percent) == (0, 0.0)


async def test_the_screen_with_real_parts_one_host_killed_then_context_switched(
    llama: llamacpp_server.LlamaServer, keyed: str, tmp_path: Path
) -> None:
    if not have(NODE_EXPORTER):
        pytest.fail(missing_reason(NODE_EXPORTER))
    clock = Clock()
    with ExitStack() as stack:
        replays: list[ReplayServer] = [stack.enter_context(start_replay_server()) for _ in range(2)]
        victim_url, victim = stack.enter_context(replay_process())
        exporter = stack.enter_context(node_exporter(tmp_path / "node"))
        load(replays[0], "qwen3:0.6b", 4096)
        load(replays[1], "llama3.2", 8192)
        hosts = [
            Host("edge-0", ollama=replays[0].url, node_exporter=exporter.url),
            Host("edge-1", ollama=replays[1].url),
            Host("edge-2", ollama=victim_url),
            Host("gpu-1", openai=(OpenAIServer("llama.cpp", llama.url, api_key_env=keyed),)),
        ]
        app, collector = fleet_app(hosts, clock)
        async with app.run_test(size=(120, 30)) as pilot:
            assert isinstance(app.screen, FleetScreen)
            await collector.poll_once()
            await ask(llama, 8)
            clock.advance()
            await collector.poll_once()

            def polled() -> bool:
                view = rows(app).get("edge-0")
                return view is not None and view.cpu_percent.now is not None

            await until(pilot, polled, "two polls shown")
            views = rows(app)
            assert all(views[h.name].reachable for h in hosts), {
                n: v.reason for n, v in views.items()
            }
            assert [m.name for m in views["edge-0"].loaded] == ["qwen3:0.6b"]
            assert [m.name for m in views["edge-1"].loaded] == ["llama3.2:latest"]
            assert [m.name for m in views["gpu-1"].loaded] == [ALIAS]
            # The real node_exporter's memory, as it serves it now (a real machine: within 2 %).
            total = gauge(exporter, "node_memory_MemTotal_bytes")
            available = gauge(exporter, "node_memory_MemAvailable_bytes")
            ram = views["edge-0"].ram_percent.now
            assert ram == pytest.approx(100 * (1 - available / total), abs=2.0)
            cpu = views["edge-0"].cpu_percent.now
            assert cpu is not None and 0 <= cpu <= 100
            (llama_row,) = views["gpu-1"].backends
            assert llama_row.tok_s is not None and llama_row.tok_s > 0
            assert (llama_row.slots_busy, llama_row.slots_total) == (0, 2)
            assert ALIAS in row_text(app, "gpu-1") and "qwen3:0.6b" in row_text(app, "edge-0")

            # edge-2 dies: after one interval only its row is down, the rest keep updating.
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=30)
            updated = {n: v.updated for n, v in rows(app).items()}
            clock.advance()
            await collector.poll_once()
            await until(pilot, lambda: rows(app)["edge-2"].reachable is False, "edge-2 down")
            views = rows(app)
            assert "down" in row_text(app, "edge-2")
            for name in ("edge-0", "edge-1", "gpu-1"):
                assert views[name].reachable and views[name].updated != updated[name], name
                assert "down" not in row_text(app, name)

            # Context: gpu-1 becomes the current host; Models lists the llama-server's model.
            await app.controller.use_host("gpu-1")
            await until(pilot, lambda: app.sub_title == "host gpu-1", "switched")
            await pilot.press("2")
            from tui.screens.models import ModelsScreen
            from tui.widgets.model_table import ModelTable

            await until(pilot, lambda: isinstance(app.screen, ModelsScreen), "models shown")

            def names() -> set[str]:
                return {r.info.name for r in app.screen.query_one(ModelTable).shown}

            await until(pilot, lambda: ALIAS in names(), "gpu-1's model")
            assert names() == {ALIAS}
