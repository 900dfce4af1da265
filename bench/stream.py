"""Streaming a long Markdown reply: does slmdeck keep pace, and what does it cost?

    python bench/stream.py [--tokens 5000] [--rates 1000,100] [--size 100x30]

For each rate, the Ollama replay server (``tests/ollama_replay.py``, its own process) streams the same
reply of ``--tokens`` tokens of Markdown with code blocks and tables, ending in a marker word. In the
same run it measures:

a. the raw ``ollama`` client consuming the stream (request to last chunk): the pace of the source;
b. slmdeck (``slmdeck ui --screen chat`` in a pty of the given size): Enter to the marker on screen.
   The display lag after the last token is (b) minus (a): an upper bound, since (b) also holds
   the app's own set-up of the turn (a few SQLite writes) before the request leaves;
c. slmdeck's CPU (user + system of its process) between Enter and the marker, as % of one core;
d. bytes the app wrote to the terminal in that span, per token.

Targets: lag <= 0.3 s, CPU <= 25 % at 100 tok/s, <= 60 bytes per token.
"""

from __future__ import annotations

import argparse
import socket
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


def app_run(host: str, tmp: Path, size: tuple[int, int]) -> dict[str, float]:
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
        start_bytes = len(proc.output)
        cpu0 = proc.cpu_seconds()
        t0 = time.perf_counter()
        proc.send(b"go\r")
        marker = MARKER.encode()
        done = proc.read_until(lambda o: marker in o[start_bytes:], 600.0)
        t1 = time.perf_counter()
        if done is None:
            raise RuntimeError("the last token never reached the screen")
        cpu1 = proc.cpu_seconds()
        return {
            "seconds": t1 - t0,
            "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
            "bytes": float(len(proc.output) - start_bytes),
        }
    finally:
        proc.close(b"\x11")  # ctrl+q


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tokens", type=int, default=5000)
    ap.add_argument("--rates", default="1000,100", help="comma-separated tokens per second")
    ap.add_argument("--size", default="100x30", help="terminal COLSxROWS")
    args = ap.parse_args()
    cols, rows = (int(x) for x in args.size.split("x"))
    print(f"{args.tokens} tokens of Markdown, terminal {cols}x{rows}")
    print(f"{'rate':>9} {'raw client':>11} {'slmdeck':>9} {'lag':>8} {'CPU':>7} {'bytes/tok':>10}")
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
            try:
                wait_port(port)
                host = f"127.0.0.1:{port}"
                raw, _first = raw_client_seconds(host)
                run_dir = tmp / f"run-{int(rate)}"
                run_dir.mkdir()
                app = app_run(host, run_dir, (cols, rows))
            finally:
                server.terminate()
                server.wait(10)
            lag = app["seconds"] - raw
            print(
                f"{rate:>5.0f} t/s {raw:>10.2f}s {app['seconds']:>8.2f}s {lag:>7.2f}s"
                f" {app['cpu_pct']:>6.1f}% {app['bytes'] / args.tokens:>10.1f}",
                flush=True,
            )
    print("targets: lag <= 0.3 s, CPU <= 25 % at 100 tok/s, bytes/token <= 60")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
