"""Streaming a long Markdown reply: does slmdeck keep pace, and what does it cost?

    python bench/stream.py [--tokens 5000] [--rates 1000,100] [--size 100x30] [--runs 3]
                           [--breakdown]

For each rate, the Ollama replay server (``tests/ollama_replay.py``, its own process) streams the same
reply of ``--tokens`` tokens of Markdown with code blocks and tables, ending in a marker word. In the
same run it measures:

a. the raw ``ollama`` client consuming the stream (request to last chunk): the pace of the source;
b. slmdeck (``slmdeck ui --screen chat`` in a pty of the given size): Enter to the marker on screen.
   The display lag after the last token is (b) minus (a): an upper bound, since (b) also holds
   the app's own set-up of the turn (a few SQLite writes) before the request leaves;
c. slmdeck's CPU (user + system of its process) between Enter and the marker, as % of one core;
d. bytes the app wrote to the terminal in that span, per token; and (``+end``) up to the reply's
   final stats line, which adds the redraw of the finished reply.

With ``--runs N`` each figure is the median of N runs, and the worst run (largest lag) is printed too:
the target holds for every run, not only the median. ``--breakdown`` also says where the bytes of
the last run went: screen frames, each area of the Chat screen, and escape sequences vs. text.

Targets: lag <= 0.3 s, CPU <= 25 % at 100 tok/s, <= 60 bytes per token.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pty import PtyProcess

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.ollama_replay import markdown_reply, tokenize  # noqa: E402

MODEL = "qwen2.5:0.5b"
MARKER = "zqxendmarker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"replay server on port {port} did not start")


def reply_text(tokens: int) -> str:
    text = markdown_reply(tokens - 3) + f"\n\nThe end {MARKER}"
    assert len(tokenize(text)) == tokens, len(tokenize(text))
    return text


def raw_client_seconds(host: str) -> tuple[float, float]:
    """(request to last chunk, request to first text chunk) for the raw client."""
    import ollama

    client = ollama.Client(host=host)
    start = time.perf_counter()
    first = None
    for part in client.chat(model=MODEL, messages=[{"role": "user", "content": "go"}], stream=True):
        if first is None and part.message.content:
            first = time.perf_counter() - start
    return time.perf_counter() - start, first or 0.0


class AppRun:
    """What one app run measured, and the bytes it wrote with their read times."""

    def __init__(
        self,
        seconds: float,
        cpu_pct: float,
        output: bytes,
        end: int,
        marks: list[tuple[float, int]],
    ) -> None:
        self.seconds = seconds
        self.cpu_pct = cpu_pct
        self.output = output
        """Everything written from Enter until the final stats line (plus a short settle)."""
        self.end = end
        """Bytes written from Enter until the marker was on screen."""
        self.marks = marks
        """(seconds, bytes so far) after each read."""


def app_run(host: str, tmp: Path, size: tuple[int, int]) -> AppRun:
    env = {
        "OLLAMA_HOST": host,
        "SLMDECK_DATA_DIR": str(tmp / "data"),
        "SLMDECK_CONFIG": str(tmp / "config.toml"),
        "XDG_CONFIG_HOME": str(tmp / "xdg"),
        "HOME": str(tmp / "home"),
    }
    argv = [sys.executable, "-m", "tui.cli", "ui", "--screen", "chat", "--model", MODEL]
    proc = PtyProcess(argv, env=env, size=size, cwd=REPO)
    try:
        # Ready: the prompt is drawn and the backend has listed the model.
        if proc.read_until(lambda o: b"Ask something" in o and b"ollama" in o, 30.0) is None:
            raise RuntimeError(f"the app did not get ready: {bytes(proc.output[-600:])!r}")
        proc.read_for(1.0)
        start = len(proc.output)
        cpu0 = proc.cpu_seconds()
        t0 = time.perf_counter()
        proc.send(b"go\r")
        marker = MARKER.encode()
        done = proc.read_until(lambda o: marker in o[start:], 600.0)
        t1 = time.perf_counter()
        if done is None:
            tail = bytes(proc.output[-800:])
            raise RuntimeError(f"the last token never reached the screen; last output: {tail!r}")
        cpu1 = proc.cpu_seconds()
        end = len(proc.output) - start
        # The finished reply is shown with its stats line ("TTFT ..."); then let it settle.
        proc.read_until(lambda o: b"TTFT" in o[start + end :], 30.0)
        proc.read_for(0.3)
        since = t0 - proc.started
        marks = [(t - since, n - start) for t, n in proc.marks if n > start]
        return AppRun(
            t1 - t0, 100 * (cpu1 - cpu0) / (t1 - t0), bytes(proc.output[start:]), end, marks
        )
    finally:
        proc.close(b"\x11")  # ctrl+q


_MOVE = re.compile(rb"\x1b\[(\d+);(\d+)H")
_SGR = re.compile(rb"\x1b\[[0-9;]*m")
_ESC = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def chat_areas(rows: int) -> list[tuple[str, range]]:
    """The Chat screen's areas by terminal row (1-based), as chat.py lays them out."""
    return [
        ("header", range(1, 2)),
        ("model line", range(2, 3)),
        ("conversation", range(3, rows - 5)),
        ("status line", range(rows - 5, rows - 4)),
        ("prompt", range(rows - 4, rows - 1)),
        ("gauge strip", range(rows - 1, rows)),
        ("footer", range(rows, rows + 1)),
    ]


