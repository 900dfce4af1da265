"""The Chat screen as a real process in a pseudo-terminal: model output never reaches the terminal
raw (a copy is one OSC 52 of ours, with the escapes inert), and ``kill -9`` mid-reply keeps every
token saved up to the last batch."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator

from tests.conftest import REACHABLE, REPO
from tests.ollama_replay import markdown_reply, start_replay_server
from tui.app import make_app
from tui.backends.ollama import OllamaBackend
from tui.config import Config, data_dir
from tui.controller import Controller
from tui.core.sanitize import sanitize
from tui.screens.chat import ChatScreen
from tui.widgets.chat_message import MessageView

MODEL = "qwen2.5:0.5b"
DEADLINE = 60.0  # generous: a deadline against hangs, never a measured expectation


class Term:
    """The app in a 100x30 pty; everything it writes is kept in ``output``."""

    def __init__(self, ollama: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {**os.environ, "OLLAMA_HOST": ollama, "TERM": "xterm-256color"}
        argv = [sys.executable, "-m", "tui.cli", "ui", "--screen", "chat", "--model", MODEL]
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()

    def read_until(self, done: Callable[[bytes], bool], what: str) -> None:
        end = time.monotonic() + DEADLINE
        while not done(bytes(self.output)):
            if time.monotonic() > end or self.proc.poll() is not None:
                tail = bytes(self.output[-800:])
                raise AssertionError(f"no {what} from the app; last output: {tail!r}")
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    pass

    def wait_ready(self) -> None:
        self.read_until(lambda o: b"Ask something" in o and b"ollama" in o, "ready chat screen")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send(b"\x11")  # ctrl+q
            end = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < end:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    try:
                        self.output += os.read(self.master, 65536)
                    except OSError:
                        break
        self.kill()
        os.close(self.master)


@contextlib.contextmanager
def term(ollama: str) -> Iterator[Term]:
    t = Term(ollama)
    try:
        yield t
    finally:
        t.close()


HOSTILE = (
    "Look: \x1b]52;c;ZXZpbC1jbGlwYm9hcmQ=\x07 then \x1b[2J and \x1b]0;pwned-title\x07 and "
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ and \x9b2J and \u202eevil\u202c "
    "and a bell\x07.\n\nENDOFREPLY"
)


def test_model_output_never_reaches_the_terminal_raw() -> None:
    with start_replay_server(reply=HOSTILE, token_rate=200) as server, term(server.host_port) as t:
        t.wait_ready()
        start = len(t.output)
        t.send(b"show me\r")
        t.read_until(lambda o: b"ENDOFREPLY" in o[start:], "end of the reply")
        t.read_until(lambda o: b"tok/s" in o[start:], "stats line")
        written = bytes(t.output)
        streamed = written[start:]
        # The payloads are shown, inert: the text is on screen...
        assert b"pwned-title" in streamed and b"ZXZpbC1jbGlwYm9hcmQ=" in streamed
        # ...but no sequence from the model was written.
        assert b"\x1b]52;c;ZXZpbC1jbGlwYm9hcmQ=" not in written
        assert b"\x1b]52" not in written  # not even Textual's own clipboard write happened
        assert b"\x1b]0;pwned" not in written
        assert b"\x1b]8;;http://evil" not in written
        assert b"\x1b[2J" not in streamed
        assert b"\xc2\x9b" not in written  # C1 CSI, UTF-8 encoded
        assert "\u202e".encode() not in written
        assert b"\x07" not in streamed

        # ctrl+y copies the reply as shown (escapes inert) with one OSC 52 of our own, and to a
        # file for terminals that ignore OSC 52.
        t.send(b"\x19")
        t.read_until(
            lambda o: re.search(rb"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", o) is not None, "copy"
        )
        match = re.search(rb"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", bytes(t.output))
        assert match is not None
        copied = base64.b64decode(match.group(1)).decode()
        assert copied == sanitize(HOSTILE) and "\x1b" not in copied and "\\x1b]52" in copied
        clip = data_dir() / "clipboard.txt"
        t.read_until(lambda _o: clip.is_file(), "clipboard file")
        assert clip.read_text(encoding="utf-8") == copied


def _stored_reply(db: str) -> tuple[str, str] | None:
    """The last reply's text on disk (its row, then the batches appended while it streamed) and
    its status."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT id, content, status FROM messages WHERE role='assistant'"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        has_parts = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name='message_parts'"
        ).fetchone()
        parts = (
            conn.execute(
                "SELECT content FROM message_parts WHERE message_id=? ORDER BY id", (row[0],)
            ).fetchall()
            if has_parts
            else []
        )
    return row[1] + "".join(p[0] for p in parts), row[2]


def _stream_then_kill_9(ollama: str, db: str) -> str:
    """Start a reply, wait until a few batches are on disk, kill -9 the app; return what was saved."""
    with term(ollama) as t:
        t.wait_ready()
        t.send(b"stream a lot\r")
        end = time.monotonic() + DEADLINE
        saved = ""
        while len(saved) < 400:
            assert time.monotonic() < end, "the reply was never saved while streaming"
            time.sleep(0.05)
            row = _stored_reply(db) if os.path.exists(db) else None
            saved = row[0] if row else ""
        t.kill()
    return saved


async def test_kill_9_mid_reply_keeps_tokens_and_shows_interrupted() -> None:
    reply = markdown_reply(4000)
    db = str(data_dir() / "slmdeck.db")
    with start_replay_server(reply=reply, token_rate=150) as server:
        saved = _stream_then_kill_9(server.host_port, db)
        content, status = _stored_reply(db) or ("", "")
        assert status == "streaming"  # nobody got to mark it: the process died
        assert content.startswith(saved) and reply.startswith(content)
        assert len(content) < len(reply)

        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
        )
        app = make_app(Config(), controller=controller, start_screen="chat")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ChatScreen)
            await screen.ready.wait()
            await pilot.pause()
            last = list(screen.query(MessageView))[-1]
            assert last.status == "interrupted"
            assert last.content == content
            assert "[interrupted]" in str(last.query_one(".msg-header").render())
    assert _stored_reply(db) == (content, "interrupted")


PASTED = "\n".join(
    [
        "```python",
        *(f"def step_{i}(x):  # line {i + 2} of the block" for i in range(38)),
        "```",
    ]
)


def test_bracketed_paste_of_40_lines_reaches_the_backend_whole() -> None:
    assert len(PASTED.splitlines()) == 40
    with start_replay_server(reply="Got it. ENDOFREPLY") as server, term(server.host_port) as t:
        t.wait_ready()
        start = len(t.output)
        # As a terminal pastes: inside ESC[200~ ... ESC[201~, each new line a carriage return.
        t.send(b"\x1b[200~" + PASTED.replace("\n", "\r").encode() + b"\x1b[201~")
        t.read_until(lambda o: b"step_37" in o[start:], "the pasted block in the prompt")
        t.send(b"\r")
        t.read_until(lambda o: b"ENDOFREPLY" in o[start:], "the reply")
        [chat] = [r for r in server.requests if r.path == "/api/chat"]
        assert chat.body["messages"][-1]["content"] == PASTED
