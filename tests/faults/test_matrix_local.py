"""The fault matrix for local parts: the config file, the chat store, model folders, Modelfiles,
and the terminal shrinking mid-stream. Same checks as the server cells: the app keeps running,
keys reach their handlers within 250 ms, what was there is kept, a message names the file and the
cause, and things work again once the part is healthy."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import OptionList

from tests.chatpilot import ready as chat_ready
from tests.chatpilot import send
from tests.conftest import FIXTURES, TINY_ONNX
from tests.faults.harness import (
    ONNX_MODEL,
    SAMPLES,
    KeyClock,
    alive,
    deck_app,
    ollama_backend,
    shown_models,
    stored_replies,
    wait_state,
)
from tests.faults.test_special_files import release
from tests.keytime import CLOCK, within_budget
from tests.ollama_replay import ReplayServer, ReplayState
from tests.ollama_replay import start_replay_server as start_replay
from tests.waiting import until
from tui.app import make_app
from tui.backends.onnx_genai import OnnxGenAIBackend
from tui.cli import main
from tui.config import load_config
from tui.controller import BackendStatus, Controller
from tui.monitor import Monitor
from tui.screens.backends import BackendsScreen
from tui.screens.editor import EditorScreen
from tui.screens.models import ModelsScreen
from tui.store.db import DB_NAME

MODEL = "qwen2.5:0.5b"


@pytest.fixture(scope="module")
def module_server() -> Iterator[ReplayServer]:
    with start_replay() as srv:
        yield srv


@pytest.fixture
def server(module_server: ReplayServer) -> ReplayServer:
    module_server.state = module_server.httpd.state = ReplayState()
    module_server.set_reply("one two three")
    return module_server


# ------------------------------------------------------------------------------------ config

CONFIGS = {
    "corrupt": ("[backends\nprobe_timeout = 1\n", "is not valid TOML"),
    "wrong-type": ('[backends]\nprobe_timeout = "x"\n[monitor]\ninterval = "fast"\n', '"x"'),
    "out-of-range": ("[backends]\nprobe_timeout = nan\nretry_interval = -1\n", "nan"),
    "theme-number": ("[ui]\ntheme = 3\n", "theme = 3"),
}


@pytest.mark.parametrize("scenario", list(CONFIGS))
async def test_config(isolated_env: Path, scenario: str) -> None:
    """A bad config file: the app starts on defaults and says which file and what is wrong."""
    text, cause = CONFIGS[scenario]
    path = isolated_env / "config" / "config.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config()
    assert config.problems and any(cause in p for p in config.problems), config.problems
    app = make_app(config, monitor=Monitor.replay(SAMPLES, preload=True))
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        await until(pilot, lambda: isinstance(app.screen, BackendsScreen), "the first screen")
        shown = [n.message for n in app._notifications if n.title == "Settings"]
        assert any(cause in m for m in shown), shown
        await keys.switch(pilot, "2", ModelsScreen)
        await keys.switch(pilot, "1", BackendsScreen)
        alive(app)
    assert config.probe_timeout == 2.0 and config.theme == "slmdeck-dark"  # defaults kept
    path.write_text("[backends]\nprobe_timeout = 1\n", encoding="utf-8")
    assert load_config().problems == []


@pytest.mark.parametrize("command", ["models", "doctor"])
@pytest.mark.parametrize("scenario", list(CONFIGS))
def test_config_cli(
    isolated_env: Path, capsys: pytest.CaptureFixture[str], scenario: str, command: str
) -> None:
    """The headless commands run on defaults and name the file and the problem; fixed, quiet."""
    text, cause = CONFIGS[scenario]
    path = isolated_env / "config" / "config.toml"
    path.write_text(text, encoding="utf-8")
    assert main([command]) in (0, 1)  # 1: doctor found no backend up (none is configured)
    out, err = capsys.readouterr()
    said = [x for x in (out + err).splitlines() if cause in x]
    assert said and "Traceback" not in out + err
    assert str(path) in said[0] or str(path) in out + err
    path.write_text("[backends]\nprobe_timeout = 1\n", encoding="utf-8")
    main([command])
    out, err = capsys.readouterr()
    assert cause not in out + err and "problem" not in out + err


# ------------------------------------------------------------------------------ chat store


def break_store(kind: str, folder: Path) -> sqlite3.Connection | None:
    """Make the chat store under ``folder`` unusable; a lock is held by the connection returned."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / DB_NAME
    if kind == "corrupt":
        db.write_bytes(b"this is not a database" * 100)
        return None
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("BEGIN EXCLUSIVE")
    return conn


