"""A huge reply (issue 15, item 5), Pilot against the Ollama replay in its own process: it streams
at the backend's pace, is stored whole, the screen holds a bounded amount of it, keys are handled
while it streams, memory stays bounded, and the stored session reopens quickly.

The size is ``SLMDECK_TEST_BIG_MB`` MB (10 by default; ``bench/big_reply.py`` does 50 and prints
the figures). The server sends it in NDJSON lines of 1,000 characters, as fast as it can.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual import events

from tests.chatpilot import ready
from tests.conftest import REACHABLE
from tests.keytime import CLOCK, Mark, judge
from tests.waiting import DEADLINE, until
from tui.app import make_app
from tui.backends.ollama import OllamaBackend
from tui.config import Config, data_dir
from tui.controller import Controller
from tui.widgets.chat_message import SEGMENT_CHARS, SHOWN_CHARS, MessageView
from tui.widgets.chat_prompt import ChatPrompt
from tui.widgets.chat_stream import HARD_CUT, WINDOW_CHARS, StreamingBody

MODEL = "qwen2.5:0.5b"
REPO = Path(__file__).resolve().parent.parent
SIZE = int(float(os.environ.get("SLMDECK_TEST_BIG_MB", "10")) * 1_000_000)
CHUNK = 1000

_BLOCKS = [
    "## Throughput\n\nSmall models trade **quality** for *speed*; these numbers are replayed.\n\n",
    "```python\ndef rate(count: int, seconds: float) -> float:\n    return count / seconds\n```\n\n",
    "| model | quant | tok/s |\n| --- | --- | ---: |\n| qwen2.5:0.5b | Q4_K_M | 162.3 |\n\n",
    "1. Load the model once.\n2. Stream the reply.\n3. Report `eval_count / eval_duration`.\n\n",
]

_SERVE = (
    "import sys; sys.path.insert(0, sys.argv[1]); import tests.ollama_replay as r;"
    " n = int(sys.argv[2]); r.tokenize = lambda t: [t[i:i + n] for i in range(0, len(t), n)];"
    " sys.exit(r.main(sys.argv[3:]))"
)


def big_reply(size: int) -> str:
    unit = "".join(_BLOCKS)
    return unit * max(1, size // len(unit)) + "The end.\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(host:port, reply): the replay in its own process (so it does not share the app's
    interpreter), answering every chat with the big reply."""
    reply = big_reply(SIZE)
    reply_file = tmp_path / "reply.md"
    reply_file.write_text(reply, encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [sys.executable, "-c", _SERVE, str(REPO), str(CHUNK), "--port", str(port)]
    proc = subprocess.Popen([*argv, "--reply-file", str(reply_file)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Ollama replay server on ...": it listens
        assert b"replay server" in line, line
        yield f"127.0.0.1:{port}", reply
    finally:
        proc.terminate()
        proc.wait(DEADLINE)


class KeyProbe:
    """From a thread, posts a key to the app every 50 ms and records how long after the key's
    event was made the prompt handled it, in app time (tests/keytime.py: a busy machine's waits
    for a core left out): a blocked event loop shows as a late key."""

    def __init__(self, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app = app
        self.loop = asyncio.get_running_loop()
        self.latencies: list[float] = []
        self.walls: list[float] = []
        """The same latencies by the wall clock, for the failure message."""
        self._handled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        original = ChatPrompt._on_key
        probe = self

        async def timed(prompt: ChatPrompt, event: events.Key) -> None:
            await original(prompt, event)
            made = getattr(event, "probe", None)
            if made is not None:
                probe.record(made)
                probe._handled.set()

        monkeypatch.setattr(ChatPrompt, "_on_key", timed)

    def record(self, made: Mark) -> None:
        now = CLOCK.mark()
        self.latencies.append(CLOCK.since(made, now))
        self.walls.append(now.wall - made.wall)

    def worst(self) -> str:
        worst = sorted(range(len(self.latencies)), key=self.latencies.__getitem__)[-3:]
        return ", ".join(f"{self.latencies[i]:.3f} s ({self.walls[i]:.3f} s wall)" for i in worst)

    def _run(self) -> None:
        while not self._stop.is_set():
            made = CLOCK.mark()
            event = events.Key("x", "x")
            event.probe = made  # type: ignore[attr-defined]
            self._handled.clear()
            self.loop.call_soon_threadsafe(self.app.post_message, event)
            while not self._handled.wait(0.05):
                if self._stop.is_set():
                    self.record(made)  # still not handled
                    return
            self._stop.wait(0.05)

    def __enter__(self) -> KeyProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stored_reply() -> tuple[str, str]:
    conn = sqlite3.connect(data_dir() / "slmdeck.db")
    try:
        row = conn.execute(
            "SELECT content, status FROM messages WHERE role='assistant' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        parts = conn.execute("SELECT count(*) FROM message_parts").fetchone()[0]
    finally:
        conn.close()
    assert parts == 0  # the batches were folded into the finished reply
    return str(row[0]), str(row[1])


def chat_app(host: str, *, model: bool = True) -> Any:
    """The app on Chat; with ``model`` asking for the model (else it reopens the last session)."""
    controller = Controller([OllamaBackend(host)], retry_interval=0, probe_timeout=REACHABLE)
    options = {"model": MODEL} if model else {}
    return make_app(Config(), controller=controller, start_screen="chat", screen_options=options)


async def test_a_huge_reply_streams_bounded_and_reopens_quickly(
    server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, reply = server
    drawn: list[int] = []
    original_append = StreamingBody.append

    def append(body: StreamingBody, text: str) -> None:
        original_append(body, text)
        drawn.append(len(body.source))

    monkeypatch.setattr(StreamingBody, "append", append)
    rss = psutil.Process()
    app = chat_app(host)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        before = rss.memory_info().rss
        peak = [before]
        screen.prompt.value = "go"
        screen.prompt.focus()
        # Not pilot.press: it returns once the app is idle again, after the whole reply.
        app.post_message(events.Key("enter", "\r"))
        with KeyProbe(app, monkeypatch) as probe:
            await until(pilot, lambda: screen._turn_worker is not None, "the turn")
            worker = screen._turn_worker
            assert worker is not None
            while not worker.is_finished:
                peak.append(rss.memory_info().rss)
                await asyncio.wait({asyncio.ensure_future(worker.wait())}, timeout=0.05)
        peak.append(rss.memory_info().rss)
        await pilot.pause()

        # Every character stored, once finished, and the view has it all for copy and export.
        content, status = stored_reply()
        assert status == "complete"
        assert len(content) == len(reply)
        assert hashlib.sha256(content.encode()).digest() == hashlib.sha256(reply.encode()).digest()
        view = [v for v in screen.query(MessageView) if v.role == "assistant"][-1]
        assert view.content == reply and view.status == "complete"
        # The screen drew (and kept) only the end: while streaming and once finished.
        bound = WINDOW_CHARS + HARD_CUT * SEGMENT_CHARS
        assert drawn and max(drawn) <= bound
        assert 0 < len(reply) - view.hidden_chars <= bound
        assert len(view.query(".msg-frozen")) <= bound // SEGMENT_CHARS + 1
        # Keys were handled all along (tests/keytime.py: the median within 250 ms, none hung).
        assert len(probe.latencies) >= 2
        assert judge(probe.latencies) is None, f"{judge(probe.latencies)}; {probe.worst()}"
        # Memory: the reply held about once (a string, its batches to the store), not per token
        # or per rendered line.
        growth = max(peak) - before
        assert growth < 4 * len(reply) + 80 * 2**20, f"RSS grew {growth / 2**20:.0f} MiB"

    # A new app opens that session at once, draws its end, and answers keys.
    started = CLOCK.mark()
    app = chat_app(host, model=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: len(screen.query(MessageView)) == 2, "the session drawn")
        opened = CLOCK.since(started)
        last = list(screen.query(MessageView))[-1]
        assert last.content == reply
        assert 0 < len(reply) - last.hidden_chars <= SHOWN_CHARS
        assert opened < 5.0, f"reopening took {opened:.1f} s"
        with KeyProbe(app, monkeypatch) as probe:
            await until(pilot, lambda: len(probe.latencies) >= 10, "keys after reopening")
        assert judge(probe.latencies) is None, f"{judge(probe.latencies)}; {probe.worst()}"
