"""CPU cost of the live gauges: slmdeck on the Monitor screen vs the same app on an empty screen.

    python bench/monitor_overhead.py [--duration 60] [--interval 1.0] [--settle 5]

Three copies run side by side, each in its own pseudo-terminal (100x30), so machine noise hits
them alike:

* ``monitor``  ``slmdeck ui --screen monitor``: sampler, gauges, trends, per-core bars, process
  table, loaded-model polling, and the strip;
* ``strip``    ``slmdeck ui --screen backends``: the sampler and the one-line strip only;
* ``blank``    the same app (``make_app``, same config, same backend probing) started on an empty
  screen registered by this script: no deck screen, so no sampler and no strip (the baseline).

After the first paint and ``--settle`` seconds (probing done, the first samples drawn), each
process's CPU time (user + system, all threads, from /proc) is read at the start and the end of a
``--duration`` window. Figures are percent of one core; the overhead is monitor minus blank; the
target is at most 1 % at a 1 s interval. Bytes per second written to the terminal are shown too
(what an SSH link would carry).

The copies use an isolated config, Ollama pointed at a closed port and the tiny ONNX model as the
model dir, like bench/startup.py.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pty import PtyProcess

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.0
"""Percent of one core the Monitor screen may cost over the empty screen at a 1 s interval."""

BLANK = """
from textual.screen import Screen
from tui.app import make_app


class Blank(Screen[None]):
    \"\"\"Nothing on it: the baseline's screen.\"\"\"


app = make_app()
app.add_mode("blank", Blank)
app.start_screen = "blank"
app.run()
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pump(procs: list[PtyProcess], seconds: float) -> None:
    """Read every pty for ``seconds`` (a child blocked on a full pty would stop drawing)."""
    end = time.perf_counter() + seconds
    masters = {p.master: p for p in procs}
    while (left := end - time.perf_counter()) > 0:
        ready, _, _ = select.select(list(masters), [], [], min(left, 0.2))
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if chunk:
                masters[fd].output += chunk
            else:
                del masters[fd]
        if not masters:
            return


def wait_first_paint(procs: dict[str, PtyProcess], timeout: float = 30.0) -> None:
    end = time.perf_counter() + timeout
    waiting = dict(procs)
    while waiting and time.perf_counter() < end:
        pump(list(procs.values()), 0.1)
        for name, proc in list(waiting.items()):
            # The empty screen has no text: its first frame is done when the last row is drawn.
            marker = b"\x1b[30;1H" if name == "blank" else b"slmdeck"
            if marker in proc.output and proc.proc.poll() is None:
                del waiting[name]
    if waiting:
        names = ", ".join(waiting)
        tails = {n: bytes(p.output[-300:]) for n, p in waiting.items()}
        raise RuntimeError(f"no first paint from {names}: {tails!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds (60)")
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval, s (1.0)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after first paint (5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(f"[monitor]\ninterval = {args.interval}\n", encoding="utf-8")
        env = {
            "SLMDECK_CONFIG": str(config),
            "SLMDECK_DATA_DIR": str(Path(tmp) / "data"),
            "XDG_CONFIG_HOME": str(Path(tmp) / "xdg"),
            "OLLAMA_HOST": f"127.0.0.1:{closed_port()}",
            "SLMDECK_MODEL_DIRS": str(REPO / "tests" / "fixtures"),
        }
        blank = Path(tmp) / "blank.py"
        blank.write_text(BLANK, encoding="utf-8")
        slmdeck = str(Path(sys.executable).parent / "slmdeck")
        argv = {
            "monitor": [slmdeck, "ui", "--screen", "monitor"],
            "strip": [slmdeck, "ui", "--screen", "backends"],
            "blank": [sys.executable, str(blank)],
        }
        procs = {name: PtyProcess(a, env=env, size=(100, 30), cwd=REPO) for name, a in argv.items()}
        try:
            wait_first_paint(procs)
            pump(list(procs.values()), args.settle)
            cpu0 = {n: p.cpu_seconds() for n, p in procs.items()}
            out0 = {n: len(p.output) for n, p in procs.items()}
            t0 = time.perf_counter()
            pump(list(procs.values()), args.duration)
            wall = time.perf_counter() - t0
            cpu1 = {n: p.cpu_seconds() for n, p in procs.items()}
            out1 = {n: len(p.output) for n, p in procs.items()}
            rss = {n: p.rss_bytes() for n, p in procs.items()}
        finally:
            for proc in procs.values():
                proc.close(b"q")
    pct = {n: 100.0 * (cpu1[n] - cpu0[n]) / wall for n in procs}
    rate = {n: (out1[n] - out0[n]) / wall for n in procs}
    print(
        f"window {wall:.1f} s after first paint + {args.settle:g} s; interval {args.interval:g} s; "
        f"cpu count {os.cpu_count()}; clock tick {1 / os.sysconf('SC_CLK_TCK'):.3f} s"
    )
    for name in procs:
        print(
            f"{name:8s} {pct[name]:6.2f} % of one core  ({cpu1[name] - cpu0[name]:.2f} s CPU)  "
            f"{rate[name]:7.0f} B/s to the terminal  RSS {rss[name] / 2**20:.1f} MiB"
        )
    overhead = pct["monitor"] - pct["blank"]
    print(f"Monitor screen overhead (monitor - blank): {overhead:.2f} % of one core")
    print(
        f"strip-only overhead     (strip - blank):   {pct['strip'] - pct['blank']:.2f} % of one core"
    )
    if args.interval == 1.0:
        print(f"target <= {TARGET:g} % at 1 s: {'met' if overhead <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
