"""Pilot tests of the Models screen against the Ollama replay server and real ONNX folders:
filter, sort, pull with cancel (and resume), GGUF import, folder registration, delete with confirm,
copy, and actions that follow the backend's capabilities."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.conftest import FIXTURES, REACHABLE, TINY_GGUF, TINY_ONNX
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until
from tui.app import SlmdeckApp, make_app
from tui.config import Config, data_dir, load_config
from tui.controller import OperationState
from tui.monitor import Monitor, load_samples
from tui.screens.models import ModelsScreen, gguf_path_problem, name_from_file
from tui.store.db import Database
from tui.store.drafts import AuditLog
from tui.widgets.confirm import ChoiceDialog, ConfirmDialog
from tui.widgets.model_table import ModelTable
from tui.widgets.progress import OperationsPanel
from tui.widgets.prompt import PathCompletion, PromptDialog

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server() as server:
        yield server


def models_app(server: ReplayServer, model_dirs: list[Path] | None = None) -> SlmdeckApp:
    cfg = Config(
        probe_timeout=REACHABLE,
        ollama_host=server.host_port,
        model_dirs=model_dirs if model_dirs is not None else [FIXTURES],
        retry_interval=0,
    )
    return make_app(cfg, start_screen="models", monitor=Monitor.replay(SAMPLES, preload=True))


async def wait_for(pilot, predicate: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, predicate, what)


async def ready(pilot) -> ModelsScreen:  # type: ignore[no-untyped-def]
    await pilot.app.controller.refresh_all()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ModelsScreen)
    return screen


def names(screen: ModelsScreen) -> list[str]:
    return [r.info.name for r in screen.query_one(ModelTable).shown]


async def highlight(pilot, screen: ModelsScreen, name: str) -> None:  # type: ignore[no-untyped-def]
    table = screen.query_one(ModelTable)
    table.move_cursor(row=names(screen).index(name))
    await pilot.pause()
    assert table.current is not None and table.current.info.name == name


async def test_lists_every_backend_with_details(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert sorted(names(screen)) == sorted(
            [
                "llama3.2:latest",
                "nomic-embed-text:latest",
                "qwen2.5:0.5b",
                "qwen3:0.6b",
                "tiny-llama",
            ]
        )
        await highlight(pilot, screen, "qwen3:0.6b")
        body = screen.query_one("#details-body", Static)
        await wait_for(pilot, lambda: "thinking" in str(body.render()), "the details of qwen3")
        text = str(body.render())
        assert "context 40,960" in text and "temperature 0.6" in text and "<|im_start|>" in text
        await highlight(pilot, screen, "tiny-llama")
        await wait_for(pilot, lambda: "Search settings" in str(body.render()), "ONNX details")
        text = str(body.render())
        assert "precision int4" in text and "genai_config.json" in text and "max_length" in text


async def test_filter_as_you_type(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press("slash", *"qwen")
        assert sorted(names(screen)) == ["qwen2.5:0.5b", "qwen3:0.6b"]
        assert "2 of 5" in str(screen.query_one("#models-title", Static).render())
        await pilot.press("space", *"0.6")
        assert names(screen) == ["qwen3:0.6b"]
        await pilot.press(*"zzz")
        assert names(screen) == []
        await pilot.press("escape")
        assert len(names(screen)) == 5
        assert not screen.query_one("#models-filter", Input).display
        assert screen.focused is screen.query_one(ModelTable)


async def test_sort_by_any_column(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        table = screen.query_one(ModelTable)
        assert names(screen) == sorted(names(screen), key=str.lower)
        while table.sort_column != "size":
            await pilot.press("s")
        sizes = [r.info.size for r in table.shown]
        assert sizes == sorted(sizes)
        assert "sorted by size" in str(screen.query_one("#models-title", Static).render())
        await pilot.press("S")
        assert [r.info.size for r in table.shown] == sorted(sizes, reverse=True)
        table.sort_by("params", reverse=False)
        await pilot.pause()
        assert names(screen)[:2] == ["tiny-llama", "nomic-embed-text:latest"]


async def test_pull_progress_cancel_and_pull_again(replay: ReplayServer) -> None:
    replay.state.pull_rate = 20_000_000  # smollm2:135m is 270 MB: about 14 s at this rate
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press("p")
        assert isinstance(app.screen, PromptDialog)
        app.screen.query_one(Input).value = "smollm2:135m"
        await pilot.press("enter")
        panel = screen.query_one(OperationsPanel)
        await wait_for(
            pilot,
            lambda: panel.running() and (panel.transfers[panel.running()[0].id].completed > 0),
            "pull progress",
        )
        op = app.controller.operations[panel.running()[0].id]  # the live one, not a copy
        line = str(panel.render())
        assert "pull smollm2:135m" in line and "%" in line and "MiB" in line
        # Progress goes on while another screen is shown: the task belongs to the controller.
        # The hidden Models screen does no work for it, and catches up when shown again.
        await pilot.press("1")
        await wait_for(pilot, lambda: app.screen is not screen, "the Backends screen")
        shown = panel.transfers[op.id].completed
        assert op.progress is not None
        done_before = op.progress.completed
        await wait_for(
            pilot,
            lambda: op.progress is not None and op.progress.completed > done_before,
            "progress off-screen",
        )
        assert panel.transfers[op.id].completed == shown
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen is screen, "the Models screen again")
        await wait_for(
            pilot, lambda: panel.transfers[op.id].completed > shown, "Models catching up"
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: op.state is OperationState.CANCELLED, "cancellation")
        assert replay.wait_for_disconnect("/api/pull")
        await wait_for(pilot, lambda: "cancelled" in str(panel.render()), "the panel's cancel line")
        assert "smollm2:135m" not in names(screen)
        # Pull again: it resumes and completes.
        replay.state.pull_rate = None
        screen.start_pull("ollama", "smollm2:135m")
        await wait_for(pilot, lambda: "smollm2:135m" in names(screen), "the pulled model")
        audit = AuditLog(Database.in_dir(data_dir()))
        await wait_for(pilot, lambda: len(audit.recent()) >= 2, "audit entries")
        outcomes = {(e.operation, e.outcome) for e in audit.recent()}
        assert {("pull", "cancelled"), ("pull", "done")} <= outcomes
        audit.db.close()


async def test_failed_pull_says_why(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        op = screen.start_pull("ollama", "no-such-model:1b")
        await wait_for(pilot, lambda: op.state is OperationState.FAILED, "the failure")
        panel = screen.query_one(OperationsPanel)
        # The operation's end reaches the panel as a message: wait for it, not for a while.
        await wait_for(pilot, lambda: "failed" in str(panel.render()), "the panel's failure line")
        text = str(panel.render())
        # A name the registry lacks: said so, and no advice to run it again.
        assert "'no-such-model:1b' was not found in the registry" in text
        assert "file does not exist" in text and "again" not in text
        assert not op.retryable


async def test_import_gguf_file(replay: ReplayServer, tmp_path: Path) -> None:
    gguf = tmp_path / "Tiny Llama.F32.gguf"
    shutil.copy(TINY_GGUF, gguf)
    digest = "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press("i")
        dialog = app.screen
        assert isinstance(dialog, PromptDialog)
        assert dialog.paths == PathCompletion(suffixes=(".gguf",))  # Tab completes the path
        dialog.query_one(Input).value = str(tmp_path / "Tiny")
        await pilot.press("tab")
        await wait_for(pilot, lambda: dialog.completions == 1, "the path completed")
        assert dialog.query_one(Input).value == str(gguf)
        dialog.query_one(Input).value = str(tmp_path / "missing.gguf")
        await pilot.press("enter")
        error = dialog.query_one("#prompt-error", Static)
        assert "does not exist" in str(error.render())
        dialog.query_one(Input).value = str(gguf)
        await pilot.press("enter")
        assert isinstance(app.screen, PromptDialog)
        assert app.screen.query_one(Input).value == "tiny-llama.f32"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "tiny-llama.f32:latest" in names(screen), "imported model")
        uploads = [
            r for r in replay.requests if r.method == "POST" and r.path.startswith("/api/blobs/")
        ]
        assert uploads and uploads[0].path == f"/api/blobs/{digest}"
        assert uploads[0].body == gguf.stat().st_size


def test_gguf_path_problems_are_sentences(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    assert "not a GGUF file" in (gguf_path_problem(str(text)) or "")
    assert "is a folder" in (gguf_path_problem(str(tmp_path)) or "")
    assert gguf_path_problem(str(TINY_GGUF)) is None
    assert name_from_file(Path("/x/Qwen2.5 0.5B-Q4_K_M.gguf")) == "qwen2.5-0.5b-q4_k_m"


async def test_register_onnx_folder_in_place(replay: ReplayServer, tmp_path: Path) -> None:
    folder = tmp_path / "mine" / "tiny"
    shutil.copytree(TINY_ONNX, folder)
    app = models_app(replay, model_dirs=[])
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert "tiny-llama" not in names(screen)
        await pilot.press("a")
        dialog = app.screen
        assert isinstance(dialog, PromptDialog)
        assert dialog.paths == PathCompletion(dirs_only=True)
        dialog.query_one(Input).value = f"{tmp_path}/mi"
        await pilot.press("tab")
        await wait_for(pilot, lambda: dialog.completions == 1, "the folder completed")
        await pilot.press("tab")
        await wait_for(pilot, lambda: dialog.completions == 2, "the folder completed again")
        assert dialog.query_one(Input).value == f"{folder}/"
        dialog.query_one(Input).value = str(tmp_path)
        await pilot.press("enter")
        assert "no genai_config.json" in str(dialog.query_one("#prompt-error", Static).render())
        dialog.query_one(Input).value = str(folder)
        await pilot.press("enter")
        assert isinstance(app.screen, ChoiceDialog)
        await pilot.press("r")
        await wait_for(pilot, lambda: "tiny-llama" in names(screen), "the registered folder")
        assert folder in load_config().model_dirs


async def test_copy_onnx_folder_into_data_dir(replay: ReplayServer, tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    shutil.copytree(TINY_ONNX, folder)
    app = models_app(replay, model_dirs=[])
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        op = screen.start_folder_copy("onnx", folder)
        await wait_for(pilot, lambda: "tiny-llama" in names(screen), "the copied folder")
        await wait_for(pilot, lambda: op.state is OperationState.DONE, "the copy's end")
        managed = data_dir() / "models"
        assert (managed / "tiny" / "genai_config.json").is_file()
        assert not any(p.name.endswith(".partial") for p in managed.iterdir())
        assert managed in load_config().model_dirs


async def test_delete_asks_first(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await highlight(pilot, screen, "qwen3:0.6b")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and "qwen3:0.6b" in names(screen)
        assert replay.state.get("qwen3:0.6b") is not None
        table = screen.query_one(ModelTable)
        row = table.cursor_row
        assert row > 0
        await pilot.press("d")
        await pilot.press("y")
        await wait_for(pilot, lambda: "qwen3:0.6b" not in names(screen), "the deletion")
        assert replay.state.get("qwen3:0.6b") is None
        # The cursor stays where the deleted model was (on the row that took its place).
        assert table.cursor_row == min(row, len(table.shown) - 1)


async def test_copy_and_rename(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await highlight(pilot, screen, "qwen2.5:0.5b")
        await pilot.press("c")
        await pilot.press("enter")  # the same name: the dialog says so and stays
        assert "is its name now" in str(app.screen.query_one("#prompt-error", Static).render())
        app.screen.query_one(Input).value = ""
        await pilot.press("enter")
        assert str(app.screen.query_one("#prompt-error", Static).render()) == (
            "Type a new name, or press escape to cancel."
        )
        app.screen.query_one(Input).value = "my-qwen:tuned"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "my-qwen:tuned" in names(screen), "the copy")
        assert "qwen2.5:0.5b" in names(screen)
        await highlight(pilot, screen, "my-qwen:tuned")
        await pilot.press("m")
        app.screen.query_one(Input).value = "my-qwen:final"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "my-qwen:final" in names(screen), "the rename")
        assert "my-qwen:tuned" not in names(screen)


def footer_keys(app: SlmdeckApp) -> set[str]:
    """Keys the footer shows now (bindings whose check_action allows them)."""
    return {key for key, active in app.active_bindings.items() if active.binding.show}


async def test_actions_follow_capabilities(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await highlight(pilot, screen, "tiny-llama")
        assert "d" not in footer_keys(app) and "c" not in footer_keys(app)
        assert not screen.check_action("delete", ())
        assert not screen.check_action("copy", ())
        assert not screen.check_action("unload", ())  # not loaded
        assert screen.check_action("chat", ())
        await highlight(pilot, screen, "llama3.2:latest")
        assert screen.check_action("delete", ()) and screen.check_action("copy", ())
        assert screen.check_action("pull", ()) and screen.check_action("import_gguf", ())
        assert {"d", "c", "p", "enter"} <= footer_keys(app)


async def test_unload_a_loaded_model(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        backend = app.controller.backend("ollama")
        async for _ in backend.chat("qwen3:0.6b", []):  # loads it, as `ollama run` would
            pass
        screen._read_loaded()
        await wait_for(
            pilot,
            lambda: any(r.loaded for r in screen.query_one(ModelTable).shown),
            "the loaded model",
        )
        await highlight(pilot, screen, "qwen3:0.6b")
        assert screen.check_action("unload", ())
        await pilot.press("u")
        await wait_for(
            pilot,
            lambda: not any(r.loaded for r in screen.query_one(ModelTable).shown),
            "the unload",
        )


async def test_variants_key_opens_the_picker_for_the_model(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await highlight(pilot, screen, "qwen2.5:0.5b")
        await pilot.press("v")
        await pilot.pause()
        assert app.current_mode == "variants"
        assert app.screen_options == {"model": "qwen2.5:0.5b", "backend": "ollama"}
        await pilot.press("2")
        await pilot.press("e")  # the editor is another issue's screen: say so, don't fail
        await pilot.pause()
        assert app.current_mode in ("models", "editor")


async def test_folders_that_could_not_be_read_are_reported_not_dropped(
    replay: ReplayServer, tmp_path: Path
) -> None:
    from tui.screens.backends import BackendsScreen

    models = tmp_path / "models"
    shutil.copytree(TINY_ONNX, models / "tiny-llama")
    (models / "broken").mkdir()
    (models / "broken" / "genai_config.json").write_text("{not json")
    app = models_app(replay, model_dirs=[models])
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        title = screen.query_one("#models-title", Static)
        await wait_for(
            pilot, lambda: "1 entry not read (see Backends" in str(title.render()), "the count"
        )
        assert "tiny-llama" in names(screen)
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, BackendsScreen), "Backends")
        backends = app.screen
        table = backends.query_one("#backends-table")
        table.move_cursor(row=table.get_row_index("onnx"))  # type: ignore[attr-defined]
        detail = backends.query_one("#backend-detail", Static)
        await wait_for(pilot, lambda: "not read" in str(detail.render()), "the problem listed")
        text = str(detail.render())
        assert "broken/genai_config.json cannot be used: it is not valid JSON" in text


async def test_an_embedding_model_is_not_offered_for_chat(replay: ReplayServer) -> None:
    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await highlight(pilot, screen, "nomic-embed-text:latest")
        # What the backend reports (capabilities: embedding), not the name, decides.
        assert screen.query_one(ModelTable).current.info.capabilities == ("embedding",)  # type: ignore[union-attr]
        assert not screen.check_action("chat", ())
        screen.action_chat()
        await pilot.pause()
        assert app.screen is screen
        assert any("cannot chat" in n.message for n in app._notifications)
        await highlight(pilot, screen, "qwen2.5:0.5b")
        assert screen.check_action("chat", ())
