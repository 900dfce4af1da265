"""The headless chat session: a whole turn with no Textual, one write per message event, chat
without history when the store is read-only, damaged or locked (and back once it works), and
stored sessions that open in bounded time."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REACHABLE, REPO
from tests.ollama_replay import ReplayServer, start_replay_server
from tui.backends.ollama import OllamaBackend
from tui.controller import Controller
from tui.core.chat import ChatSession, StoredMessage
from tui.store.chats import ChatStore, open_chat_store
from tui.store.db import DB_NAME

MODEL = "qwen2.5:0.5b"

WHOLE_TURN = r"""
import asyncio, json, sys, threading
from pathlib import Path

from tests.ollama_replay import markdown_reply, start_replay_server
from tui.backends.ollama import OllamaBackend
from tui.controller import Controller

async def main(data: Path) -> dict:
    out = {}
    with start_replay_server(reply="Hello there.") as server:
        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=60, data_dir=data
        )
        try:
            await controller.refresh_all()
            chat = controller.chat_session()
            out["opened"] = await chat.open()
            chat.backend_id, chat.model = "ollama", "qwen2.5:0.5b"
            deltas = []
            first = await chat.send("Say hello", lambda text, _think: deltas.append(text))
            out["sent"] = [first.status, first.content, "".join(deltas)]

            # Stop mid-reply: the partial reply is kept, the request closed.
            server.set_reply(markdown_reply(3000))
            gate = server.state.token_gate = threading.Semaphore(0)
            enough = asyncio.Event()
            def seen(_text, _think):
                if chat.turn is not None and chat.turn.chunks >= 10:
                    enough.set()
            task = asyncio.create_task(chat.send("Write a lot", seen))
            gate.release(10)
            await enough.wait()
            out["rate_while_streaming"] = controller.live_tokens_per_second
            out["stopping"] = chat.stop()
            try:
                await task
            except asyncio.CancelledError:
                out["cancelled"] = True
            gate.release(100000)
            server.state.token_gate = None
            out["rate_after"] = controller.live_tokens_per_second
            out["stopped"] = [chat.messages[-1].status, len(chat.messages[-1].content)]

            # Regenerate: the stopped reply is replaced, the request does not carry it.
            server.set_reply("A different answer.")
            again = await chat.send(None)
            out["regenerated"] = [again.status, again.content]
            sent = [r.body for r in server.requests if r.path == "/api/chat"][-1]
            out["regenerate_request"] = sent["messages"]

            md, js = await chat.export(data / "exports")
            out["export"] = [md.name, json.loads(js.read_text())["messages"]]
            out["calls"] = chat.store_calls
        finally:
            await controller.aclose()
    from tui.store.chats import open_chat_store
    store = open_chat_store(data)
    (session,) = store.sessions()
    out["stored"] = [[m.role, m.content, m.status] for m in store.messages(session.id)]
    out["textual"] = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
    return out

print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
"""


def test_a_whole_turn_through_the_session_without_textual(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", WHOLE_TURN, str(tmp_path / "data")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["textual"] == []  # the whole turn ran with no Textual module loaded
    assert out["opened"] is True
    assert out["sent"] == ["complete", "Hello there.", "Hello there."]
    assert out["rate_while_streaming"] is not None and out["rate_after"] is None
    assert out["stopping"] is True and out["cancelled"] is True
    status, kept = out["stopped"]
    assert status == "stopped" and kept > 0
    assert out["regenerated"] == ["complete", "A different answer."]
    assert [m["content"] for m in out["regenerate_request"]] == [
        "Say hello",
        "Hello there.",
        "Write a lot",
    ]
    name, exported = out["export"]
    assert name.startswith("session-1-say-hello") and name.endswith(".md")
    assert [m["content"] for m in exported][-1] == "A different answer."
    assert out["stored"] == [
        ["user", "Say hello", "complete"],
        ["assistant", "Hello there.", "complete"],
        ["user", "Write a lot", "complete"],
        ["assistant", "A different answer.", "complete"],
    ]


# ------------------------------------------------------------------------------------ helpers


class Counting:
    """The real store, with every call it is asked to make written down."""

    def __init__(self, store: ChatStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with start_replay_server(reply="Short answer.") as server:
        yield server


async def chatting(server: ReplayServer, opener: Any) -> tuple[Controller, ChatSession]:
    controller = Controller(
        [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
    )
    await controller.refresh_all()
    chat = ChatSession(opener, controller.chat, lambda p, t: p.write_text(t))
    chat.backend_id, chat.model = "ollama", MODEL
    return controller, chat


def stored(directory: Path) -> list[tuple[str, str, str]]:
    store = open_chat_store(directory)
    try:
        return [
            (m.role, m.content, m.status)
            for s in reversed(store.sessions())
            for m in store.messages(s.id)
        ]
    finally:
        store.close()


# ------------------------------------------------------------------------------------ writes


async def test_one_write_per_message_event_and_nothing_read_back(
    replay: ReplayServer, tmp_path: Path
) -> None:
    counting: list[Counting] = []

    def opener() -> Counting:
        counting.append(Counting(open_chat_store(tmp_path)))
        return counting[-1]

    controller, chat = await chatting(replay, opener)
    try:
        assert await chat.open()
        (store,) = counting
        assert store.calls == ["sessions"]
        before_first_byte: list[list[str]] = []

        def first(_text: str, _think: str) -> None:
            if not before_first_byte:
                before_first_byte.append(list(store.calls))

        store.calls.clear()
        await chat.send("one", first)
        # The prompt's one write runs beside the request (it may or may not have landed by the
        # first byte); nothing else touched the store before it.
        assert set(before_first_byte[0]) <= {"write_turn"}
        assert store.calls[0] == "write_turn" and store.calls[-1] == "finish_message"
        assert set(store.calls[1:-1]) <= {"save_partial"}
        store.calls.clear()
        await chat.send(None)  # regenerate: the delete and the new reply in one write
        assert store.calls[0] == "write_turn" and store.calls[-1] == "finish_message"
        assert not {"messages", "session", "sessions", "recent_messages"} & set(store.calls)
    finally:
        await chat.close()
        await controller.aclose()
    assert stored(tmp_path) == [
        ("user", "one", "complete"),
        ("assistant", "Short answer.", "complete"),
    ]


# ------------------------------------------------------------------------------------ faults


READ_ONLY = r"""
import asyncio, json, subprocess, sys
from pathlib import Path

