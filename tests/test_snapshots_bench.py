"""Snapshots of the Bench screen at 100x30 and 80x24: models from the Ollama replay server and the
tiny ONNX fixture, a results table from fixed stored rows (times that vary never show), and the
gauge strip fed recorded monitor samples."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.conftest import FIXTURES, REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until, workers_done
from tui.app import make_app
from tui.backends.base import ChatStats
from tui.config import Config, data_dir
from tui.core.benchmark import ModelResult, run_figures
from tui.monitor import Monitor, load_samples
from tui.store.bench import open_bench_store


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server() as server:
        yield server


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Stored results show their local date and time: pin the zone so the picture is stable.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def stored(
    model: str,
    backend: str,
    rates: list[float],
    *,
    rss: int | None,
    vram: int | None,
    prompt: str = "short",
    status: str = "complete",
    error: str = "",
    at: float = 1_763_900_000.0,
) -> ModelResult:
    runs = tuple(
        run_figures(
            prompt=prompt,
            repetition=i + 1,
            stats=ChatStats(
                prompt_tokens=32,
                completion_tokens=int(rate * 2),
                prompt_eval_duration_ns=40_000_000,
                eval_duration_ns=2_000_000_000,
            ),
            started=0.0,
            first=0.05 + 0.01 * i,
            last=2.0,
            ended=2.1,
            chunks=int(rate * 2),
        )
        for i, rate in enumerate(rates)
    )
    runs = tuple(replace(r, peak_rss=rss, peak_vram=vram) for r in runs)
    return ModelResult(
        backend=backend,
        model=model,
        prompt=prompt,
        prompt_set=prompt,
        repetitions=max(1, len(rates)),
        max_tokens=128,
        started_at=at,
        runs=runs,
        load_s=1.25,
        memory_source="ollama serve (pid 4242) and children"
        if backend == "ollama"
        else "this process (in-process ONNX Runtime)",
        vram_source="GPU memory in use",
        status=status,
        error=error,
    )


def seeded_app(server: ReplayServer):  # type: ignore[no-untyped-def]
    store = open_bench_store(data_dir())
    for result in (
        stored(
            "llama3.2:latest", "ollama", [41.5, 41.7, 42.0], rss=2_510_000_000, vram=3_100_000_000
        ),
        stored(
            "qwen2.5:0.5b", "ollama", [160.0, 162.3, 163.1], rss=612_000_000, vram=1_020_000_000
        ),
        stored(
            "tiny-llama",
            "onnx",
            [850.0, 870.0, 866.0],
            rss=96_000_000,
            vram=None,
            at=1_763_900_600.0,
        ),
        stored(
            "phi-4-mini",
            "ollama",
            [],
            rss=None,
            vram=None,
            status="error",
            error="model 'phi-4-mini' not found",
            at=1_763_800_000.0,
        ),
    ):
        store.add(result, "seed")
    store.db.close()
    cfg = Config(
        probe_timeout=REACHABLE,
        ollama_host=server.host_port,
        model_dirs=[FIXTURES],
        retry_interval=0,
    )
    samples = load_samples(FIXTURES / "monitor_samples.json")
    return make_app(cfg, start_screen="bench", monitor=Monitor.replay(samples, preload=True))


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.controller.refresh_all()
    await app.screen.ready.wait()
    await until(pilot, lambda: app.last_sample is not None)
    assert app.last_sample is not None
    await workers_done(app)
    await pilot.press("space")  # select the first model
    await pilot.pause()


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_bench_screen(snap_compare, replay, utc, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(seeded_app(replay), terminal_size=size, run_before=settle)