@pytest.mark.parametrize("kind", ["corrupt", "locked"])
async def test_store(server: ReplayServer, isolated_env: Path, kind: str) -> None:
    """The history cannot be used: chat still answers, one line says why, nothing is deleted;
    once the store is usable again, replies are kept again."""
    data = isolated_env / "data"
    lock = break_store(kind, data)
    before = (data / DB_NAME).read_bytes() if kind == "corrupt" else b""
    app = deck_app(ollama_backend(server.url), "chat", {"model": MODEL, "backend": "ollama"})
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        screen = await chat_ready(pilot)
        await send(pilot, screen, "hello")
        await keys.keys_answer(pilot)
        assert screen.chat.problem and str(data / DB_NAME) in screen.chat.problem, (
            screen.chat.problem
        )
        assert screen.chat.messages[-1].content == "one two three"  # answered, not stored
        if kind == "corrupt":
            assert (data / DB_NAME).read_bytes() == before  # kept for the user, never deleted
            (data / DB_NAME).rename(data / "slmdeck.db.broken")
        else:
            assert lock is not None
            lock.execute("ROLLBACK")
            lock.close()
        await send(pilot, screen, "again")
        await until(pilot, lambda: not screen.chat.problem, "the store reconnected")
        assert ("complete", "one two three") in stored_replies()
        alive(app)


# --------------------------------------------------------------------------- model folders


async def test_model_folder_fifo_and_broken(tmp_path: Path) -> None:
    """A FIFO where a model file should be, and a folder with a broken genai_config.json: the
    good model is listed, each skipped folder named with why, keys work, q quits at once; with
    the folders fixed, r lists them."""
    root = tmp_path / "models"
    shutil.copytree(TINY_ONNX, root / "good")
    (root / "pipe").mkdir()
    os.mkfifo(root / "pipe" / "genai_config.json")
    (root / "broken").mkdir()
    (root / "broken" / "genai_config.json").write_text("{not json", encoding="utf-8")
    controller = Controller(
        [OnnxGenAIBackend([root])], retry_interval=0, monitor=Monitor.replay(SAMPLES, preload=True)
    )
    app = make_app(load_config(), controller=controller)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            keys = KeyClock(app)
            await wait_state(pilot, app, "onnx", BackendStatus.UP)
            problems = app.controller.states["onnx"].problems
            assert len(problems) == 2, problems
            assert any(str(root / "pipe") in p and "FIFO" in p for p in problems)
            assert any(str(root / "broken") in p for p in problems)
            await keys.switch(pilot, "2", ModelsScreen)
            await until(pilot, lambda: shown_models(app) == [ONNX_MODEL], "the good model")
            await keys.switch(pilot, "1", BackendsScreen)
            (root / "pipe" / "genai_config.json").unlink()
            shutil.rmtree(root / "broken")
            await pilot.press("r")
            await until(pilot, lambda: not app.controller.states["onnx"].problems, "no problems")
            started = time.monotonic()
            await pilot.press("q")
        assert time.monotonic() - started < 10
    finally:
        release([root / "pipe" / "genai_config.json"])


# ------------------------------------------------------------------------------- Modelfiles