def breakdown(run: AppRun, tokens: int, rows: int) -> list[str]:
    """Where the bytes of a run went, as report lines."""
    data = run.output[: run.end]
    lines = [f"  bytes from Enter to the marker: {len(data)} ({len(data) / tokens:.1f}/token)"]
    # Frames: Textual writes a frame in one go; reads less than 5 ms apart are one frame.
    frames: list[int] = []
    last_t, last_n = -1.0, 0
    for t, n in run.marks:
        if n > run.end:
            break
        if frames and t - last_t < 0.005:
            frames[-1] += n - last_n
        else:
            frames.append(n - last_n)
        last_t, last_n = t, n
    if frames:
        lines.append(
            f"  frames: {len(frames)} in {run.seconds:.1f} s, median {statistics.median(frames):.0f}"
            f" bytes, largest {max(frames)}"
        )
    per_row: dict[int, int] = {}
    moves = list(_MOVE.finditer(data))
    for i, m in enumerate(moves):
        stop = moves[i + 1].start() if i + 1 < len(moves) else len(data)
        row = int(m.group(1))
        per_row[row] = per_row.get(row, 0) + stop - m.start()
    for name, rng in chat_areas(rows):
        n = sum(per_row.get(r, 0) for r in rng)
        if n:
            lines.append(f"  {name:>13}: {n:>8} bytes {n / tokens:6.1f}/token")
    sgr = sum(len(m.group()) for m in _SGR.finditer(data))
    move = sum(len(m.group()) for m in moves)
    other = sum(len(m.group()) for m in _ESC.finditer(data)) - sgr - move
    text = len(data) - sgr - move - other
    lines.append(
        f"  by kind: text {text / tokens:.1f}, colour/style (SGR) {sgr / tokens:.1f}, "
        f"cursor moves {move / tokens:.1f}, other escapes {other / tokens:.1f} bytes/token"
    )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tokens", type=int, default=5000)
    ap.add_argument("--rates", default="1000,100", help="comma-separated tokens per second")
    ap.add_argument("--size", default="100x30", help="terminal COLSxROWS")
    ap.add_argument(
        "--runs", type=int, default=1, help="runs per rate (medians, and the worst run)"
    )
    ap.add_argument("--breakdown", action="store_true", help="where the bytes went (last run)")
    args = ap.parse_args()
    cols, rows = (int(x) for x in args.size.split("x"))
    print(f"{args.tokens} tokens of Markdown, terminal {cols}x{rows}, {args.runs} run(s) per rate")
    print(
        f"{'rate':>9} {'raw client':>11} {'slmdeck':>9} {'lag':>8} {'CPU':>7} {'bytes/tok':>10}"
        f" {'+end':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="slmdeck-stream-") as tmpname:
        tmp = Path(tmpname)
        reply = tmp / "reply.md"
        reply.write_text(reply_text(args.tokens), encoding="utf-8")
        for rate in (float(r) for r in args.rates.split(",")):
            port = free_port()
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.ollama_replay",
                    "--port",
                    str(port),
                    "--rate",
                    str(rate),
                    "--reply-file",
                    str(reply),
                ],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            figures: list[tuple[float, ...]] = []
            try:
                wait_port(port)
                host = f"127.0.0.1:{port}"
                for i in range(args.runs):
                    raw, _first = raw_client_seconds(host)
                    run_dir = tmp / f"run-{int(rate)}-{i}"
                    run_dir.mkdir()
                    app = app_run(host, run_dir, (cols, rows))
                    figures.append(
                        (
                            raw,
                            app.seconds,
                            app.seconds - raw,
                            app.cpu_pct,
                            app.end / args.tokens,
                            len(app.output) / args.tokens,
                        )
                    )
            finally:
                server.terminate()
                server.wait(10)
            raw, secs, lag, cpu, per_tok, with_end = (
                statistics.median(f[k] for f in figures) for k in range(6)
            )
            print(
                f"{rate:>5.0f} t/s {raw:>10.2f}s {secs:>8.2f}s {lag:>7.2f}s"
                f" {cpu:>6.1f}% {per_tok:>10.1f} {with_end:>6.1f}",
                flush=True,
            )
            if args.runs > 1:
                worst = max(figures, key=lambda f: f[2])
                print(
                    f"          worst run: lag {worst[2]:.2f}s CPU {worst[3]:.1f}%"
                    f" {worst[4]:.1f} B/tok (of {len(figures)})"
                )
                print(
                    "          per run: "
                    + ", ".join(
                        f"lag {f[2]:.2f}s CPU {f[3]:.1f}% {f[4]:.1f} B/tok" for f in figures
                    )
                )
            if args.breakdown:
                print("\n".join(breakdown(app, args.tokens, rows)), flush=True)
    print("targets: lag <= 0.3 s, CPU <= 25 % at 100 tok/s, bytes/token <= 60")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
