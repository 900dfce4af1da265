"""The benchmark core against real backends: the in-process tiny ONNX model and the Ollama replay
server (its own counts and timers), a real server process for peak RSS, cancellation, export and
the results store."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, closed_port
from tests.ollama_replay import ReplayServer, start_replay_server, tokenize
from tui.backends.base import ChatStats, InvalidInput
from tui.backends.ollama import OllamaBackend
from tui.backends.onnx_genai import OnnxGenAIBackend
from tui.core.bench_prompts import PROMPT_SETS, SHORT_QUESTION
from tui.core.benchmark import (
    Benchmark,
    BenchSpec,
    MemoryTarget,
    ModelResult,
    Source,
    Spread,
    export_json,
    export_markdown,
    memory_target,
    run_figures,
    watch_for,
)
from tui.monitor.procs import HostProcesses
from tui.store.bench import open_bench_store
from tui.store.db import Database

HOST = HostProcesses()
"""This machine's processes, as the controller gives them to a benchmark."""
REPLY = " ".join(f"word{i}" for i in range(40))


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server(reply=REPLY) as server:
        yield server


@pytest.fixture
async def onnx() -> AsyncIterator[OnnxGenAIBackend]:
    backend = OnnxGenAIBackend([FIXTURES])
    yield backend
    await backend.aclose()


async def run_all(bench: Benchmark) -> list[str]:
    return [event.status async for event in bench.run()]


# ------------------------------------------------------------------------------------ ONNX


async def test_onnx_runs_repeat_with_backend_counts(onnx: OnnxGenAIBackend) -> None:
    bench = Benchmark(
        [(onnx, "tiny-llama")], BenchSpec("short", repetitions=2, max_tokens=12), processes=HOST
    )
    statuses = await run_all(bench)
    assert statuses[0] == "tiny-llama on onnx: loading (warm-up)"
    [result] = bench.results
    assert result.status == "complete" and len(result.runs) == 2
    assert [r.repetition for r in result.runs] == [1, 2]
    for run in result.runs:
        assert run.prompt == "short"
        assert run.decode_source is Source.BACKEND and run.decode_tps and run.decode_tps > 0
        assert run.prompt_source is Source.BACKEND and run.prompt_tps and run.prompt_tps > 0
        assert run.gen_tokens_source is Source.BACKEND
        assert run.ttft_s is not None and 0 < run.ttft_s <= run.total_s
        assert run.peak_rss is not None and run.peak_rss > 10 * 2**20
    # Greedy decoding with a seed: both repetitions see the same prompt and make the same tokens.
    assert result.runs[0].prompt_tokens == result.runs[1].prompt_tokens > 5
    assert result.runs[0].gen_tokens == result.runs[1].gen_tokens
    assert result.runs[0].gen_tokens is not None and 0 < result.runs[0].gen_tokens <= 12
    assert "in-process ONNX" in result.memory_source
    assert result.load_s is not None and result.load_s > 0
    assert result.decode_source == "backend"
    assert result.peak_vram is None and result.vram_source == "no GPU reading"


async def test_a_failing_model_does_not_stop_the_others(onnx: OnnxGenAIBackend) -> None:
    bench = Benchmark(
        [(onnx, "no-such-model"), (onnx, "tiny-llama"), (onnx, "tiny-llama")],
        BenchSpec("code", repetitions=1, max_tokens=4),
    )
    await run_all(bench)
    first, second, third = bench.results
    assert first.status == "error" and "no-such-model" in first.error
    assert "Traceback" not in first.error
    assert second.status == third.status == "complete"
    assert second.runs[0].prompt == "code"


async def test_summary_longer_than_a_tiny_context_says_so(onnx: OnnxGenAIBackend) -> None:
    bench = Benchmark(
        [(onnx, "tiny-llama")], BenchSpec("summary", repetitions=1, warmup=False), processes=HOST
    )
    events = [e async for e in bench.run()]
    [result] = bench.results
    assert result.status == "error"
    assert "more than tiny-llama's context of 256" in result.error
    assert events[-1].result is result and events[-1].completed == events[-1].total == 1


# ------------------------------------------------------------------------------------ Ollama


