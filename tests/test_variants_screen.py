"""Pilot tests of the Variants screen: real dimensions (Ollama /api/show, GGUF header, ONNX folder),
fit against the monitor's free memory, live recomputation, pre-selection, and pull on enter."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator

import pytest
from textual.widgets import Static

from tests.conftest import FIXTURES, REACHABLE, TINY_GGUF
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until
from tui.app import SlmdeckApp, make_app
from tui.config import Config, data_dir
from tui.core.quant import FitLevel, kv_cache_bytes
from tui.monitor import Monitor, load_samples
from tui.monitor.fmt import format_bytes
from tui.monitor.sample import Sample
from tui.screens.variants import VariantsScreen, next_ctx
from tui.widgets.download_confirm import DownloadDialog
from tui.widgets.progress import OperationsPanel

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")
HOST_BW = 20e9
GPU_BW = 288e9


@pytest.fixture(autouse=True)
def fixed_bandwidth() -> None:
    """Cached bandwidths, so nothing is measured and the speed column is the same everywhere."""
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bandwidth.json").write_text(json.dumps({"bandwidth_bytes_s": HOST_BW}))
    (folder / "gpu_bandwidth.json").write_text(json.dumps({"bandwidth_bytes_s": GPU_BW}))


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server() as server:
        yield server


def variants_app(
    server: ReplayServer, model: str, backend: str = "", samples: list[Sample] | None = None
) -> SlmdeckApp:
    cfg = Config(
        probe_timeout=REACHABLE,
        ollama_host=server.host_port,
        model_dirs=[FIXTURES],
        retry_interval=0,
    )
    opts = {"model": model, **({"backend": backend} if backend else {})}
    monitor = Monitor.replay(samples or SAMPLES[-1:], preload=True)
    return make_app(cfg, start_screen="variants", screen_options=opts, monitor=monitor)


async def wait_for(pilot, predicate: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, predicate, what)


async def ready(pilot) -> VariantsScreen:  # type: ignore[no-untyped-def]
    await pilot.app.controller.refresh_all()
    await pilot.pause()  # the models-changed events restart the screen's reading; let them
    screen = pilot.app.screen
    assert isinstance(screen, VariantsScreen)
    await screen._load().wait()  # read once more, now that every backend has answered
    await pilot.pause()
    assert screen.rows or screen._problem
    return screen


def low_memory(ram: int) -> list[Sample]:
    """The recorded machine with no GPU and only ``ram`` bytes available."""
    return [dataclasses.replace(SAMPLES[-1], ram_available=ram, gpus=())]


async def test_installed_ollama_model_uses_show_dims_and_exact_size(replay: ReplayServer) -> None:
    app = variants_app(replay, "qwen2.5:0.5b", "ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert screen.resolved is not None
        dims = screen.resolved.dims
        assert (dims.source, dims.n_layers, dims.n_kv_heads, dims.context_length) == (
            "ollama",
            24,
            2,
            32768,
        )
        quants = {r.variant.quant for r in screen.rows}
        assert {"Q4_K_M", "Q8_0", "F16", "Q2_K"} <= quants
        installed = [r.variant for r in screen.rows if r.variant.installed]
        assert [(v.quant, v.file_size, v.size_estimated) for v in installed] == [
            ("Q4_K_M", 397821319, False)
        ]
        # Ranked best quality first; the best that fits is pre-selected.
        bpws = [r.variant.bpw for r in screen.rows]
        assert bpws == sorted(bpws, reverse=True)
        best = next(r for r in screen.rows if r.best)
        assert screen.current is best
        assert best.fit.level in (FitLevel.PERFECT, FitLevel.GOOD)
        budget = str(screen.query_one("#variants-budget", Static).render())
        # The recorded A2000's free memory, through the monitor (the gauges' source).
        free = SAMPLES[-1].gpus[0].memory_free
        assert f"free VRAM {format_bytes(free)}" in budget
        assert screen.budget is not None and screen.budget.free_vram == free


async def test_context_and_kv_type_recompute_live(replay: ReplayServer) -> None:
    app = variants_app(replay, "qwen2.5:0.5b", "ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert screen.resolved is not None
        dims = screen.resolved.dims
        before = {r.variant.tag: r.memory for r in screen.rows}
        assert screen.ctx == 4096
        await pilot.press("plus")
        assert screen.ctx == 8192
        for r in screen.rows:
            assert r.memory.kv_cache == kv_cache_bytes(dims, 8192, "f16")
            assert r.memory.total > before[r.variant.tag].total
        assert "8,192" in str(screen.query_one("#variants-budget", Static).render())
        await pilot.press("k")
        assert screen.kv_type == "q8_0"
        assert all(r.memory.kv_cache == kv_cache_bytes(dims, 8192, "q8_0") for r in screen.rows)
        await pilot.press("minus", "minus")
        assert screen.ctx == 2048


async def test_fit_follows_free_memory_and_moves_the_pick(replay: ReplayServer) -> None:
    # 1.1 GB free RAM, no GPU: F16 and Q8_0 of a 0.5B model do not fit comfortably.
    app = variants_app(replay, "qwen2.5:0.5b", "ollama", samples=low_memory(1_100_000_000))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        by_quant = {r.variant.quant: r for r in screen.rows}
        assert by_quant["F16"].fit.level is FitLevel.TOO_TIGHT
        assert by_quant["F16"].tokps_ceiling == 0
        best = next(r for r in screen.rows if r.best)
        assert best.variant.bpw < by_quant["F16"].variant.bpw
        assert screen.current is best
        assert best.fit.where.value == "CPU"
        assert "Too tight" in str(screen.table.get_row(by_quant["F16"].variant.tag)[5])


async def test_enter_pulls_a_variant_that_is_not_installed(replay: ReplayServer) -> None:
    source = copy.deepcopy(replay.state.get("qwen2.5:0.5b"))
    assert source is not None
    source.name = "qwen2.5:0.5b-instruct-q8_0"
    source.layers = []
    source.__post_init__()
    replay.state.catalog[source.name] = source
    app = variants_app(replay, "qwen2.5:0.5b", "ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        row = next(i for i, r in enumerate(screen.rows) if r.variant.quant == "Q8_0")
        screen.table.move_cursor(row=row)
        await pilot.pause()
        assert screen.check_action("choose", ())
        variant = screen.rows[row].variant
        assert variant.file_size > 0
        # Enter asks first, with the download's size; n and escape pull nothing.
        for no in ("n", "escape"):
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, DownloadDialog), "the question")
            message = " ".join(str(w.render()) for w in app.screen.query(Static))
            assert "qwen2.5:0.5b-instruct-q8_0" in message and "metered" in message
            assert format_bytes(variant.file_size) in message
            await pilot.press(no)
            await wait_for(pilot, lambda: app.screen is screen, "the question gone")
        assert not any(r.path == "/api/pull" for r in replay.requests)
        assert not screen.query_one(OperationsPanel).running()
        # Enter again, then enter (the answer under the cursor is yes) pulls.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadDialog), "the question")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any(r.variant.installed and r.variant.quant == "Q8_0" for r in screen.rows),
            "the pulled variant marked installed",
        )
        assert any(r.path == "/api/pull" for r in replay.requests)


async def test_gguf_file_gives_exact_weights(replay: ReplayServer) -> None:
    from tui.core.gguf_info import read_gguf

    info = read_gguf(TINY_GGUF)
    app = variants_app(replay, str(TINY_GGUF))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert screen.resolved is not None and screen.resolved.kind == "gguf"
        (row,) = screen.rows
        assert row.variant.file_size == info.weights_bytes and row.variant.installed


async def test_onnx_folder_lists_installed_and_other_precisions(replay: ReplayServer) -> None:
    app = variants_app(replay, "tiny-llama", "onnx")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert screen.resolved is not None and screen.resolved.kind == "onnx"
        assert screen.resolved.dims.source == "onnx"
        quants = {r.variant.quant: r.variant for r in screen.rows}
        assert quants["int4"].installed and not quants["int4"].size_estimated
        assert {"int8", "fp16", "fp32"} <= set(quants)
        assert not quants["fp16"].installed
        row = next(i for i, r in enumerate(screen.rows) if r.variant.quant == "fp16")
        screen.table.move_cursor(row=row)
        await pilot.pause()
        assert not screen.check_action("choose", ())  # nothing here can convert it


async def test_catalog_model_not_installed(replay: ReplayServer) -> None:
    app = variants_app(replay, "llama3.2:1b")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert screen.resolved is not None and screen.resolved.kind == "catalog"
        assert all(not r.variant.installed for r in screen.rows)
        assert len(screen.rows) == 15 and any(r.best for r in screen.rows)


async def test_unknown_model_says_so(replay: ReplayServer) -> None:
    app = variants_app(replay, "no-such-family:9b")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert "not in the offline catalog" in screen._problem
        assert "not in the offline catalog" in str(
            screen.query_one("#variants-note", Static).render()
        )


def test_context_steps() -> None:
    assert next_ctx(4096, True, 32768) == 8192
    assert next_ctx(4096, False, 32768) == 2048
    assert next_ctx(3000, True, 32768) == 4096
    assert next_ctx(32768, True, 40960) == 40960
    assert next_ctx(40960, False, 40960) == 32768
    assert next_ctx(512, False, 40960) == 512


async def test_opened_with_no_model_starts_from_the_first_installed(replay: ReplayServer) -> None:
    app = variants_app(replay, "")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.app.controller.refresh_all()
        screen = pilot.app.screen
        assert isinstance(screen, VariantsScreen)
        await wait_for(pilot, lambda: screen.rows, "variant rows")
        # The first model of whichever backend answered first: never a blank page.
        installed = {(m.name, m.backend) for m in app.controller.all_models()}
        assert (screen.model, screen.backend_id) in installed
        assert "No model chosen" not in str(screen.query_one("#variants-note", Static).render())


async def test_a_model_chosen_here_stays_and_is_not_sent_to_other_screens(
    replay: ReplayServer,
) -> None:
    app = variants_app(replay, "qwen2.5:0.5b", "ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        asked = app.screen_options
        await pilot.press("o")
        await pilot.pause()
        app.screen.query_one("Input").value = "qwen2.5:3b"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.model == "qwen2.5:3b" and screen.rows, "the new rows")
        assert app.screen_options is asked  # the Chat screen must not take it as a request
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("3")
        await pilot.pause()
        assert app.screen is screen and screen.model == "qwen2.5:3b"
        # A new request from another screen still replaces it.
        app.open_screen("variants", model="qwen2.5:0.5b", backend="ollama")
        await pilot.pause()
        assert screen.model == "qwen2.5:0.5b"


async def test_enter_on_the_installed_row_chats_with_the_installed_name(
    replay: ReplayServer,
) -> None:
    app = variants_app(replay, "qwen2.5:0.5b", "ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        row = next(i for i, r in enumerate(screen.rows) if r.variant.installed)
        installed = screen.rows[row].variant
        # The catalog row carries the registry tag; the backend knows the model by another name.
        assert installed.tag != "qwen2.5:0.5b" and installed.installed_as == "qwen2.5:0.5b"
        screen.table.move_cursor(row=row)
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "chat", "the Chat screen")
        assert app.screen_options == {"model": "qwen2.5:0.5b", "backend": "ollama"}
