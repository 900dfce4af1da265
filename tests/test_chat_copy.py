"""Copying by keyboard (Pilot): f3 lists every message and each code block, with a preview; enter
copies the one chosen (OSC 52 and the file); ctrl+b reaches a block the last reply ends inside."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList, Static

from tests.conftest import REACHABLE
from tests.waiting import until, workers_done
from tui.app import SlmdeckApp, make_app
from tui.config import Config, data_dir
from tui.screens.chat import ChatScreen
from tui.store.chats import open_chat_store
from tui.widgets.chat_copy import CopyPicker

FIRST = "Two ways:\n\n```python\nprint('one')\n```\n\nor\n\n```sh\necho two\necho three\n```\n"
CUT = "And the long one:\n\n```python\nfor i in range(3):\n    print(i)\n"  # ends inside


def seeded_app() -> SlmdeckApp:
    store = open_chat_store(data_dir())
    session = store.create_session("Copy", "ollama", "qwen2.5:0.5b")
    store.add_message(session.id, "user", "show me\nin two lines")
    store.add_message(session.id, "assistant", FIRST, model="qwen2.5:0.5b")
    store.add_message(session.id, "user", "more")
    store.add_message(session.id, "assistant", CUT, status="stopped", model="qwen2.5:0.5b")
    store.db.close()
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    return make_app(cfg, start_screen="chat")


async def test_pick_any_message_or_code_block_and_copy_it() -> None:
    app = seeded_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await screen.ready.wait()
        await workers_done(app)
        labels = [c.label for c in screen.copy_choices()]
        assert labels == [
            "You (2 lines): show me",
            "qwen2.5:0.5b (12 lines): Two ways:",
            "  └ code 1 (python, 1 line): print('one')",
            "  └ code 2 (sh, 2 lines): echo two",
            "You (1 line): more",
            "qwen2.5:0.5b (5 lines): And the long one:",
            "  └ code 1 (python, 2 lines, cut): for i in range(3):",
        ]
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, CopyPicker), "the copy picker")
        picker = app.screen
        options = picker.query_one(OptionList)
        assert options.highlighted == len(labels) - 1  # the newest first
        await pilot.press("up", "up", "up")  # to the sh block of the first reply
        preview = picker.query_one("#copy-preview", Static)
        await until(pilot, lambda: "echo three" in str(preview.render()), "the preview")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen, "the picker closed")
        await workers_done(app)
        assert app.clipboard == "echo two\necho three\n"
        assert (data_dir() / "clipboard.txt").read_text() == "echo two\necho three\n"
        # ctrl+b: the last reply's block, though the reply ends inside it.
        await pilot.press("ctrl+b")
        await workers_done(app)
        assert app.clipboard == "for i in range(3):\n    print(i)\n"
        # A prompt can be copied too; esc leaves without copying.
        await pilot.press("f3", "home")
        await until(pilot, lambda: isinstance(app.screen, CopyPicker), "the copy picker")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "the picker closed")
        assert app.clipboard == "for i in range(3):\n    print(i)\n"
