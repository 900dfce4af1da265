"""Pilot tests of the Editor screen: live diagnostics and jump-to, atomic save with .bak, a save that
fails (read-only folder, full disk) keeping the text, drafts autosaved and offered back after the
app is gone, create against the Ollama replay server, new from a chat format, open from a model
(Ollama's Modelfile and an ONNX folder's inference_model.json)."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

import tui.screens.editor as editor_module
from tests.conftest import FIXTURES, REACHABLE, TINY_ONNX
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.readonly import ReadOnlyDir, read_only_folder
from tests.waiting import until, workers_done
from tui.app import SlmdeckApp, make_app
from tui.config import Config, data_dir
from tui.controller import OperationState
from tui.core.chat_formats import CHATML, new_inference_model, new_modelfile
from tui.monitor import Monitor, load_samples
from tui.screens.editor import EditorScreen
from tui.store.db import Database
from tui.store.drafts import DraftStore
from tui.store.files import FileSystem
from tui.widgets.confirm import ChoiceDialog
from tui.widgets.progress import OperationsPanel
from tui.widgets.prompt import PromptDialog

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server() as server:
        yield server


def editor_app(
    server: ReplayServer | None = None,
    *,
    model_dirs: list[Path] | None = None,
    **options: str,
) -> SlmdeckApp:
    cfg = Config(
        ollama_host=server.host_port if server is not None else "127.0.0.1:1",
        model_dirs=model_dirs or [Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    return make_app(
        cfg,
        start_screen="editor",
        screen_options=dict(options),
        monitor=Monitor.replay(SAMPLES, preload=True),
    )


async def wait_for(pilot, predicate: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, predicate, what)


async def ready(pilot) -> EditorScreen:  # type: ignore[no-untyped-def]
    screen = pilot.app.screen
    assert isinstance(screen, EditorScreen)
    await screen.store_ready.wait()
    await pilot.pause()
    return screen


def messages(app: SlmdeckApp, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity in (None, n.severity)]


def analysed(screen: EditorScreen) -> bool:
    """The text shown has been analysed (not an earlier version, typed part-way)."""
    return screen.analysis.text == screen.editor.text


async def answer_prompt(pilot, value: str) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptDialog), "a prompt")
    pilot.app.screen.query_one(Input).value = value
    await pilot.press("enter")


async def choose(pilot, key: str) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ChoiceDialog), "a choice")
    await pilot.press(key)


def pending_drafts() -> list[tuple[str, str]]:
    db = Database.in_dir(data_dir())
    try:
        return [(d.key, d.text) for d in DraftStore(db).pending()]
    finally:
        db.close()


# ------------------------------------------------------------------ diagnostics


async def test_empty_from_is_one_problem_and_long_ones_show_whole() -> None:
    """``FROM`` alone is one diagnostic (not also "no FROM line"), and a long diagnostic is
    wrapped whole in the problems list at 80x24, none of its words cut off or scrolled away."""
    app = editor_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM")
        await wait_for(pilot, lambda: analysed(screen) and screen.diagnostics, "a diagnostic")
        assert [d.message for d in screen.diagnostics] == ["FROM needs a value on the same line"]
        problems = screen.query_one("#editor-problems", OptionList)
        assert problems.option_count == 1
        await pilot.press(*" Not A Name!")
        await wait_for(
            pilot,
            lambda: (
                analysed(screen) and any(d.code == "invalid-model-name" for d in screen.diagnostics)
            ),
            "the invalid name",
        )
        await pilot.pause()
        (message,) = [d.message for d in screen.diagnostics]
        assert len(message) > 3 * problems.content_size.width  # it needs several rows
        shown = " ".join(
            problems.render_line(y).text.strip() for y in range(problems.content_size.height)
        )
        assert " ".join(shown.split()).endswith(" ".join(message.split()))
        assert str(problems.border_subtitle) == "1 error"


async def test_typed_error_is_listed_marked_and_jumped_to() -> None:
    app = editor_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM llama3.2", "enter", *"PARAMETER num_ctx abc")
        await wait_for(pilot, lambda: analysed(screen) and screen.diagnostics, "a diagnostic")
        problems = screen.query_one("#editor-problems", OptionList)
        assert problems.option_count == 1
        assert "2:19" in str(problems.get_option_at_index(0).prompt)
        assert "invalid int value [abc]" in str(problems.get_option_at_index(0).prompt)
        assert "1 error" in str(problems.border_subtitle)
        assert screen.editor.gutter_mark(1) == "error" and screen.editor.gutter_mark(0) == ""
        # The underline covers the bad value on line 2.
        spans = [(s.start, s.end) for s in screen.editor.get_line(1).spans]
        assert (18, 21) in spans

        screen.editor.move_cursor((0, 0))
        await pilot.press("f2")
        assert screen.focused is problems
        await pilot.press("enter")
        assert screen.focused is screen.editor
        assert screen.editor.cursor_location == (1, 18)

        # Fixing it clears the list and the mark.
        await pilot.press("shift+end", "backspace", *"4096")
        await wait_for(pilot, lambda: not screen.diagnostics, "no diagnostics")
        assert problems.option_count == 0 and screen.editor.gutter_mark(1) == ""
        # Undo brings the error back (ctrl+z is shown in the footer).
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: screen.diagnostics, "the error again")


# ------------------------------------------------------------------ saving


async def test_save_writes_file_with_backup(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    target.write_text("FROM llama3.2\n")
    app = editor_app(file=str(target))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.editor.text == "FROM llama3.2\n", "the file")
        assert not screen.dirty
        screen.editor.move_cursor((1, 0))
        await pilot.press(*'SYSTEM "Be brief."')
        assert screen.dirty
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not screen.dirty, "the save")
        await workers_done(app)
        assert target.read_text() == 'FROM llama3.2\nSYSTEM "Be brief."'
        assert (tmp_path / "Modelfile.bak").read_text() == "FROM llama3.2\n"
        assert sorted(os.listdir(tmp_path)) == ["Modelfile", "Modelfile.bak"]
        assert any("Saved" in m and "Modelfile.bak" in m for m in messages(app))
        assert pending_drafts() == []


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[ReadOnlyDir]:
    """A folder holding a Modelfile that refuses writes: chmod for a normal user, a read-only
    bind mount for root (tests/readonly.py)."""
    with read_only_folder(tmp_path / "ro", {"Modelfile": "FROM llama3.2\n"}) as folder:
        yield folder


NOT_WRITABLE = {
    errno.EACCES: "permission denied: {} is not writable",
    errno.EROFS: "{} is on a read-only file system",
}


async def test_read_only_folder_says_why_and_keeps_text(readonly_dir: ReadOnlyDir) -> None:
    folder = readonly_dir.path
    target = folder / "Modelfile"
    app = editor_app(file=str(target))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.editor.text, "the file")
        screen.editor.move_cursor((1, 0))
        await pilot.press(*"PARAMETER temperature 0.2")
        edited = screen.editor.text
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: messages(app, "error"), "the error")
        await workers_done(app)
        reason = NOT_WRITABLE[readonly_dir.errno].format(folder)
        assert messages(app, "error") == [
            f"Could not save {target}: {reason}. Your text is still here, and kept as a draft."
        ], readonly_dir.how
        assert screen.editor.text == edited and screen.dirty
        assert target.read_text() == "FROM llama3.2\n"
        assert sorted(os.listdir(folder)) == ["Modelfile"]  # no temp file, no .bak left behind
        assert pending_drafts() == [(str(target), edited)]


class FullDisk(FileSystem):
    """Writes go to /dev/full, so the kernel itself answers ENOSPC."""

    def write(self, fd: int, data: bytes) -> None:
        full = os.open("/dev/full", os.O_WRONLY)
        try:
            os.write(full, data)
        finally:
            os.close(full)


async def test_full_disk_says_why_and_keeps_text(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    target.write_text("FROM llama3.2\n")
    app = editor_app(file=str(target))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.editor.text, "the file")
        screen.file_system = FullDisk()
        await pilot.press("end", "x")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: messages(app, "error"), "the error")
        assert "the disk is full" in messages(app, "error")[0]
        assert screen.editor.text == "FROM llama3.2x\n"
        assert sorted(os.listdir(tmp_path)) == ["Modelfile"]


# ------------------------------------------------------------------ drafts


async def test_autosaved_draft_is_offered_after_the_app_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(editor_module, "AUTOSAVE_SECONDS", 0.1)
    typed = "FROM qwen2.5:0.5b\nSYSTEM draft"
    app = editor_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM qwen2.5:0.5b", "enter", *"SYSTEM draft")
        # An autosave may land between two keys; the next one holds everything typed.
        await wait_for(
            pilot, lambda: [text for _, text in pending_drafts()] == [typed], "the autosave"
        )
        assert screen.editor.text == typed  # never saved: the app goes away here

    second = editor_app()
    async with second.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(second.screen, ChoiceDialog), "the offer")
        assert "Unsaved draft found" in second.screen.title_text
        assert "SYSTEM draft" in second.screen.message
        await pilot.press("r")
        screen = second.screen
        assert isinstance(screen, EditorScreen)
        await wait_for(pilot, lambda: screen.editor.text == typed, "the restored text")
        assert screen.dirty
        # Saving it (as a new file) discards the draft.
        await pilot.press("ctrl+s")
        await answer_prompt(pilot, str(tmp_path / "Restored.Modelfile"))
        await wait_for(pilot, lambda: not screen.dirty, "the save")
        await workers_done(second)
        assert (tmp_path / "Restored.Modelfile").read_text() == typed
        assert pending_drafts() == []

    third = editor_app()
    async with third.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await workers_done(third)
        assert isinstance(third.screen, EditorScreen)  # nothing offered


async def test_discarded_draft_is_not_offered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(editor_module, "AUTOSAVE_SECONDS", 0.1)
    app = editor_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press(*"FROM x")
        await wait_for(pilot, lambda: pending_drafts(), "the autosave")
    second = editor_app()
    async with second.run_test(size=(100, 30)) as pilot:
        await choose(pilot, "d")
        await wait_for(pilot, lambda: not pending_drafts(), "the discard")
        assert isinstance(second.screen, EditorScreen) and second.screen.editor.text == ""


# ------------------------------------------------------------------ new, open, create


async def test_new_from_each_kind_of_template() -> None:
    app = editor_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+n")
        await choose(pilot, "j")  # inference_model.json: the type is asked first
        await wait_for(
            pilot,
            lambda: getattr(pilot.app.screen, "title_text", "") == "New inference_model.json",
            "the chat format asked for that type",
        )
        await choose(pilot, "2")  # Llama 3
        await wait_for(pilot, lambda: screen.editor.text, "the new document")
        assert screen.editor.text == new_inference_model("llama3", "my-model")
        assert screen.doc.kind == "inference-model" and screen.diagnostics == []
        assert screen.preview is not None and screen.preview.exact
        assert "<|start_header_id|>assistant<|end_header_id|>" in (screen.preview.prompt or "")
        # JSON keys and {Content} are highlighted.
        styles = {str(s.style) for s in screen.editor.get_line(3).spans}
        assert len(styles) >= 2

        await pilot.press("ctrl+n")
        await choose(pilot, "m")  # Modelfile
        await choose(pilot, "1")  # ChatML
        expected = new_modelfile("chatml", "qwen2.5:0.5b")
        await wait_for(pilot, lambda: screen.editor.text == expected, "the Modelfile")
        assert screen.doc.kind == "modelfile" and screen.diagnostics == []
        assert screen.preview is not None and screen.preview.format_title == CHATML.title
        assert (screen.preview.prompt or "").endswith("<|im_start|>assistant\n")


async def test_open_ollama_model_shows_its_modelfile(replay: ReplayServer) -> None:
    app = editor_app(replay, model="llama3.2:latest", backend="ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        model = replay.state.get("llama3.2:latest")
        assert model is not None
        await wait_for(pilot, lambda: screen.editor.text == model.modelfile(), "the Modelfile")
        assert screen.doc.model == "llama3.2:latest" and screen.doc.backend == "ollama"
        assert not screen.dirty and screen.diagnostics == []
        assert screen.preview is not None and screen.preview.format_title == "Llama 3"
        # Opened again from the Models screen while edited: the edits stay.
        await pilot.press("end", *" # edited")
        edited = screen.editor.text
        assert edited != model.modelfile() and screen.dirty
        app.open_screen("editor", model="llama3.2:latest", backend="ollama")
        await pilot.pause()
        await workers_done(app)
        assert screen.editor.text == edited


async def test_create_from_modelfile_streams_progress_and_lists_the_model(
    replay: ReplayServer,
) -> None:
    app = editor_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await app.controller.refresh_all()
        await pilot.press("ctrl+n")
        await choose(pilot, "m")
        await choose(pilot, "1")
        await wait_for(pilot, lambda: screen.editor.text, "the new Modelfile")
        screen.editor.move_cursor(screen.editor.document.end)
        await pilot.press(*'SYSTEM "You answer in one line."')
        await pilot.press("ctrl+r")
        await answer_prompt(pilot, "one-liner")
        await choose(pilot, "k")  # keep the weights as they are
        panel = screen.query_one(OperationsPanel)
        await wait_for(pilot, lambda: panel.ops, "the operation in the panel")
        op = next(iter(panel.ops.values()))
        assert op.kind == "create" and op.title == "create one-liner"
        await wait_for(
            pilot,
            lambda: "one-liner:latest" in [m.name for m in app.controller.all_models()],
            "the new model in the list",
        )
        assert op.state is OperationState.DONE and op.progress is not None
        assert op.progress.status == "success"
        created = replay.state.get("one-liner")
        assert created is not None
        assert created.template == CHATML.template
        assert created.system == "You answer in one line."
        assert created.parameters == {"stop": list(CHATML.stop)}
        assert any("one-liner is created" in m for m in messages(app))


async def test_create_uploads_the_adapter_next_to_the_modelfile(
    replay: ReplayServer, tmp_path: Path
) -> None:
    (tmp_path / "lora.gguf").write_bytes((FIXTURES / "tiny-llama-f32.gguf").read_bytes()[:4096])
    (tmp_path / "peft").mkdir()
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM qwen2.5:0.5b\nADAPTER ./lora.gguf\n")
    app = editor_app(replay, file=str(modelfile))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await app.controller.refresh_all()
        await wait_for(pilot, lambda: screen.editor.text, "the Modelfile")
        op = screen.start_create("ollama", "tuned", None)
        assert op is not None
        await wait_for(
            pilot,
            lambda: "tuned:latest" in [m.name for m in app.controller.all_models()],
            "the new model in the list",
        )
        uploads = [r for r in replay.requests if r.path.startswith("/api/blobs/")]
        assert [r.method for r in uploads] == ["HEAD", "POST"]
        creates = [r.body for r in replay.requests if r.path == "/api/create"]
        assert creates[-1]["from"] == "qwen2.5:0.5b"
        assert list(creates[-1]["adapters"]) == ["lora.gguf"]
        # A safetensors folder is not something Ollama's create takes: said, nothing sent.
        screen.editor.text = "FROM qwen2.5:0.5b\nADAPTER ./peft\n"
        assert screen.start_create("ollama", "tuned2", None) is None
        await pilot.pause()
        assert any("ADAPTER ./peft is a folder" in m for m in messages(app, "error"))
        assert len([r for r in replay.requests if r.path == "/api/create"]) == 1


async def test_failed_create_says_why(replay: ReplayServer) -> None:
    app = editor_app(replay, model="qwen2.5:0.5b", backend="ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await app.controller.refresh_all()
        await wait_for(pilot, lambda: screen.editor.text, "the Modelfile")
        await pilot.press("ctrl+r")
        await answer_prompt(pilot, "qwen-small")
        await choose(pilot, "m")  # q4_K_M of a model that is q4_K_M already
        await wait_for(pilot, lambda: messages(app, "error"), "the failure")
        assert messages(app, "error") == [
            f"Ollama at {replay.host_port} answered 500: quantization is only supported for "
            "F16, BF16 and F32 models"
        ]
        assert "qwen-small:latest" not in [m.name for m in app.controller.all_models()]


async def test_create_refuses_a_modelfile_with_errors(replay: ReplayServer) -> None:
    app = editor_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM x", "enter", *"PARAMETER top_k many")
        await wait_for(pilot, lambda: screen.diagnostics, "the error")
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, EditorScreen)
        assert any("Fix the Modelfile first (1 error" in m for m in messages(app, "warning"))


async def test_onnx_model_opens_and_create_writes_its_inference_model(tmp_path: Path) -> None:
    models = tmp_path / "models"
    folder = models / "tiny-llama"
    shutil.copytree(TINY_ONNX, folder)
    original = (folder / "inference_model.json").read_text()
    app = editor_app(model_dirs=[models], model="tiny-llama", backend="onnx")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.editor.text == original, "inference_model.json")
        assert screen.doc.kind == "inference-model"
        assert screen.doc.path == folder / "inference_model.json"
        assert screen.preview is not None and "<|im_start|>assistant\n" in (
            screen.preview.prompt or ""
        )
        screen.editor.move_cursor((1, 11))
        await pilot.press(*"my-")
        edited = screen.editor.text
        assert '"Name": "my-tiny-llama"' in edited
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not screen.dirty, "the write")
        await workers_done(app)
        assert (folder / "inference_model.json").read_text() == edited
        assert (folder / "inference_model.json.bak").read_text() == original
        assert any("uses the new inference_model.json" in m for m in messages(app))


async def test_escape_leaves_the_text_so_screen_keys_work() -> None:
    app = editor_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM x2")  # the digit is text while the text has the focus
        assert screen.editor.text == "FROM x2" and app.current_mode == "editor"
        await pilot.press("escape")
        assert screen.focused is screen.problems
        await pilot.press("2")
        assert app.current_mode == "models"
        await pilot.press("4")
        assert app.screen is screen and screen.editor.text == "FROM x2"
        await pilot.press("escape")
        assert screen.focused is screen.editor


async def test_models_screen_e_opens_the_model_each_time(replay: ReplayServer) -> None:
    from tests.test_models_screen import highlight, models_app
    from tests.test_models_screen import ready as models_ready

    app = models_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        models = await models_ready(pilot)
        await highlight(pilot, models, "llama3.2:latest")
        await pilot.press("e")
        screen = await ready(pilot)
        llama = replay.state.get("llama3.2:latest")
        assert llama is not None
        await wait_for(pilot, lambda: screen.editor.text == llama.modelfile(), "llama's Modelfile")
        await pilot.press("escape", "2")
        await highlight(pilot, models, "qwen2.5:0.5b")
        await pilot.press("e")  # the editor screen exists already: it re-reads the options
        qwen = replay.state.get("qwen2.5:0.5b")
        assert qwen is not None
        await wait_for(pilot, lambda: screen.editor.text == qwen.modelfile(), "qwen's Modelfile")
        assert app.screen is screen and screen.doc.model == "qwen2.5:0.5b"


async def test_quit_with_unsaved_edits_asks_and_keeps_them_as_a_draft(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tui.widgets.confirm import QuitDialog

    monkeypatch.setattr(editor_module, "AUTOSAVE_SECONDS", 3600.0)  # no autosave: quit keeps it
    app = editor_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM qwen2.5:0.5b")
        assert screen.dirty and pending_drafts() == []
        # ctrl+c in the text area with nothing selected is quit: it asks first.
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitDialog), "the quit question")
        assert "Unsaved edits of" in app.screen.message
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, "back in the editor")
        assert screen.editor.text == "FROM qwen2.5:0.5b"
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitDialog), "the quit question")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, "the app to quit")
    assert [text for _, text in pending_drafts()] == ["FROM qwen2.5:0.5b"]


async def test_ctrl_c_copies_the_selection_in_the_editor() -> None:
    app = editor_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM qwen2.5:0.5b")
        screen.editor.select_all()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running and app.clipboard == "FROM qwen2.5:0.5b"


async def test_open_and_save_as_complete_paths_with_tab(tmp_path: Path) -> None:
    (tmp_path / "tutor.Modelfile").write_text("FROM qwen2.5:0.5b\n")
    app = editor_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        assert screen.doc.path is None
        await pilot.press("ctrl+s")  # a new document: save as asks where
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog), "save as")
        assert isinstance(app.screen, PromptDialog) and app.screen.paths is not None
        await pilot.press("escape")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog), "the open dialog")
        dialog = app.screen
        assert isinstance(dialog, PromptDialog) and dialog.paths is not None
        dialog.query_one(Input).value = f"{tmp_path}/tu"
        await pilot.press("tab")
        await wait_for(pilot, lambda: dialog.completions == 1, "the completion")
        assert dialog.query_one(Input).value == f"{tmp_path}/tutor.Modelfile"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.editor.text.startswith("FROM"), "the file opened")


async def test_file_asked_for_is_opened_and_another_files_draft_waits_for_its_file(
    tmp_path: Path,
) -> None:
    from tui.widgets.editor_doc import EditorDoc

    asked = tmp_path / "Asked.Modelfile"
    asked.write_text("FROM qwen2.5:0.5b\n")
    other = tmp_path / "Other.Modelfile"
    other.write_text("FROM llama3.2\n")
    doc = EditorDoc(kind="modelfile", path=other)
    db = Database.in_dir(data_dir())
    DraftStore(db).save(doc.key, "modelfile", "FROM llama3.2\nSYSTEM drafted\n", doc.origin())
    db.close()
    app = editor_app(file=str(asked))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.doc.path == asked, "the file asked for")
        await wait_for(
            pilot, lambda: any("1 other draft kept" in m for m in messages(app)), "the notice"
        )
        # Nothing was offered over the file asked for, and it is what the editor shows.
        assert not isinstance(app.screen, ChoiceDialog)
        assert screen.editor.text == "FROM qwen2.5:0.5b\n"
        # Opening the other file offers its own draft, and restoring keeps that file.
        screen.open_file(other)
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the offer")
        await pilot.press("r")
        await wait_for(pilot, lambda: "SYSTEM drafted" in screen.editor.text, "the draft")
        assert screen.doc.path == other and screen.dirty


async def test_create_decides_on_the_text_as_it_is_now_not_a_half_typed_analysis(
    replay: ReplayServer,
) -> None:
    app = editor_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await app.controller.refresh_all()
        screen.editor.load_text('FROM qwen2.5:0.5b\nSYSTEM "half')
        screen.analyze_now()
        await wait_for(pilot, screen.analysis_current, "the analysis of the half-typed text")
        assert any(d.severity == "error" for d in screen.diagnostics)
        # The rest is typed and the debounced analysis has not run yet (a busy machine):
        screen.analysis_delay = 3600.0
        screen.editor.move_cursor(screen.editor.document.end)
        await pilot.press(*' typed"')
        assert not screen.analysis_current()
        await pilot.press("ctrl+r")
        # ctrl+r checks the text as it is now: no error, so it asks for the new model's name.
        await answer_prompt(pilot, "now-checked")
        assert not any(d.severity == "error" for d in screen.diagnostics)
