"""Screen switches while a long pull runs: does every screen still come up at once, RSS flat?

    python bench/pull_freeze.py [--laps 2] [--pull-rate 2000000] [--size 80x24] [--runs 1]
                                [--dwell 0.5] [--no-baseline]

The user's check, as a real process in a pty: on the Models screen ``p``, ``smollm2:135m``, enter
(a 270.9 MB pull from the Ollama replay server, ``tests/ollama_replay.py`` in its own process, at
``--pull-rate`` bytes per second); once the pull's progress is on screen, the keys ``1`` ... ``7``,
``--laps`` times round. The first lap creates each screen, the later ones show screens made before.

Figures:

a. per switch: the key written to the pty until the new screen's frame has arrived (its title or
   body text and its own footer keys, both unique to that screen); median and worst per lap;
b. the app's RSS (psutil) before the pull, when its progress first shows, after each lap and at
   the end (back on Models); growth from the pull's start, and after the first lap (by then every
   screen exists: what grows later is what each progress update or switch leaves behind);
c. the pull's progress updates: the replay sends one every ``pull_tick`` (0.05 s, its default: no
   flag or variable sets it) of ``pull_rate * pull_tick`` bytes, so the bytes on screen at the end
   give the number sent; also how often the app drew the progress line, and its CPU.

Baseline in the same run (unless ``--no-baseline``): a second app process does the same laps
without a pull. The Editor's and Chat's text fields take the focus when first shown, so digits
would type there: escape leaves them (never sent on Models or Variants, where it cancels the pull).

Targets: every switch < 0.3 s; RSS flat: after the first lap, the pull run's RSS grows no more
than the baseline's plus ``--rss-slack`` MiB (without a baseline: no more than that slack).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pty import PtyProcess

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.ollama_replay import ReplayState, pullable_catalog  # noqa: E402

MODEL = "smollm2:135m"
TARGET_S = 0.3
MIB = 2**20

SCREENS: list[tuple[str, str, tuple[bytes, ...]]] = [
    # key, name, what the new screen's first frame holds (body text, then its footer's keys):
    # the bytes as the app writes them, each unique to that screen (found with tmux and the raw
    # output of each switch). Every footer lists the screen names, so names are no markers.
    ("1", "Backends", (b"Location", b"Re-probe")),
    ("2", "Models", (b"sorted by", b"Filter ")),
    # Its budget line (context, KV type, free memory), drawn once the model is read.
    ("3", "Variants", (b"(\xe2\x88\x92/+)",)),
    ("4", "Editor", (b"Preview ", b" Create ")),
    ("5", "Monitor", (b"Resources \xc2\xb7", b"Loaded models")),
    ("6", "Chat", (b"enter sends", b"Regenerate")),
    ("7", "Bench", (b"space selects", b"Prompts ")),
]
TEXT_FIRST = {"4", "6"}
"""Screens whose text field has the focus when first shown (later, the focus they were left with)."""
ESC = b"\x1b"
ESC_SETTLE = 0.4
"""After escape: Textual waits 0.1 s (ESCDELAY) to tell a lone escape from a sequence."""
PROGRESS = re.compile(rb"(\d+)% (\d+(?:\.\d+)?) ([KMG]i)?B/(\d+(?:\.\d+)?) MiB")
UNIT = {None: 1, b"Ki": 2**10, b"Mi": MIB, b"Gi": 2**30}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"replay server on port {port} did not start")


def has_all(markers: tuple[bytes, ...], start: int):  # type: ignore[no-untyped-def]
    return lambda out: all(out.find(m, start) != -1 for m in markers)


@dataclass
class Run:
    """What one app process measured."""

    pull: bool
    laps: list[list[float]] = field(default_factory=list)
    """Seconds per switch, in SCREENS order, per lap."""
    back: float = 0.0
    """The last switch, back to Models."""
    rss: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0
    """From the pull's progress first showing to the end."""
    cpu_pct: float = 0.0
    done_bytes: int = 0
    total_mib: float = 0.0
    draws: int = 0
    """Progress lines the app wrote from the pull's start to the end."""
    typed_into_editor: bool = False