async def test_replay_figures_come_from_ollamas_counters(replay: ReplayServer) -> None:
    replay.state.token_rate = 2000.0
    backend = OllamaBackend(replay.url)
    try:
        bench = Benchmark(
            [(backend, "qwen2.5:0.5b")], BenchSpec("mixed", 2, max_tokens=25), processes=HOST
        )
        events = [e async for e in bench.run()]
    finally:
        await backend.aclose()
    assert [r.prompt for r in bench.results] == ["short", "summary", "code"]
    assert events[-1].completed == events[-1].total == 6
    for result, prompt in zip(bench.results, PROMPT_SETS["mixed"], strict=True):
        # The replay counts words of the model's SYSTEM (prepended, as Ollama does) and of the
        # prompt, +10 for the template, and takes 1 ms + 50 µs per prompt token.
        model = replay.state.get("qwen2.5:0.5b")
        assert model is not None
        expected_prompt = len(tokenize(model.system)) + len(tokenize(prompt.text)) + 10
        assert result.prompt_tokens == expected_prompt
        assert result.prompt_tps is not None and result.prompt_source == "backend"
        assert result.prompt_tps.median == pytest.approx(
            expected_prompt / ((1_000_000 + expected_prompt * 50_000) / 1e9)
        )
        assert result.decode_source == "backend"
        assert [r.gen_tokens for r in result.runs] == [25, 25]
        assert all(r.done_reason == "length" for r in result.runs)
        assert result.memory_source == f"this process (pid {os.getpid()})"
    if len(PROMPT_SETS["summary"][0].text.split()) < 700:
        pytest.fail("the summary prompt should carry about a thousand tokens of text")
    chats = [r.body for r in replay.requests if r.path == "/api/chat"]
    assert len(chats) == 1 + 6  # one warm-up, then 3 prompts x 2 repetitions
    assert chats[0]["options"]["num_predict"] == 1
    for body in chats[1:]:
        assert body["options"] == {"temperature": 0, "seed": 42, "num_predict": 25}


async def test_cancel_closes_the_stream_and_keeps_finished_runs(replay: ReplayServer) -> None:
    replay.state.token_rate = 2000.0
    backend = OllamaBackend(replay.url)
    bench = Benchmark(
        [(backend, "llama3.2")], BenchSpec("short", repetitions=3, max_tokens=30), processes=HOST
    )
    seen: list[str] = []
    second_run = asyncio.Event()

    async def consume() -> None:
        async for event in bench.run():
            seen.append(event.status)
            if event.status.endswith("run 1 of 3 done"):
                replay.state.token_rate = 5.0  # the second run now streams slowly
            elif event.status.endswith("run 2 of 3"):
                second_run.set()

    task = asyncio.create_task(consume())
    try:
        started = asyncio.create_task(second_run.wait())
        await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not second_run.is_set():
            started.cancel()
            why = repr(task.exception()) if task.done() else "not within 30 s"
            pytest.fail(f"the second run never started ({why}): {seen}")
        # Its request follows the status event: wait until the server has it (bounded).
        for _ in range(1000):
            if sum(r.path == "/api/chat" for r in replay.requests) == 3:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail(f"the second run's request never reached the server: {replay.requests}")
        await asyncio.sleep(0.3)  # a token or two of the slow run
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(replay.wait_for_disconnect, "/api/chat", 10.0)
    finally:
        task.cancel()  # a no-op unless an assertion above stopped the test early
        await backend.aclose()
    [result] = bench.results
    assert result.status == "cancelled"
    assert len(result.runs) == 1 and result.runs[0].gen_tokens == 30


