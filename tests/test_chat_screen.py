"""Pilot tests of the Chat screen against the Ollama replay server: stream, stop, regenerate,
sessions, parameters, export, copy; and the headless turn driver's saving and sanitizing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
from textual.widgets import Input, Markdown, Static
from textual.worker import WorkerCancelled

from tests.chatpilot import ready, send
from tests.conftest import REACHABLE
from tests.ollama_replay import ReplayServer, markdown_reply, start_replay_server, tokenize
from tests.waiting import until, workers_done
from tui.app import SlmdeckApp, make_app
from tui.backends.ollama import OllamaBackend
from tui.config import Config, data_dir
from tui.controller import Controller
from tui.screens.chat import FLUSH_INTERVAL, QUICK_INTERVAL, QUICK_ROWS, ChatScreen
from tui.store.chats import open_chat_store
from tui.widgets.chat_message import MessageView
from tui.widgets.chat_prompt import ChatPrompt
from tui.widgets.chat_stream import StreamingBody
from tui.widgets.gauge_strip import GaugeStrip

MODEL = "qwen2.5:0.5b"
REPLY = (
    "Here is **bold** text.\n\n```python\nprint('hi')\n```\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n"
    "And a final line."
)


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server(reply=REPLY) as server:
        yield server


def chat_app(server: ReplayServer, **options: str) -> SlmdeckApp:
    controller = Controller(
        [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
    )
    opts = {"model": MODEL, **options}
    return make_app(Config(), controller=controller, start_screen="chat", screen_options=opts)


async def let_through(pilot, screen: ChatScreen, gate: threading.Semaphore, count: int) -> None:  # type: ignore[no-untyped-def]
    """Let ``count`` more tokens out of a gated replay stream and wait until the screen has them."""
    turn = screen.chat.turn
    target = (turn.chunks if turn is not None else 0) + count
    gate.release(count)
    await wait_for(
        lambda: screen.chat.turn is not None and screen.chat.turn.chunks >= target,
        pilot,
        f"{target} tokens received",
    )
    await pilot.pause()


def views(screen: ChatScreen) -> list[MessageView]:
    return list(screen.query(MessageView))


async def wait_for(predicate, pilot, what: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, predicate, what)


async def test_stream_shows_markdown_and_stats_and_saves(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        assert (screen.backend_id, screen.model) == ("ollama", MODEL)
        await send(pilot, screen, "Say hello")
        user, reply = views(screen)
        assert user.role == "user" and user.content == "Say hello"
        assert reply.status == "complete"
        assert reply.content == REPLY
        body = reply.query_one(".msg-body", Markdown)
        assert body.source == REPLY
        # Rendered as Markdown: a fenced code block and a table became widgets.
        assert [type(b).__name__ for b in body.children].count("MarkdownFence") == 1
        assert [type(b).__name__ for b in body.children].count("MarkdownTable") == 1
        stats = str(reply.query_one(".msg-stats", Static).render())
        assert "TTFT" in stats and "tok/s" in stats and f"{len(tokenize(REPLY))} tokens" in stats
        # The replay server counted the tokens, so the stats say the backend's own figure.
        assert reply._stats["counted_by"] == "backend"
        sent = [r.body for r in replay.requests if r.path == "/api/chat"][-1]
        assert sent["messages"] == [{"role": "user", "content": "Say hello"}]
    store = open_chat_store(data_dir())
    (session,) = store.sessions()
    assert session.title == "Say hello" and session.model == MODEL
    _user_msg, reply_msg = store.messages(session.id)
    assert reply_msg.content == REPLY and reply_msg.status == "complete"
    assert reply_msg.stats["tokens"] == len(tokenize(REPLY))


async def test_escape_stops_keeps_partial_and_restores_prompt() -> None:
    long_reply = markdown_reply(3000)
    with start_replay_server(reply=long_reply) as server:
        gate = server.state.token_gate = threading.Semaphore(0)
        app = chat_app(server)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            screen.prompt.value = "Write a lot"
            await pilot.press("enter")
            await let_through(pilot, screen, gate, 20)
            await pilot.press("escape")
            gate.release(10_000)
            assert screen._turn_worker is not None
            with pytest.raises(WorkerCancelled):
                await screen._turn_worker.wait()
            await pilot.pause()
            # The request was really closed: the server saw the client hang up mid-stream.
            assert await asyncio.to_thread(server.wait_for_disconnect, "/api/chat", 10)
            reply = views(screen)[-1]
            assert reply.status == "stopped"
            assert 0 < len(reply.content) < len(long_reply)
            assert long_reply.startswith(reply.content)
            assert "[stopped]" in str(reply.query_one(".msg-header", Static).render())
            assert screen.query_one("#chat-prompt", ChatPrompt).value == "Write a lot"
            # The stats are said once, under the reply, not again in the status line.
            assert "stopped" in str(reply.query_one(".msg-stats", Static).render())
            status = str(screen.query_one("#chat-status", Static).render())
            assert "tokens" not in status and status.startswith("Stopped: your prompt is back")
            partial = reply.content
    store = open_chat_store(data_dir())
    (session,) = store.sessions()
    stored = store.messages(session.id)[-1]
    assert stored.status == "stopped" and stored.content == partial


async def test_regenerate_replaces_last_reply(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "first")
        replay.set_reply("A different answer.")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen._turn_worker is not None
        await screen._turn_worker.wait()
        await pilot.pause()
        shown = views(screen)
        assert [v.role for v in shown] == ["user", "assistant"]
        assert shown[-1].content == "A different answer."
        sent = [r.body for r in replay.requests if r.path == "/api/chat"][-1]
        # The regenerated request does not carry the replaced reply.
        assert sent["messages"] == [{"role": "user", "content": "first"}]
        assert screen.session is not None
        stored = open_chat_store(data_dir()).messages(screen.session.id)
        assert [(m.role, m.content) for m in stored] == [
            ("user", "first"),
            ("assistant", "A different answer."),
        ]


async def test_history_params_and_session_switch(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        # Parameters and system prompt through the dialog, before the first prompt.
        await pilot.press("ctrl+g")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#param-system").text = "Be brief."
        dialog.query_one("#param-temperature", Input).value = "0.2"
        dialog.query_one("#param-seed", Input).value = "42"
        dialog.query_one("#param-num_ctx", Input).value = "lots"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "num_ctx must be a whole number" in str(
            dialog.query_one("#params-error", Static).render()
        )
        dialog.query_one("#param-num_ctx", Input).value = "2048"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        await send(pilot, screen, "one")
        await send(pilot, screen, "two")
        body = [r.body for r in replay.requests if r.path == "/api/chat"][-1]
        assert [m["role"] for m in body["messages"]] == [
            "system",
            "user",
            "assistant",
            "user",
        ]
        assert body["messages"][0]["content"] == "Be brief."
        assert body["options"] == {"temperature": 0.2, "seed": 42, "num_ctx": 2048}
        first_id = screen.session.id if screen.session else 0

        # A new session starts empty, with the model and the backend's default parameters,
        # and the model line says so (not the old session's).
        assert "seed=42" in str(screen.query_one("#chat-model").render())
        await pilot.press("ctrl+n")
        await workers_done(app)
        await pilot.pause()
        assert views(screen) == [] and screen.session is None
        line = str(screen.query_one("#chat-model").render())
        assert MODEL in line and "seed" not in line and "+system" not in line
        await send(pilot, screen, "other topic")
        assert screen.session is not None and screen.session.id != first_id
        assert screen.session.options == {} and screen.session.system_prompt == ""
        body = [r.body for r in replay.requests if r.path == "/api/chat"][-1]
        assert [m["role"] for m in body["messages"]] == ["user"]

        # Switch back through the session list with keys.
        await pilot.press("f2")
        sessions = screen.query_one("#chat-sessions")
        assert sessions.has_focus
        assert sessions.option_count == 2
        await pilot.press("end", "enter")  # newest first, so the first session is last
        await workers_done(app)
        await pilot.pause()
        assert screen.session is not None and screen.session.id == first_id
        assert [v.content for v in views(screen) if v.role == "user"] == ["one", "two"]
        assert screen.system_prompt == "Be brief."


async def test_export_markdown_and_json(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Export me")
        await pilot.press("ctrl+o")
        await workers_done(app)
        await pilot.pause()
    exports = data_dir() / "exports"
    md_file = next(exports.glob("*.md"))
    js_file = next(exports.glob("*.json"))
    md = md_file.read_text()
    assert "# Export me" in md and "## User" in md and "print('hi')" in md
    assert f"Assistant ({MODEL})" in md and "tok/s" in md
    doc = json.loads(js_file.read_text())
    assert doc["session"]["model"] == MODEL
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
    assert doc["messages"][1]["content"] == REPLY
    assert doc["messages"][1]["status"] == "complete"


async def test_copy_reply_and_code_block(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "code please")
        await pilot.press("ctrl+b")
        await workers_done(app)
        assert app.clipboard == "print('hi')\n"
        assert (data_dir() / "clipboard.txt").read_text() == "print('hi')\n"
        await pilot.press("ctrl+y")
        await workers_done(app)
        assert app.clipboard == REPLY
        assert (data_dir() / "clipboard.txt").read_text() == REPLY


async def test_thinking_is_collapsible() -> None:
    with start_replay_server(reply="Answer.") as server:
        server.state.thinking = "Hmm, let me \x1b[31mthink\x1b[0m."

        # The plain backend sends no think: the replay, like Ollama, thinks by default with a
        # model that has the thinking capability.
        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
        )
        app = make_app(
            Config(),
            controller=controller,
            start_screen="chat",
            screen_options={"model": "qwen3:0.6b"},
        )
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await send(pilot, screen, "think first")
            reply = views(screen)[-1]
            assert reply.content == "Answer."
            assert reply.thinking == "Hmm, let me \\x1b[31mthink\\x1b[0m."
            box = reply.query_one(".msg-thinking-box")
            assert box.display and box.collapsed
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert not box.collapsed
            assert "let me" in str(reply.query_one(".msg-thinking", Static).render())


async def test_backend_error_is_a_sentence_and_stored() -> None:
    with start_replay_server(reply="x") as server:
        app = chat_app(server, model="no-such-model:1b", backend="ollama")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await send(pilot, screen, "hello?")
            reply = views(screen)[-1]
            assert reply.status == "error"
            stats = str(reply.query_one(".msg-stats", Static).render())
            assert "no-such-model" in stats and "Traceback" not in stats
            # It was said before sending, too: the backend named does not list it.
            assert "no-such-model:1b is not installed: not listed by ollama" in screen.model_problem


async def test_no_model_opens_picker_and_keys_reach_everything(replay: ReplayServer) -> None:
    controller = Controller(
        [OllamaBackend(replay.host_port)], retry_interval=0, probe_timeout=REACHABLE
    )
    app = make_app(Config(), controller=controller, start_screen="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        assert not screen.model
        screen.prompt.value = "hi"
        await pilot.press("enter")
        await pilot.pause()
        from tui.widgets.chat_params import ModelPicker

        assert isinstance(app.screen, ModelPicker)
        names = [m.name for m in app.screen._models]
        assert MODEL in names and "nomic-embed-text:latest" not in names
        await pilot.press("home", "enter")
        await pilot.pause()
        assert app.screen is screen and screen.model == names[0]
        assert screen.prompt.value == "hi"  # the prompt waits for the model
        await pilot.press("enter")
        await workers_done(app)
        await pilot.pause()
        assert views(screen)[-1].status == "complete"


async def test_restart_opens_latest_session(replay: ReplayServer) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "remember me")
    controller = Controller(
        [OllamaBackend(replay.host_port)], retry_interval=0, probe_timeout=REACHABLE
    )
    again = make_app(Config(), controller=controller, start_screen="chat")
    async with again.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.pause()
        assert [v.content for v in views(screen)] == ["remember me", REPLY]
        assert screen.model == MODEL


def test_chat_screen_is_registered() -> None:
    from tui.screens import SCREENS, load_screen

    assert load_screen("chat") is ChatScreen
    assert "chat" in SCREENS


async def test_long_reply_streams_in_segments_without_losing_text() -> None:
    long_reply = markdown_reply(1500)
    with start_replay_server(reply=long_reply, token_rate=2000) as server:
        app = chat_app(server)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await send(pilot, screen, "long")
            reply = views(screen)[-1]
            assert reply.content == long_reply
            assert len(reply.frozen) >= 2  # finished parts became single widgets
            (live,) = reply.query(".msg-body").results(Markdown)
            assert "".join(reply.frozen) + live.source == long_reply
            for source in reply.frozen:
                # Split only between blocks, never inside a code fence.
                assert source.endswith("\n\n")
                assert source.count("```") % 2 == 0
            assert len(reply.query(".msg-frozen")) == len(reply.frozen)


async def test_long_stored_reply_loads_in_segments() -> None:
    long_reply = markdown_reply(1500)
    store = open_chat_store(data_dir())
    session = store.create_session("long", "ollama", MODEL)
    store.add_message(session.id, "user", "long")
    reply = store.add_message(session.id, "assistant", "", status="streaming", model=MODEL)
    store.finish_message(reply.id, long_reply, "", "complete", {})
    with start_replay_server(reply="x") as server:
        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
        )
        app = make_app(Config(), controller=controller, start_screen="chat")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            view = views(screen)[-1]
            assert view.content == long_reply and len(view.frozen) >= 2
            (live,) = view.query(".msg-body").results(Markdown)
            assert "".join(view.frozen) + live.source == long_reply


async def test_chat_with_it_from_another_screen_reaches_a_chat_shown_before(
    replay: ReplayServer,
) -> None:
    app = chat_app(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "first")
        first = screen.session
        assert first is not None
        # Away and back (the screen keys' action; the prompt has the focus and takes digits).
        app.action_show_screen("backends")
        await pilot.pause()
        app.action_show_screen("chat")
        await pilot.pause()
        assert app.screen is screen and screen.session is first
        # The Models or Variants screen's "chat with it" once the chat screen exists.
        app.action_show_screen("backends")
        await pilot.pause()
        assert app.open_screen("chat", model="llama3.2:latest", backend="ollama")
        await workers_done(app)
        await pilot.pause()
        assert app.screen is screen
        assert (screen.backend_id, screen.model) == ("ollama", "llama3.2:latest")
        assert screen.session is None and views(screen) == []  # a new chat for that model
        assert "llama3.2:latest" in str(screen.query_one("#chat-model", Static).render())
        await send(pilot, screen, "second")
        sent = [r.body for r in replay.requests if r.path == "/api/chat"][-1]
        assert sent["model"] == "llama3.2:latest"
        assert sent["messages"] == [{"role": "user", "content": "second"}]
        # Without a backend, the one that lists the model is found.
        app.action_show_screen("backends")
        await pilot.pause()
        assert app.open_screen("chat", model="qwen3:0.6b")
        await pilot.pause()
        assert (screen.backend_id, screen.model) == ("ollama", "qwen3:0.6b")
        await workers_done(app)
        assert screen.session is None


async def test_streaming_follows_the_end_until_scrolled_away_and_the_rate_clears() -> None:
    long_reply = markdown_reply(4000)
    # Tokens are let through by the test, and drawn on the test's clock: the stream cannot end,
    # nor run ahead of the checks, however slow or fast the machine is.
    with start_replay_server(reply=long_reply) as server:
        gate = server.state.token_gate = threading.Semaphore(0)
        app = chat_app(server)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            now = [1000.0]
            screen.clock = lambda: now[0]
            log = screen.log_view
            screen.prompt.value = "Write a lot"
            await pilot.press("enter")

            def body() -> StreamingBody | None:
                return screen._view.stream_body if screen._view is not None else None

            def end_in_view() -> bool:
                # The text's last line is on screen (not below it, nor blank reserve below it).
                b = body()
                if b is None or b.text_lines < 40:
                    return False
                area = log.scrollable_content_region
                last = b.region.y + b.text_lines - 1
                return area.bottom - 3 <= last < area.bottom

            async def more(count: int) -> None:
                await let_through(pilot, screen, gate, count)
                now[0] += FLUSH_INTERVAL
                await screen._tick()
                await pilot.pause()

            for _ in range(100):
                if end_in_view():
                    break
                await more(40)
            else:
                raise AssertionError("the end of a long reply was not followed on screen")
            # While it streams: no blinking prompt cursor, no scrollbar, the rate in the strip.
            assert not screen.prompt.cursor_blink
            assert log.has_class("-streaming")
            strip = screen.query_one(GaugeStrip)
            await wait_for(
                lambda: strip.figures is not None and strip.figures.rate.endswith("tok/s"),
                pilot,
                "the live rate in the gauge strip",
            )
            assert app.controller.live_tokens_per_second is not None

            # Scrolled up by the user: left there while more text arrives.
            log.scroll_to(y=0, animate=False, immediate=True)
            await pilot.pause()
            b = body()
            assert b is not None
            lines = b.text_lines
            await more(200)
            assert b.text_lines > lines + 10
            await pilot.pause()
            assert log.scroll_y == 0

            await pilot.press("escape")
            gate.release(10_000)  # let the server's stream end with the test
            assert screen._turn_worker is not None
            with pytest.raises(WorkerCancelled):
                await screen._turn_worker.wait()
            await pilot.pause()
            assert app.controller.live_tokens_per_second is None
            await wait_for(lambda: strip.figures is not None and not strip.figures.rate, pilot, "")
            assert "– tok/s" in str(strip.render())
            assert screen.prompt.cursor_blink and not log.has_class("-streaming")
            assert log.scroll_y == 0  # still where the user left it
            # Shown as a loaded reply is: frozen segments and a Markdown widget, nothing live.
            reply = views(screen)[-1]
            assert reply.stream_body is None and not reply.query(StreamingBody)
            (last,) = reply.query(".msg-body").results(Markdown)
            assert "".join(reply.frozen) + last.source == reply.content


async def test_escape_leaves_the_prompt_so_screen_keys_work(replay: ReplayServer) -> None:
    app = chat_app(replay, model=MODEL, backend="ollama")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        assert app.focused is screen.prompt
        await pilot.press("2")
        assert screen.prompt.value == "2" and app.screen is screen  # typed, not a screen key
        await pilot.press("escape")
        assert app.focused is not screen.prompt
        await pilot.press("2")
        await pilot.pause()
        assert app.screen is not screen and type(app.screen).__name__ == "ModelsScreen"
        await pilot.press("6")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("enter")
        assert app.focused is screen.prompt and screen.prompt.value == "2"


async def test_unwritable_history_chats_on_says_why_and_saves_once_writable(
    replay: ReplayServer,
) -> None:
    app = chat_app(replay, model=MODEL, backend="ollama")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        records = screen.chat.records
        assert records is not None
        # SQLite's own refusal, as on a read-only disk: every write of the history fails.
        records.db.query("PRAGMA query_only = ON")  # type: ignore[attr-defined]
        await send(pilot, screen, "keep me")
        # The chat goes on without history, and says why in one line, naming the file.
        assert views(screen)[-1].status == "complete" and views(screen)[-1].content == REPLY
        status = str(screen.query_one("#chat-status", Static).render())
        assert "Chat history off" in status and "read-only" in status
        assert any(str(records.path) in n.message for n in app._notifications)
        # Writable again: the next prompt stores the whole conversation, the first turn too.
        records.db.query("PRAGMA query_only = OFF")  # type: ignore[attr-defined]
        await send(pilot, screen, "and me")
        assert views(screen)[-1].status == "complete"
        assert screen.chat.problem == ""
        assert "Chat history off" not in str(screen.query_one("#chat-status", Static).render())
    store = open_chat_store(data_dir())
    (session,) = store.sessions()
    stored = [(m.role, m.content, m.status) for m in store.messages(session.id)]
    assert stored == [
        ("user", "keep me", "complete"),
        ("assistant", REPLY, "complete"),
        ("user", "and me", "complete"),
        ("assistant", REPLY, "complete"),
    ]


async def test_text_is_drawn_often_while_it_has_room_and_once_a_second_when_it_scrolls() -> None:
    # The server sends a token per permit and the screen's drawing runs on the test's clock, so
    # what is drawn when depends on neither the machine's speed nor the wall clock.
    long_reply = markdown_reply(3000)
    with start_replay_server(reply=long_reply) as server:
        gate = server.state.token_gate = threading.Semaphore(0)
        app = chat_app(server)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            now = [1000.0]
            screen.clock = lambda: now[0]
            screen.prompt.value = "Write a lot"
            await pilot.press("enter")

            await let_through(pilot, screen, gate, 1)
            view = views(screen)[-1]
            body = view.stream_body
            assert body is not None
            await wait_for(lambda: body.text_lines > 0, pilot, "the first token drawn at once")
            await let_through(pilot, screen, gate, 20)
            assert screen._pending  # the clock has not moved: nothing more drawn yet
            # The reply's end has the screen's blank rows below it: text waiting a quarter
            # second is drawn without waiting for the one-second draw.
            assert screen._rows_below_reply() >= QUICK_ROWS
            now[0] += QUICK_INTERVAL
            await screen._tick()
            assert not screen._pending
            # Fill the screen, a second of the test's clock per draw.
            for _ in range(100):
                if body.text_lines > 60:
                    break
                await let_through(pilot, screen, gate, 40)
                now[0] += FLUSH_INTERVAL
                await screen._tick()
                await pilot.pause()
            else:
                raise AssertionError("the reply never filled the screen")
            await pilot.pause()
            # Once the text reaches the bottom, each draw scrolls the conversation (a redraw of
            # all of it), so they are spaced by FLUSH_INTERVAL.
            await let_through(pilot, screen, gate, 20)
            assert screen._pending and screen._rows_below_reply() == 0
            now[0] += QUICK_INTERVAL
            await screen._tick()
            assert screen._pending
            now[0] += FLUSH_INTERVAL - QUICK_INTERVAL
            await screen._tick()
            assert not screen._pending
            await pilot.press("escape")
            gate.release(10_000)  # let the server's stream end with the test
            assert screen._turn_worker is not None
            with pytest.raises(WorkerCancelled):
                await screen._turn_worker.wait()


async def test_a_long_stored_session_opens_a_page_and_caps_a_huge_reply() -> None:
    from tui.core.chat import MESSAGE_PAGE, StoredMessage
    from tui.widgets.chat_message import SHOWN_CHARS

    store = open_chat_store(data_dir())
    session = store.create_session("long", "ollama", MODEL)
    huge = markdown_reply(2000) * 40  # far more than is drawn
    rows = [
        StoredMessage(0, session.id, "user" if i % 2 == 0 else "assistant", f"message {i}")
        for i in range(MESSAGE_PAGE * 2 + 10)
    ]
    rows[-1].content = huge
    store.write_turn(session, rows)
    store.close()
    with start_replay_server(reply="x") as server:
        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
        )
        app = make_app(Config(), controller=controller, start_screen="chat")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            shown = views(screen)
            assert len(shown) == MESSAGE_PAGE  # one page read and drawn
            note = screen.query_one("#chat-earlier", Static)
            assert f"{MESSAGE_PAGE + 10} earlier messages" in str(note.render())
            last = shown[-1]
            assert last.content == huge  # all of it kept (copy, export)
            assert 0 < len(huge) - last.hidden_chars <= SHOWN_CHARS
            assert "above not shown" in str(last.query_one(".msg-hidden", Static).render())
            await pilot.press("escape")  # leave the prompt, as a key user would
            await pilot.press("ctrl+u")
            await workers_done(app)
            await pilot.pause()
            assert len(views(screen)) == MESSAGE_PAGE * 2
            assert views(screen)[0].content == "message 10"
            await pilot.press("ctrl+u")
            await workers_done(app)
            await pilot.pause()
            assert len(views(screen)) == MESSAGE_PAGE * 2 + 10
            assert not screen.query("#chat-earlier")
