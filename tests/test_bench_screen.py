"""Pilot tests of the Bench screen against the Ollama replay server and the in-process tiny ONNX
model: pick two models across backends, run, see and sort the results, cancel with Escape mid-run,
export, keep results across screens and app runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from textual.widgets import Static

from tests.conftest import FIXTURES, REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until, workers_done
from tui.app import SlmdeckApp, make_app
from tui.config import Config, data_dir
from tui.controller import OperationState
from tui.core.benchmark import ModelResult
from tui.monitor import Monitor, load_samples
from tui.screens.bench import BenchScreen
from tui.store.bench import open_bench_store

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")
REPLY = " ".join(f"tok{i}" for i in range(200))


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server(reply=REPLY, token_rate=2000.0) as server:
        yield server


def bench_app(server: ReplayServer) -> SlmdeckApp:
    cfg = Config(
        probe_timeout=REACHABLE,
        ollama_host=server.host_port,
        model_dirs=[FIXTURES],
        retry_interval=0,
    )
    return make_app(cfg, start_screen="bench", monitor=Monitor.replay(SAMPLES, preload=True))


async def wait_for(pilot, predicate: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, predicate, what)


async def ready(pilot) -> BenchScreen:  # type: ignore[no-untyped-def]
    await pilot.app.controller.refresh_all()
    screen = pilot.app.screen
    assert isinstance(screen, BenchScreen)
    await screen.ready.wait()
    await pilot.pause()
    return screen


def option_values(screen: BenchScreen) -> list[str]:
    listing = screen.model_list
    return [listing.get_option_at_index(i).value for i in range(listing.option_count)]


async def select(pilot, screen: BenchScreen, backend: str, model: str) -> None:  # type: ignore[no-untyped-def]
    screen.model_list.focus()
    screen.model_list.highlighted = option_values(screen).index(f"{backend}\x00{model}")
    await pilot.press("space")
    assert f"{backend}\x00{model}" in screen.model_list.selected


def progress_text(screen: BenchScreen) -> str:
    return str(screen.query_one("#bench-progress", Static).render())


def rows(screen: BenchScreen) -> list[tuple[str, str, str, bool]]:
    return [(r.model, r.backend, r.status, ours) for r, ours in screen.shown_results()]


async def finished(pilot, screen: BenchScreen) -> None:  # type: ignore[no-untyped-def]
    await wait_for(
        pilot,
        lambda: (
            screen.operation is not None and screen.operation.state is not OperationState.RUNNING
        ),
        "the bench to end",
    )
    await workers_done(pilot.app)
    await pilot.pause()


async def test_bench_two_models_across_backends_and_export(replay: ReplayServer) -> None:
    app = bench_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        values = option_values(screen)
        # Chat-capable models of both backends; the embedding model is left out.
        assert "ollama\x00qwen2.5:0.5b" in values and "onnx\x00tiny-llama" in values
        assert not any("embed" in v for v in values)
        await pilot.press("r")  # 3 -> 5 repetitions
        await pilot.press("r", "r", "r")  # 10, 1, 3
        await pilot.press("t")  # 128 -> 256
        assert (screen.repetitions, screen.max_tokens) == (3, 256)
        await select(pilot, screen, "ollama", "qwen2.5:0.5b")
        await select(pilot, screen, "onnx", "tiny-llama")
        await pilot.press("enter")
        assert screen.operation is not None and screen.operation.kind == "bench"
        await finished(pilot, screen)
        assert screen.operation is not None and screen.operation.state is OperationState.DONE
        assert rows(screen) == [
            ("qwen2.5:0.5b", "ollama", "complete", True),
            ("tiny-llama", "onnx", "complete", True),
        ]
        assert progress_text(screen).startswith("Done: 6 runs in ")
        qwen, tiny = (r for r, _ in screen.shown_results())
        assert [r.gen_tokens for r in qwen.runs] == [200, 200, 200]  # the whole reply, < 256
        assert qwen.decode_source == "backend" and tiny.decode_source == "backend"
        # The replayed monitor's GPU has memory in use: VRAM comes from its samples.
        assert qwen.peak_vram is not None and qwen.peak_vram > 0
        table = screen.table
        assert table.row_count == 2
        assert "qwen2.5:0.5b" in str(table.get_row_at(0)[0])
        assert str(table.get_row_at(0)[-1]) == "this run"
        detail = str(screen.query_one("#bench-detail", Static).render())
        assert "qwen2.5:0.5b on ollama · short · 3 of 3 runs" in detail
        assert "(backend)" in detail and "TTFT" in detail
        # Sort: the second key is decode tok/s, fastest first.
        assert screen.sorted_by() == "When ▼"
        await pilot.press("s")
        assert screen.sort_key == "decode"
        rates = [r.decode_tps.median for r, _ in screen.shown_results() if r.decode_tps]
        assert rates == sorted(rates, reverse=True)
        # The header says which column the order follows (and no other header has an arrow).
        assert screen.sorted_by() == "Decode t ▼"
        arrows = [str(c.label) for c in table.columns.values() if "▼" in str(c.label)]
        assert arrows == ["Decode t ▼"]
        # Saved as they finished.
        store = open_bench_store(data_dir())
        assert sorted(r.model for r in store.recent()) == ["qwen2.5:0.5b", "tiny-llama"]
        store.db.close()
        await pilot.press("ctrl+o")
        await workers_done(pilot.app)
        assert screen.last_export is not None
        md, js = screen.last_export
        doc = json.loads(js.read_text())
        assert [r["model"] for r in doc["results"]] == [r.model for r, _ in screen.shown_results()]
        assert len(doc["results"][0]["runs"]) == 3
        assert "| qwen2.5:0.5b | ollama | short | 3 |" in md.read_text()
        # Switching screens keeps this run's results.
        await pilot.press("1")
        await pilot.press("7")
        assert pilot.app.screen is screen
        assert screen.sort_key == "decode"
        assert sorted(m for m, _, _, ours in rows(screen) if ours) == ["qwen2.5:0.5b", "tiny-llama"]


async def test_escape_cancels_mid_run_and_keeps_finished_runs(replay: ReplayServer) -> None:
    app = bench_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await select(pilot, screen, "ollama", "llama3.2:latest")
        await pilot.press("p")  # short -> summary
        assert screen.prompt_set == "summary"
        replay.state.token_rate = 5.0
        await pilot.press("ctrl+r")

        def measured_requests() -> int:
            return sum(
                r.path == "/api/chat" and r.body["options"]["num_predict"] != 1
                for r in replay.requests
            )

        await wait_for(pilot, lambda: measured_requests() == 1, "the first timed run to start")
        await wait_for(pilot, lambda: "run 1 of 3" in progress_text(screen), "progress")
        assert screen.running
        await pilot.press("escape")
        await finished(pilot, screen)
        assert screen.operation is not None
        assert screen.operation.state is OperationState.CANCELLED
        # Closing the stream hung up on the server: generation stopped.
        assert replay.wait_for_disconnect("/api/chat", timeout=10)
        assert measured_requests() == 1
        assert progress_text(screen).startswith("Cancelled after 0 of 3 runs")
        assert rows(screen) == [("llama3.2:latest", "ollama", "cancelled", True)]
        assert str(screen.table.get_row_at(0)[-1]) == "this run ⊘"


async def test_nothing_selected_benches_the_highlighted_model(replay: ReplayServer) -> None:
    app = bench_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        screen.model_list.highlighted = option_values(screen).index("onnx\x00tiny-llama")
        assert screen.selected_targets() == [("onnx", "tiny-llama")]
        await pilot.press("r", "r", "r")  # 3 -> 5 -> 10 -> 1
        await pilot.press("p", "p")  # short -> summary -> code
        await pilot.press("enter")
        await finished(pilot, screen)
        [(result, ours)] = screen.shown_results()
        assert ours and result.model == "tiny-llama" and result.prompt == "code"
        assert len(result.runs) == 1


async def test_past_runs_are_shown_and_a_failure_reads_as_a_sentence(
    replay: ReplayServer,
) -> None:
    store = open_bench_store(data_dir())
    past = ModelResult(
        backend="ollama",
        model="old-model",
        prompt="short",
        prompt_set="short",
        repetitions=1,
        max_tokens=128,
        started_at=1_700_000_000.0,
        status="error",
        error="model 'old-model' not found",
    )
    store.add(past, "earlier")
    store.db.close()
    app = bench_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert rows(screen) == [("old-model", "ollama", "error", False)]
        assert str(screen.table.get_row_at(0)[2]) == "failed"
        detail = str(screen.query_one("#bench-detail", Static).render())
        assert detail.endswith("failed: model 'old-model' not found")
        # The ONNX summary does not fit the tiny model's context: a readable failure row.
        screen.model_list.highlighted = option_values(screen).index("onnx\x00tiny-llama")
        await pilot.press("p", "enter")
        await finished(pilot, screen)
        first, _ = screen.shown_results()[0]
        assert first.status == "error" and "context of 256" in first.error
        assert "1 failed" in progress_text(screen)


async def test_selected_models_are_marked_not_only_coloured(replay: ReplayServer) -> None:
    """Each model's box reads ✓ when selected and · when not, in plain text (no colour)."""
    app = bench_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        listing = screen.model_list

        def marks() -> dict[str, str]:
            out = {}
            for i, value in enumerate(option_values(screen)):
                line = listing.render_line(i).text
                out[value.split("\x00", 1)[1]] = line.split(" ", 1)[0]
            return out

        assert set(marks().values()) == {"▐·▌"}
        await select(pilot, screen, "onnx", "tiny-llama")
        await pilot.pause()
        shown = marks()
        assert shown["tiny-llama"] == "▐✓▌"
        assert {v for k, v in shown.items() if k != "tiny-llama"} == {"▐·▌"}
        await pilot.press("space")  # toggles it off again
        assert marks()["tiny-llama"] == "▐·▌"
