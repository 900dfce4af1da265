"""A 50 MB chat reply: does Chat keep the backend's pace, stay small and answer keys?

    python bench/big_reply.py [--mb 50] [--chunk 1000] [--runs 3] [--size 100x30]

The Ollama replay server (``tests/ollama_replay.py``, its own process) answers with ``--mb`` MB of
Markdown (prose, code blocks, tables, lists), sent as fast as it can in NDJSON lines of ``--chunk``
characters each (Ollama sends one line per token; a token of a few characters would make the
client's JSON parsing, not slmdeck, the cost to measure). Each run is a fresh process running the
app headless (Textual's ``run_test``) on an empty data dir:

a. the raw ``ollama`` client consuming the same stream: the pace of the source;
b. slmdeck: Enter to the end of the turn (the reply stored), CPU (user + system of the process, as
   % of one core over that span), peak RSS and its growth over the RSS before Enter;
c. key latency while it streams: a thread posts a key to the prompt every 50 ms and waits for the
   prompt to handle it; the latency is from the key event's creation to its handling (so a loop
   that is blocked shows as a late key, never as a missing sample);
d. the stored reply's length and SHA-256 against what the server sent;
e. reopening: a new process opens the app on that data dir; the time until the chat screen has
   drawn the stored session, then the worst key latency over the next second (a hang shows here).

Each figure is printed as the median and the worst over ``--runs`` runs.

Targets: (b) within ~2x of (a) plus a second, RSS growth < 3x the reply's size, worst key < 250 ms,
(d) equal, reopen < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODEL = "qwen2.5:0.5b"
MARKER = "zqxendmarker"
KEY_EVERY = 0.05

_BLOCKS = [
    "## Measuring throughput on an edge box\n\n"
    "Small models trade **quality** for *speed*; the numbers below are replayed, "
    "not measured, so treat them as a load pattern rather than a benchmark.\n\n",
    "```python\ndef tokens_per_second(count: int, seconds: float) -> float:\n"
    "    if seconds <= 0:\n        return 0.0\n    return count / seconds\n```\n\n",
    "| model | quant | size | tok/s |\n| --- | --- | ---: | ---: |\n"
    "| llama3.2:3b | Q4_K_M | 2.0 GB | 41.7 |\n| qwen2.5:0.5b | Q4_K_M | 398 MB | 162.3 |\n\n",
    "1. Load the model once and keep it warm.\n2. Stream the reply token by token.\n"
    "3. Report `eval_count / eval_duration` as the rate.\n\n",
    "> Memory bandwidth, not compute, bounds decoding speed for batch size one.\n\n",
]


def big_reply(size: int) -> str:
    """About ``size`` characters of Markdown, ending in :data:`MARKER`."""
    unit = "".join(_BLOCKS)
    text = unit * max(1, size // len(unit))
    return text + f"The end {MARKER}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"replay server on port {port} did not start")


_SERVE = (
    "import sys; sys.path.insert(0, sys.argv[1]); import tests.ollama_replay as r; n = int(sys.argv[2]);"
    " r.tokenize = lambda t: [t[i:i + n] for i in range(0, len(t), n)];"
    " sys.exit(r.main(sys.argv[3:]))"
)


def start_server(reply_file: Path, chunk: int) -> tuple[subprocess.Popen[bytes], str]:
    """The replay server in its own process, its replies cut into lines of ``chunk`` characters."""
    port = free_port()
    argv = [sys.executable, "-c", _SERVE, str(REPO), str(chunk), "--port", str(port)]
    argv += ["--reply-file", str(reply_file)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, f"127.0.0.1:{port}"


def raw_client(host: str) -> float:
    import ollama

    client = ollama.Client(host=host)
    start = time.perf_counter()
    for _part in client.chat(
        model=MODEL, messages=[{"role": "user", "content": "go"}], stream=True
    ):
        pass
    return time.perf_counter() - start


# ------------------------------------------------------------------ in the child process


class KeyProbe:
    """Posts a key to the prompt from a thread, every :data:`KEY_EVERY` s, and times its handling."""

    def __init__(self, app: Any) -> None:
        from tui.widgets.chat_prompt import ChatPrompt

        self.app = app
        self.loop = asyncio.get_running_loop()
        self.latencies: list[float] = []
        self._handled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        original = ChatPrompt._on_key
        probe = self

        async def timed(prompt: ChatPrompt, event: Any) -> None:
            await original(prompt, event)
            made = getattr(event, "_probe", None)
            if made is not None:
                probe.latencies.append(time.perf_counter() - made)
                probe._handled.set()

        ChatPrompt._on_key = timed  # type: ignore[method-assign]

    def _post(self) -> None:
        from textual import events

        made = time.perf_counter()
        event = events.Key("x", "x")
        event._probe = made  # type: ignore[attr-defined]
        self._handled.clear()
        self.loop.call_soon_threadsafe(self.app.post_message, event)

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.perf_counter()
            self._post()
            while not self._handled.wait(0.5):
                if self._stop.is_set():
                    # Never handled while probing: counted as late as it is now.
                    self.latencies.append(time.perf_counter() - sent)
                    return
            self._stop.wait(KEY_EVERY)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class PeakRss:
    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return int(self.proc.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


def _app(host: str) -> Any:
    from tests.conftest import REACHABLE
    from tui.app import make_app
    from tui.backends.ollama import OllamaBackend
    from tui.config import Config
    from tui.controller import Controller

    controller = Controller([OllamaBackend(host)], retry_interval=0, probe_timeout=REACHABLE)
    return make_app(
        Config(), controller=controller, start_screen="chat", screen_options={"model": MODEL}
    )


async def _ready(pilot: Any) -> Any:
    from tests.chatpilot import ready

    return await ready(pilot)


async def child_stream(host: str, size: tuple[int, int]) -> dict[str, Any]:
    from tui.widgets.chat_message import MessageView

    app = _app(host)
    out: dict[str, Any] = {}
    async with app.run_test(size=size) as pilot:
        screen = await _ready(pilot)
        rss = PeakRss()
        out["rss_before"] = rss.now()
        probe = KeyProbe(app)
        screen.prompt.value = "go"
        screen.prompt.focus()
        cpu0, t0 = time.process_time(), time.perf_counter()
        # Not pilot.press: it returns once the app is idle, i.e. after the whole reply.
        from textual import events

        app.post_message(events.Key("enter", "\r"))
        probe.start()
        while screen._turn_worker is None:  # noqa: ASYNC110 (a bench: no event says it started)
            await asyncio.sleep(0.005)
        await screen._turn_worker.wait()
        t1 = time.perf_counter()
        cpu1 = time.process_time()
        probe.stop()
        out["peak_rss"] = rss.stop()
        out["seconds"] = t1 - t0
        out["cpu_pct"] = 100 * (cpu1 - cpu0) / (t1 - t0)
        out["keys"] = probe.latencies
        await pilot.pause()
        view = [v for v in screen.query(MessageView) if v.role == "assistant"][-1]
        out["status"] = view.status
        out["session"] = screen.chat.session.id if screen.chat.session else 0
    return out


async def child_reopen(host: str, size: tuple[int, int]) -> dict[str, Any]:
    from tui.widgets.chat_message import MessageView

    app = _app(host)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        screen = await _ready(pilot)
        await pilot.pause()
        views = list(screen.query(MessageView))
        out["reopen_s"] = time.perf_counter() - t0
        out["views"] = len(views)
        probe = KeyProbe(app)
        probe.start()
        await asyncio.sleep(1.0)
        probe.stop()
        out["reopen_keys"] = probe.latencies
    return out


def stored_reply(data: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(data / "slmdeck.db")
    try:
        row = conn.execute(
            "SELECT content FROM messages WHERE role='assistant' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return str(row[0]) if row else ""


def child(args: argparse.Namespace) -> None:
    size = tuple(int(x) for x in args.size.split("x"))
    runner = child_stream if args.child == "stream" else child_reopen
    result = asyncio.run(runner(args.host, size))  # type: ignore[arg-type]
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------ the parent


def run_child(kind: str, host: str, tmp: Path, size: str) -> dict[str, Any]:
    env = dict(os.environ)
    for name in ("data", "config", "home"):
        (tmp / name).mkdir(exist_ok=True)
    env.update(
        SLMDECK_DATA_DIR=str(tmp / "data"),
        SLMDECK_CONFIG=str(tmp / "config" / "config.toml"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_DATA_HOME=str(tmp / "data"),
        HOME=str(tmp / "home"),
        OLLAMA_HOST=host,
    )
    argv = [sys.executable, __file__, "--child", kind, "--host", host, "--size", size]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=50.0, help="size of the reply in MB")
    ap.add_argument("--chunk", type=int, default=1000, help="characters per NDJSON line")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="100x30")
    ap.add_argument("--child", choices=("stream", "reopen"), help=argparse.SUPPRESS)
    ap.add_argument("--host", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    text = big_reply(int(args.mb * 1_000_000))
    digest = hashlib.sha256(text.encode()).hexdigest()
    rows: dict[str, list[float]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="slmdeck-big-") as root:
        reply_file = Path(root) / "reply.md"
        reply_file.write_text(text, encoding="utf-8")
        server, host = start_server(reply_file, args.chunk)
        try:
            print(
                f"reply: {len(text):,} characters in lines of {args.chunk} "
                f"({len(text) // args.chunk:,} lines), {args.runs} runs, {args.size}"
            )
            for run in range(args.runs):
                tmp = Path(root) / f"run{run}"
                tmp.mkdir()
                raw = raw_client(host)
                s = run_child("stream", host, tmp, args.size)
                stored = stored_reply(tmp / "data")
                ok = (
                    len(stored) == len(text)
                    and hashlib.sha256(stored.encode()).hexdigest() == digest
                )
                if not ok or s["status"] != "complete":
                    failures.append(
                        f"run {run}: status {s['status']}, stored {len(stored):,} of {len(text):,}"
                        f" characters, hash {'equal' if ok else 'differs'}"
                    )
                r = run_child("reopen", host, tmp, args.size)
                figures = {
                    "raw client (s)": raw,
                    "slmdeck stream (s)": s["seconds"],
                    "CPU (% of a core)": s["cpu_pct"],
                    "peak RSS (MiB)": s["peak_rss"] / 2**20,
                    "RSS growth (MiB)": (s["peak_rss"] - s["rss_before"]) / 2**20,
                    "worst key while streaming (ms)": 1000 * max(s["keys"] or [float("nan")]),
                    "median key while streaming (ms)": 1000 * statistics.median(s["keys"] or [0]),
                    "keys sampled": float(len(s["keys"])),
                    "reopen to drawn (s)": r["reopen_s"],
                    "worst key after reopen (ms)": 1000 * max(r["reopen_keys"] or [float("nan")]),
                }
                print(
                    f"run {run + 1}: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
                    + f", stored {'ok' if ok else 'WRONG'}",
                    flush=True,
                )
                for k, v in figures.items():
                    rows.setdefault(k, []).append(v)
        finally:
            server.terminate()
            server.wait()
    print()
    print(f"{'figure':<34} {'median':>10} {'worst':>10}")
    lower_better = {k for k in rows if k != "keys sampled"}
    for k, values in rows.items():
        worst = max(values) if k in lower_better else min(values)
        print(f"{k:<34} {statistics.median(values):>10.2f} {worst:>10.2f}")
    for line in failures:
        print("FAILED:", line)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