MODELFILES = {
    # scenario: (bytes, a problem the editor lists, or the reason it refuses the file)
    "1mb-line": (b"FROM llama3.2\nSYSTEM " + b"x" * 1_000_000 + b"\n", ""),
    "invalid-utf8": (b"FROM llama3.2\nSYSTEM caf\xe9 \xff\n", "not UTF-8"),
    "nul-bytes": (b"FROM llama3.2\nSYSTEM a\x00b\x00\n", "is a binary file"),
}


@pytest.mark.parametrize("scenario", list(MODELFILES))
async def test_modelfile(tmp_path: Path, scenario: str) -> None:
    """A pathological Modelfile opens (or, for a binary one, is refused with a message naming
    it); a typed key shows within 250 ms; the file's bytes are untouched; bytes that are not
    UTF-8 are listed as a problem; a clean file then opens."""
    raw, cause = MODELFILES[scenario]
    path = tmp_path / "Modelfile"
    path.write_bytes(raw)
    controller = Controller(
        [OnnxGenAIBackend([FIXTURES])],
        retry_interval=0,
        monitor=Monitor.replay(SAMPLES, preload=True),
    )
    app = make_app(
        load_config(),
        controller=controller,
        start_screen="editor",
        screen_options={"file": str(path)},
    )
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        screen = app.screen
        assert isinstance(screen, EditorScreen)
        if scenario == "nul-bytes":
            await until(pilot, lambda: keys.notes or app._notifications, "the refusal")
            (note,) = [n.message for n in app._notifications if n.title == "Cannot open"]
            assert note == f"{path} {cause}, not a Modelfile or JSON text."
            assert not screen.editor.text.startswith("FROM")
            clean = tmp_path / "Clean.Modelfile"
            clean.write_text("FROM llama3.2\n", encoding="utf-8")
            screen.open_file(clean)
        await until(pilot, lambda: screen.editor.text.startswith("FROM"), "the file shown")
        screen.editor.focus()
        screen.editor.move_cursor((0, 0))
        typed: list[str] = []

        async def type_z() -> float:
            pressed = CLOCK.mark()
            await pilot.press("z")
            typed.append("z")
            shown = "".join(typed) + "FROM"
            await until(pilot, lambda: screen.editor.text.startswith(shown), "the typed key")
            return CLOCK.since(pressed)

        await within_budget(type_z, "z")
        await pilot.press("escape")
        await keys.keys_answer(pilot)
        if scenario == "invalid-utf8":
            problems = screen.query_one("#editor-problems", OptionList)
            texts = [
                str(problems.get_option_at_index(i).prompt) for i in range(problems.option_count)
            ]
            assert any(cause in t for t in texts), texts
        alive(app)
    assert path.read_bytes() == raw


# ---------------------------------------------------------------------------------- resize


async def test_resize_mid_stream(server: ReplayServer) -> None:
    """The terminal shrinks to 20x5 while a reply streams, then grows back: nothing breaks,
    keys answer, the reply completes and is kept."""
    server.set_reply(" ".join(f"w{i}" for i in range(60)))
    server.state.token_rate = 60.0
    app = deck_app(ollama_backend(server.url), "chat", {"model": MODEL, "backend": "ollama"})
    async with app.run_test(size=(100, 30)) as pilot:
        keys = KeyClock(app)
        screen = await chat_ready(pilot)
        screen.prompt.value = "hello"
        screen.prompt.focus()
        await pilot.press("enter")
        await until(pilot, lambda: stored_replies() and stored_replies()[-1][1], "tokens")
        await pilot.resize_terminal(20, 5)
        await keys.keys_answer(pilot)
        await pilot.resize_terminal(100, 30)
        assert screen._turn_worker is not None
        await screen._turn_worker.wait()
        await pilot.pause()
        assert stored_replies()[-1] == ("complete", " ".join(f"w{i}" for i in range(60)))
        server.state.token_rate = None
        await send(pilot, screen, "again")
        alive(app)