class App:
    """slmdeck in a pty, with the replay server it talks to."""

    def __init__(self, tmp: Path, size: tuple[int, int], pull_rate: float, deadline: float):
        self.deadline = deadline
        self.port = free_port()
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ollama_replay",
                "--port",
                str(self.port),
                "--pull-rate",
                str(pull_rate),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.pty: PtyProcess | None = None
        try:
            wait_port(self.port, self.server)
            for name in ("home", "data", "xdg"):
                (tmp / name).mkdir(parents=True)
            # The memory bandwidth the fit uses is measured once per machine (a 256 MB copy, about
            # 1.5 s on the first Variants visit) and cached: give it, so a switch is a switch.
            (tmp / "data" / "bandwidth.json").write_text('{"bandwidth_bytes_s": 20e9}')
            env = {
                "OLLAMA_HOST": f"127.0.0.1:{self.port}",
                "SLMDECK_CONFIG": str(tmp / "config.toml"),
                "SLMDECK_DATA_DIR": str(tmp / "data"),
                "XDG_CONFIG_HOME": str(tmp / "xdg"),
                "XDG_DATA_HOME": str(tmp / "data"),
                "HOME": str(tmp / "home"),
                "TERM": "xterm-256color",
            }
            argv = [sys.executable, "-m", "tui.cli", "ui", "--screen", "models"]
            self.pty = PtyProcess(argv, env=env, size=size, cwd=REPO)
            self.ps = psutil.Process(self.pty.proc.pid)
        except BaseException:
            self.close()
            raise

    def wait(self, predicate, what: str, timeout: float | None = None) -> float:  # type: ignore[no-untyped-def]
        """Read until ``predicate(output)``; the perf_counter time then. Raises on the deadline."""
        assert self.pty is not None
        if self.pty.read_until(predicate, timeout or self.deadline) is None:
            tail = bytes(self.pty.output[-600:])
            raise RuntimeError(f"no {what} within {timeout or self.deadline} s; last: {tail!r}")
        return time.perf_counter()

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def close(self) -> None:
        if self.pty is not None:
            self.pty.close(b"\x11")  # ctrl+q; killed if it does not quit within 5 s
            self.pty = None
        if self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()


def app_run(tmp: Path, args: argparse.Namespace, size: tuple[int, int], pull: bool) -> Run:
    run = Run(pull=pull)
    app = App(tmp, size, args.pull_rate, args.deadline)
    try:
        pty = app.pty
        assert pty is not None
        app.wait(has_all((b"sorted by", b"qwen3:0.6b"), 0), "Models screen with its list", 30.0)
        pty.read_for(1.5)  # start-up work (backend probes, first samples) is over
        run.rss.append(("before pull" if pull else "ready", app.rss()))
        if pull:
            start = len(pty.output)
            pty.send(b"p")
            app.wait(has_all((b"Pull a model into",), start), "pull dialog")
            pty.read_for(0.3)
            for keys in (b"\x05", b"\x15", MODEL.encode(), b"\r"):  # ctrl+e, ctrl+u: clear it
                pty.send(keys)
                pty.read_for(0.15)
            app.wait(lambda o: PROGRESS.search(o, start) is not None, "pull progress", 30.0)
            run.rss.append(("pull start", app.rss()))
        t0, cpu0, out0 = time.perf_counter(), pty.cpu_seconds(), len(pty.output)
        in_text = False
        for lap in range(args.laps):
            times: list[float] = []
            for key, name, markers in SCREENS:
                if in_text:
                    pty.send(ESC)
                    pty.read_for(ESC_SETTLE)
                start = len(pty.output)
                sent = time.perf_counter()
                pty.send(key.encode())
                times.append(app.wait(has_all(markers, start), f"{name} screen") - sent)
                in_text = lap == 0 and key in TEXT_FIRST
                pty.read_for(args.dwell)  # the pull goes on while this screen is shown
            run.laps.append(times)
            run.rss.append((f"lap {lap + 1}", app.rss()))
        if in_text:
            pty.send(ESC)
            pty.read_for(ESC_SETTLE)
        start = len(pty.output)
        sent = time.perf_counter()
        pty.send(b"2")
        run.back = app.wait(has_all(SCREENS[1][2], start), "Models screen, back") - sent
        pty.read_for(1.0)  # Models catches up with the progress made while it was hidden
        run.seconds = time.perf_counter() - t0
        run.cpu_pct = 100 * (pty.cpu_seconds() - cpu0) / run.seconds
        run.rss.append(("end", app.rss()))
        if pull:
            matches = list(PROGRESS.finditer(pty.output, out0))
            run.draws = len(matches)
            if matches:
                m = matches[-1]
                run.done_bytes = int(float(m.group(2)) * UNIT[m.group(3)])
                run.total_mib = float(m.group(4))
        run.typed_into_editor = b"unsaved" in pty.output
    finally:
        app.close()
    return run


def row(label: str, values: list[float]) -> str:
    cells = "".join(f"{v:>9.3f}" for v in values)
    return f"  {label:<6}{cells} {statistics.median(values):>7.3f} {max(values):>6.3f}"


