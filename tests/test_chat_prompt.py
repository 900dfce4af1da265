"""The multi-line chat prompt (Pilot, against the Ollama replay): enter sends, ctrl+j and
shift+enter add a line, a paste keeps every line, the prompt grows to a few lines then scrolls,
up/down recall the session's earlier prompts, and the quit dialog names an unsent prompt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual import events

from tests.chatpilot import ready, send
from tests.conftest import REACHABLE
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.waiting import until
from tui.app import SlmdeckApp, make_app
from tui.backends.ollama import OllamaBackend
from tui.config import Config
from tui.controller import Controller
from tui.widgets.chat_message import MessageView

MODEL = "qwen2.5:0.5b"
CODE = "\n".join(f"    line_{i} = {i}  # of the pasted block" for i in range(40))


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server(reply="Noted.") as server:
        yield server


def chat_app(server: ReplayServer) -> SlmdeckApp:
    controller = Controller(
        [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
    )
    return make_app(
        Config(), controller=controller, start_screen="chat", screen_options={"model": MODEL}
    )


def sent_prompts(server: ReplayServer) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in server.requests if r.path == "/api/chat"]


async def test_paste_keeps_every_line_and_enter_sends_them(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        prompt = screen.prompt
        assert app.focused is prompt
        await pilot.press(*"Fix this:")
        await pilot.press("ctrl+j")
        app.post_message(events.Paste(CODE))  # as the driver posts a bracketed paste
        await until(pilot, lambda: prompt.line_count == 41, "the paste in the prompt")
        # It grew to a few lines, then scrolls: the conversation keeps the screen.
        assert 3 < prompt.outer_size.height <= 8
        assert prompt.max_scroll_y > 0
        await pilot.press("enter")
        await until(pilot, lambda: sent_prompts(replay), "the request")
        assert screen._turn_worker is not None
        await screen._turn_worker.wait()
        await pilot.pause()
        assert sent_prompts(replay) == ["Fix this:\n" + CODE]
        assert prompt.value == "" and prompt.outer_size.height == 3
        user = next(v for v in screen.query(MessageView) if v.role == "user")
        assert user.content == "Fix this:\n" + CODE  # the first line's indent is kept too


async def test_newline_keys_add_a_line_and_do_not_send(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press("a", "ctrl+j", "b", "shift+enter", "c")
        assert screen.prompt.value == "a\nb\nc"
        assert not sent_prompts(replay) and screen._turn_worker is None
        await pilot.press("enter")
        await until(pilot, lambda: sent_prompts(replay) == ["a\nb\nc"], "the three lines sent")


async def test_up_and_down_recall_earlier_prompts(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        prompt = screen.prompt
        await send(pilot, screen, "first")
        await send(pilot, screen, "second\nof two lines")
        await pilot.press(*"draft")
        await pilot.press("up")
        assert prompt.value == "second\nof two lines"
        assert prompt.cursor_location[0] == 0  # on the first line: up goes on back
        await pilot.press("up")
        assert prompt.value == "first"
        await pilot.press("up")  # the oldest stays
        assert prompt.value == "first"
        await pilot.press("down")
        # Forward, the cursor is on the last line: down goes on forward at once.
        assert prompt.value == "second\nof two lines" and prompt.cursor_location[0] == 1
        await pilot.press("up")  # within the recalled prompt: up moves to its first line
        assert prompt.value == "second\nof two lines" and prompt.cursor_location[0] == 0
        await pilot.press("down", "down")
        assert prompt.value == "draft"  # past the newest: what was being typed
        # A recalled prompt is sent as it is.
        await pilot.press("up", "up", "enter")
        await until(pilot, lambda: len(sent_prompts(replay)) == 3, "the recalled prompt sent")
        assert sent_prompts(replay)[-1] == "first"


async def test_quit_names_an_unsent_prompt(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert screen.unsaved_work() == []
        screen.prompt.value = "one\ntwo\nthree"
        assert screen.unsaved_work() == ["An unsent prompt (3 lines) in Chat; it is not kept."]
        screen.prompt.value = "just one"
        assert screen.unsaved_work() == ["An unsent prompt (1 line) in Chat; it is not kept."]
        screen.prompt.value = "   \n"
        assert screen.unsaved_work() == []