from tests.ollama_replay import start_replay_server
from tui.backends.ollama import OllamaBackend
from tui.controller import Controller

async def main(data: Path) -> dict:
    out = {}
    with start_replay_server(reply="Short answer.") as server:
        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=60, data_dir=data
        )
        try:
            await controller.refresh_all()
            chat = controller.chat_session()
            out["opened"] = await chat.open()
            out["problem"] = chat.problem
            chat.backend_id, chat.model = "ollama", "qwen2.5:0.5b"
            result = await chat.send("no history")
            out["turn"] = [result.status, result.content, result.store_error]
            out["listed"] = [s.stored for s in chat.sessions]
            # The folder becomes writable (the mount goes): the next prompt reconnects.
            subprocess.run(["umount", str(data)], check=True)
            await chat.send("now saved")
            out["after"] = [chat.problem, chat.session.stored]
        finally:
            await controller.aclose()
    return out

print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
"""

_READ_ONLY_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


def test_read_only_data_dir_chats_without_history_then_reconnects(tmp_path: Path) -> None:
    # SQLite resolves /proc/<pid>/root (tests/readonly.py's view of a mount) to the writable
    # folder, so the session runs inside a private mount namespace where the folder itself is a
    # read-only bind mount; it ends there when the namespace's process does.
    import shutil

    from tests.readonly import SKIP_PREFIX

    folder = tmp_path / "data"
    folder.mkdir()
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        pytest.skip(SKIP_PREFIX + "util-linux unshare and mount are not installed")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    why_not = []
    for flags in (("--mount", "--propagation", "private"), ("--map-root-user", "--mount")):
        done = subprocess.run(
            [
                *(unshare, *flags, "sh", "-c", _READ_ONLY_MOUNT, "sh", str(folder)),
                *(sys.executable, "-c", READ_ONLY, str(folder)),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode == 0:
            break
        why_not.append(f"unshare {' '.join(flags)}: {done.stderr.strip()[-300:]}")
    else:
        if any("Traceback" in w for w in why_not):
            pytest.fail("\n".join(why_not))
        pytest.skip(SKIP_PREFIX + "; ".join(why_not))
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["opened"] is False
    assert "read-only" in out["problem"] and str(folder / DB_NAME) in out["problem"]
    status, content, store_error = out["turn"]
    assert (status, content) == ("complete", "Short answer.") and "read-only" in store_error
    assert out["listed"] == [False]  # listed, held in memory
    assert out["after"] == ["", True]
    assert stored(folder) == [
        ("user", "no history", "complete"),
        ("assistant", "Short answer.", "complete"),
        ("user", "now saved", "complete"),
        ("assistant", "Short answer.", "complete"),
    ]


async def test_corrupt_db_is_kept_and_chat_goes_on(replay: ReplayServer, tmp_path: Path) -> None:
    damaged = tmp_path / DB_NAME
    junk = b"this is not a database\n" * 400
    damaged.write_bytes(junk)
    controller, chat = await chatting(replay, lambda: open_chat_store(tmp_path))
    try:
        assert not await chat.open()
        assert "damaged" in chat.problem and str(damaged) in chat.problem
        result = await chat.send("still works?")
        assert result.status == "complete" and chat.messages[-1].content == "Short answer."
        assert damaged.read_bytes() == junk  # kept as it was, never deleted or rewritten
        # The user moves it away: the next prompt starts a new history with the whole chat.
        damaged.rename(tmp_path / "slmdeck.db.damaged")
        await chat.send("and now?")
        assert chat.problem == ""
    finally:
        await chat.close()
        await controller.aclose()
    assert (tmp_path / "slmdeck.db.damaged").read_bytes() == junk
    assert [m[1] for m in stored(tmp_path)] == [
        "still works?",
        "Short answer.",
        "and now?",
        "Short answer.",
    ]


LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


async def test_locked_db_chats_without_history_and_reconnects_once_released(
    replay: ReplayServer, tmp_path: Path
) -> None:
    open_chat_store(tmp_path).close()  # an existing history, in WAL mode
    holder = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-c", LOCK, str(tmp_path / DB_NAME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.to_thread(holder.stdout.readline)).strip() == "locked"
        controller, chat = await chatting(
            replay, lambda: open_chat_store(tmp_path, busy_timeout=0.1)
        )
        try:
            assert not await chat.open()
            assert "locked by another process" in chat.problem
            assert str(tmp_path / DB_NAME) in chat.problem
            assert "disk space" not in chat.problem
            result = await chat.send("while locked")
            assert result.status == "complete" and "locked" in result.store_error
            # The other process lets go: the next prompt reconnects, and stores what was said.
            await asyncio.to_thread(holder.communicate, "", 30)
            await chat.send("after the lock")
            assert chat.problem == "" and chat.records is not None
        finally:
            await chat.close()
            await controller.aclose()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert [m[1] for m in stored(tmp_path)] == [
        "while locked",
        "Short answer.",
        "after the lock",
        "Short answer.",
    ]


# ------------------------------------------------------------------------------------ size


async def test_a_long_stored_session_opens_one_page_at_a_time(tmp_path: Path) -> None:
    store = open_chat_store(tmp_path)
    session = store.create_session("long", "ollama", MODEL)
    rows = [
        StoredMessage(0, session.id, "user" if i % 2 == 0 else "assistant", f"message {i}")
        for i in range(500)
    ]
    store.write_turn(session, rows)
    store.close()

    async def no_chat(*_args: object) -> AsyncIterator[Any]:
        raise AssertionError("nothing is sent")
        yield  # pragma: no cover

    chat = ChatSession(lambda: open_chat_store(tmp_path), no_chat, lambda p, t: None, page=50)
    try:
        assert await chat.open()
        assert await chat.open_session(session.id)
        assert [m.content for m in chat.messages] == [f"message {i}" for i in range(450, 500)]
        assert chat.earlier == 450
        older = await chat.load_earlier()
        assert [m.content for m in older] == [f"message {i}" for i in range(400, 450)]
        assert chat.earlier == 400 and len(chat.messages) == 100
        # The export still has every message, read once from the store.
        md, _js = await chat.export(tmp_path / "out")
    finally:
        await chat.close()
    assert md.name.startswith(f"session-{session.id}-long")


def test_a_failed_write_leaves_the_records_unstored(tmp_path: Path) -> None:
    store = open_chat_store(tmp_path)
    session = store.create_session("t", "ollama", MODEL)
    store.db.query("PRAGMA query_only = ON")
    message = StoredMessage(0, session.id, "user", "x")
    with pytest.raises(Exception, match="readonly"):
        store.write_turn(session, [message])
    assert message.id == 0  # still to be written, with the next turn
    store.db.query("PRAGMA query_only = OFF")
    store.write_turn(session, [message])
    assert message.id > 0
    assert [m.content for m in store.messages(session.id)] == ["x"]
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    store.close()


async def test_export_gives_each_turn_the_system_prompt_it_was_answered_under(
    replay: ReplayServer, tmp_path: Path
) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "again").mkdir()
    controller, chat = await chatting(replay, lambda: open_chat_store(tmp_path))
    try:
        assert await chat.open()
        chat.set_parameters("Be brief.", {})
        await chat.send("one")
        chat.set_parameters("Answer in French.", {})
        await chat.send("two")
        md_path, js_path = await chat.export(tmp_path / "exports")
        # Reopened from disk, the turns still know theirs.
        await chat.close()
        reopened = ChatSession(
            lambda: open_chat_store(tmp_path), controller.chat, lambda p, t: p.write_text(t)
        )
        assert await reopened.open()
        assert await reopened.open_session(reopened.sessions[0].id)
        md2, _ = await reopened.export(tmp_path / "again")
        await reopened.close()
    finally:
        await controller.aclose()
    for md in (md_path.read_text(), md2.read_text()):
        first, changed = md.index("## System\n\nBe brief."), md.index("## System (changed)")
        assert first < md.index("## User\n\none") < changed < md.index("## User\n\ntwo")
        assert "Answer in French." in md[changed:] and "Answer in French." not in md[:changed]
    doc = json.loads(js_path.read_text())
    assert [m["system_prompt"] for m in doc["messages"]] == [
        "Be brief.",
        "Be brief.",
        "Answer in French.",
        "Answer in French.",
    ]
    assert all("system_prompt" not in m["stats"] for m in doc["messages"])