def report(run: Run, step: int, tick: float) -> None:
    kind = "pull" if run.pull else "no pull"
    for i, times in enumerate(run.laps):
        print(row(f"lap {i + 1}", times) + f"  ({kind})")
    print(f"  back to Models: {run.back:.3f} s")
    points = ", ".join(f"{name} {rss / MIB:.1f}" for name, rss in run.rss)
    since = "pull start" if run.pull else "ready"
    base = dict(run.rss)[since]
    end = run.rss[-1][1]
    after_lap1 = end - dict(run.rss)["lap 1"]
    print(
        f"  RSS MiB: {points}; growth {(end - base) / MIB:+.1f} MiB from {since},"
        f" {after_lap1 / MIB:+.1f} after lap 1"
    )
    if run.pull:
        sent = round(run.done_bytes / step)
        pace = run.seconds / tick
        done_mib = run.done_bytes / MIB
        print(
            f"  pull: {done_mib:.1f} of {run.total_mib:.1f} MiB on screen after {run.seconds:.1f} s"
            f" ({run.done_bytes / run.seconds / 1e6:.2f} MB/s): the server sent ~{sent} progress"
            f" updates (~{pace:.0f} at full pace); the app drew the progress line {run.draws} times"
        )
        if run.total_mib and done_mib >= run.total_mib:
            print("  WARNING: the pull finished before the end; lower --pull-rate or --laps")
    print(f"  app CPU {run.cpu_pct:.0f} % of one core over the laps")
    if run.typed_into_editor:
        print("  WARNING: a key went into the Editor's text (it shows unsaved)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--laps", type=int, default=2, help="times round the keys 1..7")
    ap.add_argument("--pull-rate", type=float, default=2_000_000, help="bytes per second")
    ap.add_argument("--size", default="80x24", help="terminal COLSxROWS")
    ap.add_argument("--runs", type=int, default=1, help="app runs with a pull")
    ap.add_argument("--dwell", type=float, default=0.5, help="seconds on each screen")
    ap.add_argument("--deadline", type=float, default=10.0, help="seconds any one wait may take")
    ap.add_argument("--rss-slack", type=float, default=2.0, help="MiB of growth after lap 1")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run without a pull")
    args = ap.parse_args()
    cols, rows = (int(x) for x in args.size.split("x"))
    tick = ReplayState().pull_tick
    step = max(1, int(args.pull_rate * tick))
    size = next(m.size for m in pullable_catalog() if m.name == MODEL)
    print(
        f"pull of {MODEL} ({size / 1e6:.1f} MB) at {args.pull_rate:,.0f} B/s: one update per"
        f" {tick} s of {step:,} B, {size / args.pull_rate:.0f} s in all;"
        f" terminal {cols}x{rows}, {args.laps} lap(s), {args.dwell} s on each screen;"
        f" cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.2f}"
    )
    laps_s = args.laps * len(SCREENS) * (args.dwell + 0.3) + 3
    if laps_s > size / args.pull_rate:
        print(f"WARNING: the laps take ~{laps_s:.0f} s, longer than the pull")
    print("  seconds per switch (key to the new screen's frame):")
    print(f"  {'':<6}" + "".join(f"{n:>9}" for _, n, _ in SCREENS) + f" {'median':>7} {'worst':>6}")
    runs: list[Run] = []
    baseline: Run | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="slmdeck-pullfreeze-") as tmpname:
            for i in range(args.runs):
                if args.runs > 1:
                    print(f" run {i + 1}")
                run = app_run(Path(tmpname) / f"pull-{i}", args, (cols, rows), pull=True)
                runs.append(run)
                report(run, step, tick)
            if not args.no_baseline:
                print(" baseline: the same laps, no pull")
                baseline = app_run(Path(tmpname) / "base", args, (cols, rows), pull=False)
                report(baseline, step, tick)
    except RuntimeError as exc:
        print(f"FAILED: {exc}")
        return 1
    every = [t for r in runs for lap in r.laps for t in lap] + [r.back for r in runs]
    medians = [statistics.median(t for lap in r.laps for t in lap) for r in runs]
    worst = max(every)
    later = max(r.rss[-1][1] - dict(r.rss)["lap 1"] for r in runs) / MIB
    summary = (
        f"with the pull: switch median {statistics.median(medians):.3f} s (median of runs),"
        f" worst {worst:.3f} s (worst of {len(every)})"
    )
    rss_line = f"RSS after lap 1: {later:+.1f} MiB with the pull (worst run)"
    own = later
    if baseline is not None:
        base = [t for lap in baseline.laps for t in lap]
        summary += (
            f"; without: median {statistics.median(base):.3f} s,"
            f" worst {max([*base, baseline.back]):.3f} s"
        )
        base_later = (baseline.rss[-1][1] - dict(baseline.rss)["lap 1"]) / MIB
        own = later - base_later
        rss_line += f", {base_later:+.1f} without: the pull's own {own:+.1f} MiB"
    print(summary)
    print(rss_line)
    print(
        f"targets: every switch < {TARGET_S} s: {'met' if worst < TARGET_S else 'MISSED'};"
        f" RSS flat (the pull's own growth after lap 1 <= {args.rss_slack} MiB):"
        f" {'met' if own <= args.rss_slack else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