@pytest.fixture
def ollama_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The replay server in its own process, run by a script named "ollama" as "ollama serve"
    (so tui.monitor's classifier names it as it would name the real server)."""
    script = tmp_path / "ollama"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "from tests.ollama_replay import main\nraise SystemExit(main(sys.argv[2:]))\n"
    )
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), "serve", "--port", str(port), "--rate", "500"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            assert proc.poll() is None, "the server process exited"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the server never listened")
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_peak_rss_of_a_real_server_process(
    ollama_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = ollama_process
    backend = OllamaBackend(f"127.0.0.1:{port}")
    try:
        target = await asyncio.to_thread(memory_target, backend, HOST)
        assert target.pids == (proc.pid,)
        assert target.label == f"ollama serve (pid {proc.pid}) and children"
        bench = Benchmark(
            [(backend, "llama3.2")], BenchSpec("short", 1, max_tokens=5), processes=HOST
        )
        await run_all(bench)
    finally:
        await backend.aclose()
    [result] = bench.results
    assert result.status == "complete"
    assert result.peak_rss is not None and result.peak_rss > 5 * 2**20
    assert result.memory_source == target.label


async def test_memory_target_of_down_and_remote_servers() -> None:
    down = memory_target(OllamaBackend(f"127.0.0.1:{closed_port()}"), HOST)
    assert down.pids == () and "no process of this user listens on port" in down.label
    remote = memory_target(OllamaBackend("http://192.0.2.7:11434"), HOST)
    assert remote.label == "not measured: 192.0.2.7 is another machine"


def test_memory_watch_keeps_the_peak_of_what_it_read() -> None:
    readings: list[int] = []

    def vram() -> int:
        readings.append(1000 + (len(readings) * 7919) % 13)
        return readings[-1]

    watch = watch_for(MemoryTarget((os.getpid(),), False, "me"), HOST, vram, interval=0.001)
    watch.start()
    rss, peak_vram = watch.stop()
    assert watch.samples == len(readings) >= 2
    assert peak_vram == max(readings)
    assert rss is not None and rss > 0


class FakeProcesses:
    """A machine with one server listening on port 11434 (pid 4242), read with a growing RSS."""

    def __init__(self) -> None:
        self.rss = 100
        self.rescans = 0

    def is_local(self, host: str) -> bool:
        return host in ("127.0.0.1", "10.1.1.1")

    def listening_pids(self, port: int) -> list[int]:
        return [4242] if port == 11434 else []

    def describe(self, pid: int) -> str:
        return f"fake server (pid {pid})"

    def rss_reader(self, pids: Sequence[int], children: bool) -> FakeProcesses:
        assert tuple(pids) == (4242,) and children
        return self

    def rescan(self) -> None:
        self.rescans += 1

    def read(self) -> int | None:
        self.rss += 10
        return self.rss


def test_memory_target_decides_from_what_the_processes_say() -> None:
    procs = FakeProcesses()
    local = memory_target(OllamaBackend("http://10.1.1.1:11434"), procs)
    assert local.pids == (4242,) and local.children
    assert local.label == "fake server (pid 4242) and children"
    other = memory_target(OllamaBackend("http://127.0.0.1:9"), procs)
    assert other.label == "not measured: no process of this user listens on port 9"
    far = memory_target(OllamaBackend("http://10.9.9.9:11434"), procs)
    assert far.label == "not measured: 10.9.9.9 is another machine"
    blind = memory_target(OllamaBackend("http://127.0.0.1:11434"), None)
    assert blind.pids == () and blind.label == "not measured: no process readings"
    watch = watch_for(local, procs, interval=0.001)
    watch.start()
    rss, vram = watch.stop()
    assert procs.rescans == 1 and rss == procs.rss and vram is None  # the last read is the peak


async def test_no_process_readings_no_rss(onnx: OnnxGenAIBackend) -> None:
    bench = Benchmark([(onnx, "tiny-llama")], BenchSpec("short", repetitions=1, max_tokens=4))
    await run_all(bench)
    [result] = bench.results
    assert (
        result.status == "complete" and result.memory_source == "not measured: no process readings"
    )
    assert all(run.peak_rss is None for run in result.runs)


# ------------------------------------------------------------------------------------ figures


def test_figures_say_where_they_came_from() -> None:
    counted = run_figures(
        prompt="p", repetition=1, stats=None, started=0.0, first=0.5, last=2.5, ended=3.0, chunks=9
    )
    assert counted.ttft_s == 0.5 and counted.total_s == 3.0
    assert counted.gen_tokens == 9 and counted.gen_tokens_source is Source.CLIENT
    assert counted.decode_tps == pytest.approx(4.0) and counted.decode_source is Source.CLIENT
    assert counted.prompt_tps is None and counted.prompt_source is Source.NONE

    usage_only = ChatStats(prompt_tokens=100, completion_tokens=20)
    partly = run_figures(
        prompt="p",
        repetition=1,
        stats=usage_only,
        started=0.0,
        first=0.25,
        last=1.25,
        ended=1.5,
        chunks=11,
    )
    assert partly.prompt_tps == pytest.approx(400.0) and partly.prompt_source is Source.CLIENT
    assert partly.gen_tokens == 20 and partly.gen_tokens_source is Source.BACKEND
    assert partly.decode_tps == pytest.approx(10.0) and partly.decode_source is Source.CLIENT

    ollama = ChatStats(
        prompt_tokens=50,
        completion_tokens=30,
        prompt_eval_duration_ns=250_000_000,
        eval_duration_ns=1_500_000_000,
    )
    own = run_figures(
        prompt="p",
        repetition=2,
        stats=ollama,
        started=0.0,
        first=0.3,
        last=2.0,
        ended=2.1,
        chunks=3,
    )
    assert own.prompt_tps == pytest.approx(200.0) and own.prompt_source is Source.BACKEND
    assert own.decode_tps == pytest.approx(20.0) and own.decode_source is Source.BACKEND

    nothing = run_figures(
        prompt="p", repetition=1, stats=None, started=0.0, first=None, last=None, ended=1, chunks=0
    )
    assert nothing.ttft_s is None and nothing.decode_tps is None


def test_spread_is_median_and_range() -> None:
    s = Spread.of([3.0, None, 1.0, 10.0])
    assert s is not None and (s.median, s.low, s.high, s.n) == (3.0, 1.0, 10.0, 3)
    assert s.relative == pytest.approx(1.5)
    assert Spread.of([None]) is None


def test_spec_rejects_what_cannot_run() -> None:
    with pytest.raises(InvalidInput, match="no prompt set 'long'"):
        BenchSpec("long")
    with pytest.raises(InvalidInput, match="at least 1"):
        BenchSpec(repetitions=0)
    assert BenchSpec().options().temperature == 0.0
    assert PROMPT_SETS["short"][0].text == SHORT_QUESTION


def _result(model: str, decode: list[float], status: str = "complete") -> ModelResult:
    runs = [
        run_figures(
            prompt="short",
            repetition=i + 1,
            stats=ChatStats(
                prompt_tokens=20,
                completion_tokens=int(rate),
                prompt_eval_duration_ns=100_000_000,
                eval_duration_ns=1_000_000_000,
            ),
            started=0.0,
            first=0.125,
            last=1.0,
            ended=1.25,
            chunks=3,
        )
        for i, rate in enumerate(decode)
    ]
    return ModelResult(
        backend="ollama",
        model=model,
        prompt="short",
        prompt_set="short",
        repetitions=len(decode),
        max_tokens=128,
        started_at=1_700_000_000.0,
        runs=tuple(runs),
        load_s=0.5,
        memory_source="ollama serve (pid 1) and children",
        vram_source="GPU memory in use",
        status=status,
    )


def test_export_json_and_markdown() -> None:
    results = [_result("qwen|3", [40, 42, 41]), _result("llama3.2", [20])]
    doc = json.loads(export_json(results))
    assert doc["format"] == "slmdeck-bench"
    first = doc["results"][0]
    assert first["summary"]["decode_tps"] == {"median": 41.0, "low": 40.0, "high": 42.0, "n": 3}
    assert first["summary"]["decode_source"] == "backend"
    assert len(first["runs"]) == 3 and first["runs"][0]["decode_source"] == "backend"
    assert ModelResult.from_dict(first) == results[0]
    md = export_markdown(results)
    assert "| qwen\\|3 | ollama | short | 3 | 0.125 s | 200.0 | 41.0 (40.0–42.0) |" in md
    assert "| llama3.2 | ollama | short | 1 | 0.125 s | 200.0 | 20.0 |" in md
    assert "decode tok/s from backend" in md and "ollama serve (pid 1) and children" in md


def test_store_keeps_results_newest_first(isolated_env: Path) -> None:
    store = open_bench_store(isolated_env / "data")
    a = store.add(_result("a", [10]), "batch-1")
    later = ModelResult.from_dict(_result("b", [30, 31]).to_dict() | {"started_at": 1_800_000_000})
    b = store.add(later, "batch-2")
    assert a.id and b.id and a.id != b.id
    got = store.recent()
    assert [r.model for r in got] == ["b", "a"]
    assert got[0] == b and got[1] == a
    row = store.db.query("SELECT decode_tps, batch FROM bench_runs WHERE id = ?", (b.id,))[0]
    assert (row["decode_tps"], row["batch"]) == (30.5, "batch-2")
    with store.db.transaction() as conn:
        conn.execute("UPDATE bench_runs SET result = 'not json' WHERE id = ?", (a.id,))
    assert [r.model for r in store.recent()] == ["b"]
    store.delete(b.id)
    assert store.recent() == []
    store.db.close()
    reopened = Database.in_dir(isolated_env / "data")
    names = {r["name"] for r in reopened.query("SELECT name FROM sqlite_master")}
    assert "bench_runs" in names
    reopened.close()
