"""The headless chat turn: sanitizing, batched saving, stats, errors; options, history, export."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import REACHABLE
from tui.backends.base import BackendUnavailable, ChatChunk, ChatStats
from tui.core.chat import (
    ChatTurn,
    block_boundary,
    code_blocks,
    format_stats,
    history,
    options_from_dict,
    parse_option,
    session_title,
    split_segments,
    tail_from_block,
)
from tui.store.chats import ChatStore, export_session, open_chat_store


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    return open_chat_store(tmp_path)


class Clock:
    """A clock the stream itself advances, so batching is checked without real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reply_row(store: ChatStore, message_id: int) -> tuple[str, str]:
    """The reply's text on disk (its row and the batches appended to it) and its status."""
    rows = store.db.query("SELECT content, status FROM messages WHERE id=?", (message_id,))
    parts = store.db.query(
        "SELECT content FROM message_parts WHERE message_id=? ORDER BY id", (message_id,)
    )
    return rows[0]["content"] + "".join(p["content"] for p in parts), rows[0]["status"]


async def test_turn_saves_in_batches_and_finishes(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m")
    msg = store.add_message(session.id, "assistant", "", status="streaming")
    clock = Clock()
    seen_on_disk: list[str] = []

    async def stream() -> AsyncIterator[ChatChunk]:
        for i in range(10):
            seen_on_disk.append(reply_row(store, msg.id)[0])
            clock.now += 0.1  # 10 chunks over 1 s: a save every 0.25 s, not one per chunk
            yield ChatChunk(content=f"w{i} ")
        stats = ChatStats(completion_tokens=10, eval_duration_ns=500_000_000, prompt_tokens=3)
        yield ChatChunk(done=True, stats=stats)

    deltas: list[str] = []
    turn = ChatTurn(store, msg.id, clock=clock)
    result = await turn.run(stream, lambda text, _think: deltas.append(text))
    assert result.status == "complete"
    assert result.content == "".join(f"w{i} " for i in range(10)) == "".join(deltas)
    # Saved while streaming, in a few batches, each a prefix of the reply.
    batches = sorted(set(seen_on_disk) - {""}, key=len)
    assert 2 <= len(batches) <= 4
    assert all(result.content.startswith(b) for b in batches)
    assert reply_row(store, msg.id) == (result.content, "complete")
    stored = store.messages(session.id)[0].stats
    assert stored["tokens"] == 10 and stored["counted_by"] == "backend"
    assert stored["tokens_per_second"] == pytest.approx(20.0)
    assert stored["ttft_s"] == pytest.approx(0.1)


async def test_turn_sanitizes_split_escape_sequences(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m")
    msg = store.add_message(session.id, "assistant", "", status="streaming")

    async def stream() -> AsyncIterator[ChatChunk]:
        for piece in ("a\x1b", "]52;c;eA==\x07", "b\x1b[", "2J\u202e", "\x9b"):
            yield ChatChunk(content=piece, thinking="\x1b]0;t\x07")

    result = await ChatTurn(store, msg.id).run(stream)
    assert "\x1b" not in result.content and "\x07" not in result.content
    assert result.content == "a\\x1b]52;c;eA==\\x07b\\x1b[2J\\u202e\\x9b"
    assert result.thinking.startswith("\\x1b]0;t\\x07")
    assert "\x1b" not in reply_row(store, msg.id)[0]


async def test_turn_error_keeps_partial_and_says_why(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m")
    msg = store.add_message(session.id, "assistant", "", status="streaming")

    async def stream() -> AsyncIterator[ChatChunk]:
        yield ChatChunk(content="partial ")
        raise BackendUnavailable("Ollama at 127.0.0.1:1 stopped answering (connection reset)")

    result = await ChatTurn(store, msg.id).run(stream)
    assert (result.status, result.content) == ("error", "partial ")
    assert "connection reset" in result.error
    stored = store.messages(session.id)[0]
    assert (stored.status, stored.content) == ("error", "partial ")
    assert "connection reset" in stored.stats["error"]


async def test_cancel_stores_stopped_and_closes_stream(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m")
    msg = store.add_message(session.id, "assistant", "", status="streaming")
    closed = asyncio.Event()
    started = asyncio.Event()

    async def stream() -> AsyncIterator[ChatChunk]:
        try:
            yield ChatChunk(content="first ")
            started.set()
            await asyncio.sleep(3600)
            yield ChatChunk(content="never")
        finally:
            closed.set()

    task = asyncio.create_task(ChatTurn(store, msg.id).run(stream))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()
    assert reply_row(store, msg.id) == ("first ", "stopped")


def test_parse_option() -> None:
    assert parse_option("temperature", " 0.7 ") == 0.7
    assert parse_option("seed", "-1") == -1
    assert parse_option("num_ctx", "") is None
    with pytest.raises(ValueError, match="num_ctx must be a whole number"):
        parse_option("num_ctx", "4k")
    with pytest.raises(ValueError, match="between 0 and 2"):
        parse_option("temperature", "3")
    with pytest.raises(ValueError, match="top_p"):
        parse_option("top_p", "0")
    with pytest.raises(ValueError, match="max_tokens must be greater than 0"):
        parse_option("max_tokens", "0")
    opts = options_from_dict({"temperature": 0.1, "seed": 3, "bogus": 1, "top_p": None})
    assert (opts.temperature, opts.seed, opts.top_p) == (0.1, 3, None)


def test_history_title_stats_and_code_blocks(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m", system_prompt="Be brief.")
    store.add_message(session.id, "user", "q1")
    store.add_message(session.id, "assistant", "a1", status="stopped")
    store.add_message(session.id, "assistant", "", status="error")
    store.add_message(session.id, "user", "q2")
    msgs = history(session, store.messages(session.id))
    assert [(m.role, m.content) for m in msgs] == [
        ("system", "Be brief."),
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
    ]
    assert session_title("  a\x1b[2J  b ") == "a\\x1b[2J b"
    assert session_title("x" * 80).endswith("…") and len(session_title("x" * 80)) == 40
    line = format_stats({"ttft_s": 0.25, "tokens_per_second": 41.66, "tokens": 90}, "stopped")
    assert line == "TTFT 0.25 s · 41.7 tok/s · 90 tokens · stopped"


def test_stats_line_plurals_tiny_rates_and_the_token_limit() -> None:
    # An 8-token reply's rate is noise, and so is a rate over less than a quarter second.
    assert format_stats({"tokens_per_second": 4799.7, "tokens": 8}) == "– tok/s · 8 tokens"
    assert format_stats({"tokens_per_second": 400.0, "tokens": 40}) == "– tok/s · 40 tokens"
    assert format_stats({"tokens_per_second": 40.0, "tokens": 40}) == "40.0 tok/s · 40 tokens"
    assert format_stats({"tokens": 1}) == "1 token"
    assert format_stats({"tokens": 1234}) == "1,234 tokens"
    cut = format_stats({"tokens": 20, "done_reason": "length"})
    assert cut == "20 tokens · cut at the token limit (max_tokens)"
    md = "x\n```py\na = 1\n```\ntext\n~~~\nb\n~~~\n"
    assert code_blocks(md) == ["a = 1\n", "b\n"]


def test_export_writes_markdown_and_json(store: ChatStore, tmp_path: Path) -> None:
    session = store.create_session("Hello there!", "ollama", "m", "sys", {"seed": 1})
    store.add_message(session.id, "user", "hi")
    reply = store.add_message(session.id, "assistant", "", status="streaming", model="m")
    store.finish_message(reply.id, "hello", "hmm", "complete", {"tokens": 1})
    md_path, js_path = export_session(store, session.id, tmp_path / "out")
    assert md_path.name == f"session-{session.id}-hello-there.md"
    md = md_path.read_text()
    assert "# Hello there!" in md and "## System" in md and "seed=1" in md
    assert "<summary>Thinking</summary>" in md and "hmm" in md
    doc = json.loads(js_path.read_text())
    assert doc["session"]["options"] == {"seed": 1}
    assert [m["content"] for m in doc["messages"]] == ["hi", "hello"]
    with pytest.raises(ValueError, match="does not exist"):
        export_session(store, 999, tmp_path)


def test_split_segments_only_between_blocks_outside_fences() -> None:
    text = "para one\n\n```\ncode\n\nmore code\n```\n\npara two\n\npara three"
    pieces = split_segments(text, 5)
    assert "".join(pieces) == text
    assert pieces[0] == "para one\n\n"
    assert pieces[1] == "```\ncode\n\nmore code\n```\n\n"  # the blank line inside stays inside
    assert all(p.count("```") % 2 == 0 for p in pieces)
    assert split_segments("short", 100) == ["short"]
    assert block_boundary("abc\n", "\nxyz") == 1  # a blank line split across two deltas


def test_tail_from_block_cuts_between_blocks_outside_fences() -> None:
    text = "intro\n\n" + "```\n" + "code\n\n" * 50 + "```\n\n" + "para\n\n" * 20
    assert tail_from_block(text, len(text)) == 0
    cut = tail_from_block(text, 200)
    assert len(text) - cut <= 200 and text[cut - 2 : cut] == "\n\n"
    assert text[cut:].count("```") % 2 == 0
    # Asked to start inside the fence: the cut comes after it, never inside.
    inside = tail_from_block(text, len(text) - 20)
    assert text[:inside].count("```") % 2 == 0


async def test_stop_during_buffered_chunks_takes_effect_at_once(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m")
    msg = store.add_message(session.id, "assistant", "", status="streaming")

    async def stream() -> AsyncIterator[ChatChunk]:
        for word in ("one ", "two ", "three "):  # already buffered: no suspension between them
            yield ChatChunk(content=word)

    turn = ChatTurn(store, msg.id)
    task: asyncio.Task[object] | None = None

    def stop_on_first(_text: str, _think: str) -> None:
        assert task is not None
        task.cancel()

    task = asyncio.create_task(turn.run(stream, stop_on_first))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reply_row(store, msg.id) == ("one ", "stopped")
    assert turn.result is not None and turn.result.status == "stopped"


async def test_the_live_rate_is_the_chat_sessions_and_ends_with_the_turn(
    tmp_path: Path,
) -> None:
    import threading

    from tests.ollama_replay import markdown_reply, start_replay_server
    from tui.backends.ollama import OllamaBackend
    from tui.controller import Controller

    with start_replay_server(reply=markdown_reply(2000)) as server:
        gate = server.state.token_gate = threading.Semaphore(0)
        controller = Controller(
            [OllamaBackend(server.host_port)],
            retry_interval=0,
            probe_timeout=REACHABLE,
            data_dir=tmp_path,
        )
        try:
            await controller.refresh_all()
            chat = controller.chat_session()
            chat.backend_id, chat.model = "ollama", "qwen2.5:0.5b"
            assert controller.live_tokens_per_second is None
            enough = asyncio.Event()

            def seen(_text: str, _think: str) -> None:
                if chat.turn is not None and chat.turn.chunks >= 5:
                    enough.set()

            task = asyncio.create_task(chat.send("hi", seen))
            gate.release(5)
            await enough.wait()
            # Read from the session when asked: nobody writes it per token.
            rate = controller.live_tokens_per_second
            assert rate is not None and rate == chat.live_rate
            assert chat.stop()
            gate.release(100_000)
            with pytest.raises(asyncio.CancelledError):
                await task
            assert controller.live_tokens_per_second is None
            assert await asyncio.to_thread(server.wait_for_disconnect, "/api/chat", 10)
        finally:
            await controller.aclose()


async def test_turn_reports_the_end_before_storing_the_reply(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m")
    reply = store.add_message(session.id, "assistant", "", status="streaming")
    seen: list[tuple[str, str]] = []

    async def stream() -> AsyncIterator[ChatChunk]:
        yield ChatChunk(content="Hello")
        yield ChatChunk(content=" there", done=True)

    def ended() -> None:
        # Everything was reported, and the reply is not stored as finished yet.
        seen.append(("end", reply_row(store, reply.id)[1]))

    turn = ChatTurn(store, reply.id)
    result = await turn.run(stream, lambda text, _t: seen.append(("delta", text)), ended)
    assert seen == [("delta", "Hello"), ("delta", " there"), ("end", "streaming")]
    assert result.status == "complete" and reply_row(store, reply.id) == ("Hello there", "complete")


async def test_the_end_is_reported_at_the_done_chunk_not_when_the_connection_closes(
    store: ChatStore,
) -> None:
    # A server may keep the connection open a while after its last chunk: the last words must
    # be drawn at the done chunk, not once the stream is closed (they arrived up to 1.4 s late).
    session = store.create_session("t", "ollama", "m")
    reply = store.add_message(session.id, "assistant", "", status="streaming")
    ended = asyncio.Event()
    calls: list[str] = []

    async def stream() -> AsyncIterator[ChatChunk]:
        yield ChatChunk(content="Last words", done=True)
        await ended.wait()  # the connection stays open until the end was reported

    def on_end() -> None:
        calls.append("end")
        ended.set()

    turn = ChatTurn(store, reply.id)
    result = await asyncio.wait_for(turn.run(stream, None, on_end), 60)
    assert calls == ["end"] and result.status == "complete"


def fill_up(store: ChatStore) -> None:
    """Make SQLite refuse to grow the file: its own SQLITE_FULL, as on a full disk."""
    pages = store.db.query("PRAGMA page_count")[0][0]
    store.db.query(f"PRAGMA max_page_count = {pages}")


async def test_full_disk_keeps_streaming_and_says_why(store: ChatStore) -> None:
    session = store.create_session("t", "ollama", "m")
    msg = store.add_message(session.id, "assistant", "", status="streaming")
    clock = Clock()
    words = [f"word{i} " * 400 for i in range(6)]  # pages' worth of text per batch

    async def stream() -> AsyncIterator[ChatChunk]:
        for w in words:
            clock.now += 0.3
            yield ChatChunk(content=w)
        yield ChatChunk(done=True, stats=ChatStats(completion_tokens=6))

    fill_up(store)
    turn = ChatTurn(store, msg.id, clock=clock)
    result = await turn.run(stream)
    # Every word arrived and is in the result (the screen shows it) although nothing was written.
    assert result.status == "complete" and result.content == "".join(words)
    assert "database or disk is full" in result.store_error
    stored, status = reply_row(store, msg.id)
    assert status == "streaming"  # the final write failed: the next start marks it interrupted
    assert result.content.startswith(stored) and len(stored) < len(result.content)

    # Space comes back: the next turn's writes land again and report no problem.
    store.db.query("PRAGMA max_page_count = 1073741823")
    msg2 = store.add_message(session.id, "assistant", "", status="streaming")
    again = await ChatTurn(store, msg2.id, clock=clock).run(stream)
    assert again.store_error == "" and reply_row(store, msg2.id) == (again.content, "complete")
