"""Launch-to-first-paint time and idle RSS of `slmdeck`, as separate processes, median of N runs.

Baseline in the same run: a minimal Textual app (Header, one Static, Footer) started the same way,
so the figures can be read as a ratio that survives a noisy machine.

    python bench/startup.py [--runs 7]

"First paint" is when the pty has received the screen's first frame: the text of the header and the
footer's quit key. Idle RSS is read from /proc 3 s after that (backend discovery has finished by then).
The app runs with an isolated config, Ollama pointed at a closed port and the tiny ONNX model as a
model dir, so it does its full start-up work (probing and listing) without any server.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pty import PtyProcess

REPO = Path(__file__).resolve().parent.parent
BASELINE = """
from textual.app import App
from textual.widgets import Footer, Header, Static

class Hello(App):
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self):
        yield Header()
        yield Static("Backends")
        yield Footer()

Hello().run()
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(argv: list[str], env: dict[str, str], markers: list[bytes]) -> tuple[float, int]:
    proc = PtyProcess(argv, env=env, size=(100, 30))
    try:
        seconds = proc.read_until(lambda out: all(m in out for m in markers), 20.0)
        if seconds is None:
            raise RuntimeError(f"no first paint from {argv}: {bytes(proc.output[-400:])!r}")
        proc.read_for(3.0)
        rss = proc.rss_bytes()
    finally:
        proc.close(b"q")
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "SLMDECK_CONFIG": str(Path(tmp) / "config.toml"),
            "SLMDECK_DATA_DIR": str(Path(tmp) / "data"),
            "XDG_CONFIG_HOME": str(Path(tmp) / "xdg"),
            "OLLAMA_HOST": f"127.0.0.1:{closed_port()}",
            "SLMDECK_MODEL_DIRS": str(REPO / "tests" / "fixtures"),
        }
        slmdeck = [str(Path(sys.executable).parent / "slmdeck")]
        base_script = Path(tmp) / "baseline.py"
        base_script.write_text(BASELINE)
        results: dict[str, list[tuple[float, int]]] = {"slmdeck": [], "baseline": []}
        for _ in range(args.runs):  # interleaved so drift hits both alike
            results["baseline"].append(
                measure([sys.executable, str(base_script)], env, [b"Hello", b"Quit"])
            )
            results["slmdeck"].append(measure(slmdeck, env, [b"slmdeck", b"Quit", b"Backends"]))
    med = {
        k: (statistics.median(t for t, _ in v), statistics.median(r for _, r in v))
        for k, v in results.items()
    }
    print(f"runs: {args.runs} each, interleaved; cpu count {os.cpu_count()}")
    for name, (t, r) in med.items():
        times = ", ".join(f"{t:.3f}" for t, _ in results[name])
        print(
            f"{name:9s} first paint median {t:.3f} s  idle RSS median {r / 2**20:.1f} MiB  (runs: {times})"
        )
    (t_s, r_s), (t_b, r_b) = med["slmdeck"], med["baseline"]
    print(f"ratio slmdeck/baseline: first paint {t_s / t_b:.2f}x, idle RSS {r_s / r_b:.2f}x")
    print(
        f"targets: first paint <= 0.6 s: {'met' if t_s <= 0.6 else 'MISSED'}; "
        f"idle RSS <= 70 MiB: {'met' if r_s <= 70 * 2**20 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
