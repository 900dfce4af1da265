"""Soak: scripted use of the whole app against the Ollama replay with random faults, for minutes.

    python bench/soak.py [--minutes 30] [--seed 1] [--size 100x30] [--fault-rate 0.3] [--trace N]

One app, headless (Textual's test driver, the same code the terminal runs), against the Ollama
replay server (tests/ollama_replay.py, in a thread of this process) and the tiny ONNX model. In a
loop until the time is up, a random step:

* switch to a random screen (1-7) and wait for it to be shown;
* chat: a prompt on the Chat screen, streamed at 400 tok/s; a third of them stopped with escape
  midway; every tenth starts a new session (ctrl+n), so the conversation does not grow forever;
* pull ``smollm2:135m`` at 40 MB/s on the Models screen and cancel it after some progress, or let
  it finish and delete the model again;
* before each step, with ``--fault-rate`` probability, a fault for the next requests: the stream
  cut after a few chunks, a 500 with an HTML page, garbage mid-stream, a 2 s stall, or a 500 whose
  message holds markup and escape sequences. It clears itself after a few requests.

Each minute it prints the app's RSS (psutil, this process: the replay's own state is cleared every
step so it does not grow), the steps done, the error toasts shown, the slowest screen switch, and
crashes (an exception out of the app ends the run and is counted). At the end: RSS growth from
minute 5 to the end (target < 10 %), and 0 crashes. ``--trace N`` (a diagnosis, slower) also
follows allocations with tracemalloc from minute 5 and prints, each minute after, the N source
lines whose live memory grew most since then; ``--objects N`` only the N kinds of live objects
that grew most in number, which costs little.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MIB = 2**20
SCREEN_KEYS = "1234567"
FAULT_KINDS = ("cut", "html500", "garbage", "stall", "markup500")


@dataclass
class Tally:
    steps: dict[str, int] = field(default_factory=dict)
    errors_shown: int = 0
    faults: int = 0
    slowest_switch: float = 0.0
    slowest_to: str = ""
    crashes: int = 0
    rss: list[tuple[float, float]] = field(default_factory=list)
    """(minute, MiB)."""

    def count(self, step: str) -> None:
        self.steps[step] = self.steps.get(step, 0) + 1


def rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / MIB


def inject(server, rng: random.Random, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    from tests.ollama_replay import Faults

    kind = rng.choice(FAULT_KINDS)
    times = rng.randint(1, 3)
    faults = {
        "cut": Faults(die_after_chunks=rng.randint(1, 20), times=times),
        "html500": Faults(
            error_status=500,
            error_body=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            times=times,
        ),
        "garbage": Faults(garbage_after_chunks=rng.randint(1, 10), times=times),
        "stall": Faults(delay_first_byte=2.0, times=1),
        "markup500": Faults(
            error_status=500,
            error_message="boom [/] [@click=app.quit] \x1b[31mred\x1b[0m",
            times=times,
        ),
    }[kind]
    with server.state.lock:
        server.state.faults = faults
    tally.faults += 1


async def switch(pilot, key: str, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    from tests.waiting import until
    from tui.app import SCREEN_KEYS as KEYS

    app = pilot.app
    name = next(n for n, k in KEYS.items() if k == key)
    # A text field with the focus would take the digit: leave it first.
    from textual.screen import ModalScreen
    from textual.widgets import Input, TextArea

    while isinstance(app.screen, ModalScreen):  # a dialog left open by the last step
        app.screen.dismiss(None)
        await pilot.pause()
    if isinstance(app.screen.focused, Input | TextArea):
        app.screen.set_focus(None)
    start = time.perf_counter()
    await pilot.press(key)
    try:
        await until(pilot, lambda: app.current_mode == name and app.screen.is_current, name)
    except AssertionError:
        print(
            f"stuck: key {key!r} on {app.screen!r} (mode {app.current_mode}), focus "
            f"{app.screen.focused!r}, stack {app.screen_stack!r}",
            flush=True,
        )
        raise
    took = time.perf_counter() - start
    if took > tally.slowest_switch:
        tally.slowest_switch, tally.slowest_to = took, name


async def chat(pilot, rng: random.Random, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    from tests.waiting import until
    from tui.screens.chat import ChatScreen

    await switch(pilot, "6", tally)
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await screen.ready.wait()
    if not screen.model:
        pilot.app.open_screen("chat", model="qwen2.5:0.5b", backend="ollama")
        await until(pilot, lambda: screen.model == "qwen2.5:0.5b", "the chat model")
    if screen.streaming:
        await pilot.press("escape")
        await until(pilot, lambda: not screen.streaming, "the stream to stop")
    if tally.steps.get("chat", 0) % 10 == 9:
        # A new session now and then, as people do: one conversation growing for 30 minutes
        # would be measured as a leak.
        screen.action_new_session()
        await pilot.pause()
    prompt = screen.prompt
    text = f"soak {tally.steps.get('chat', 0)}: tell me about edge servers"
    if hasattr(prompt, "load_text"):
        prompt.load_text(text)
    else:
        prompt.value = text
    prompt.focus()
    await pilot.press("enter")
    if rng.random() < 1 / 3:
        await pilot.pause(rng.uniform(0.05, 0.5))
        await pilot.press("escape")
    worker = screen._turn_worker
    if worker is not None:
        from textual.worker import WorkerCancelled, WorkerFailed

        try:
            await worker.wait()
        except (WorkerCancelled, WorkerFailed):  # stopped by escape, or told as an error
            pass
    await pilot.pause()
    tally.count("chat")


async def pull(pilot, rng: random.Random, tally: Tally) -> None:  # type: ignore[no-untyped-def]
    from tests.waiting import until
    from tui.controller import OperationState

    await switch(pilot, "2", tally)
    controller = pilot.app.controller
    from tui.backends.base import BackendError

    if "smollm2:135m" in {m.name for m in controller.all_models()}:
        try:
            await controller.delete("ollama", "smollm2:135m")
        except BackendError:  # a fault meant for this request: the app says so; go on
            pass
    op = controller.pull("ollama", "smollm2:135m")
    if rng.random() < 0.5:
        await until(
            pilot,
            lambda: (
                op.state is not OperationState.RUNNING
                or (op.progress is not None and (op.progress.completed or 0) > 20 * MIB)
            ),
            "pull progress",
        )
        controller.cancel_operation(op.id)
    await until(pilot, lambda: op.state is not OperationState.RUNNING, "the pull's end")
    tally.count("pull")


async def soak(args: argparse.Namespace) -> Tally:
    from tests.conftest import FIXTURES, TINY_ONNX
    from tests.ollama_replay import start_replay_server
    from tui.app import make_app
    from tui.config import Config
    from tui.monitor import Monitor, load_samples

    rng = random.Random(args.seed)
    tally = Tally()
    width, height = (int(x) for x in args.size.split("x"))
    samples = load_samples(FIXTURES / "monitor_samples.json")
    with start_replay_server(token_rate=400.0, pull_rate=40e6) as server:
        server.state.reply = " ".join(f"word{i}" for i in range(120))
        cfg = Config(
            ollama_host=server.host_port,
            model_dirs=[TINY_ONNX.parent],
            probe_timeout=30.0,
            retry_interval=0,
        )
        app = make_app(cfg, monitor=Monitor.replay(samples, preload=True))
        start = time.monotonic()
        deadline = start + args.minutes * 60
        baseline: tracemalloc.Snapshot | None = None
        next_minute = 1
        try:
            async with app.run_test(size=(width, height)) as pilot:
                await app.controller.refresh_all()
                while time.monotonic() < deadline:
                    with server.state.lock:
                        server.state.requests.clear()
                        server.state.prompts.clear()
                        server.state.disconnects.clear()
                    if rng.random() < args.fault_rate:
                        inject(server, rng, tally)
                    step = rng.choice(("switch", "switch", "chat", "chat", "pull"))
                    if step == "switch":
                        await switch(pilot, rng.choice(SCREEN_KEYS), tally)
                        tally.count("switch")
                    elif step == "chat":
                        await chat(pilot, rng, tally)
                    else:
                        await pull(pilot, rng, tally)
                    tally.errors_shown = sum(1 for n in app._notifications if n.severity == "error")
                    if time.monotonic() - start >= next_minute * 60:
                        gc.collect()
                        tally.rss.append((next_minute, rss_mib()))
                        report_minute(tally)
                        if args.trace:
                            baseline = trace(next_minute, args.trace, baseline)
                        elif args.objects:
                            objects(next_minute, args.objects, app)
                        next_minute += 1
        except Exception as exc:  # a crash: the app raised out of its loop
            import traceback

            tally.crashes += 1
            print(f"CRASH: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc()
    return tally


def trace(
    minute: int, top: int, baseline: tracemalloc.Snapshot | None
) -> tracemalloc.Snapshot | None:
    """From minute 5, the lines whose live memory grew most since minute 5, each with the app's
    own frame that allocated it, and the kinds of live objects that grew most in number (see
    --trace). tracemalloc's own bookkeeping inflates RSS while it runs: read RSS without it."""
    global _counts_at_5
    if minute < 5:
        return None
    counts = _live_counts()
    if baseline is None:
        _counts_at_5 = counts
        tracemalloc.start(12)
        return tracemalloc.take_snapshot()
    for stat in tracemalloc.take_snapshot().compare_to(baseline, "traceback")[:top]:
        ours = [f for f in stat.traceback if "/tui/" in f.filename]
        where = ours[0] if ours else stat.traceback[0]
        print(f"    {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {where}")
    grown = sorted(counts, key=lambda k: counts[k] - _counts_at_5.get(k, 0), reverse=True)
    print(
        "    objects: "
        + ", ".join(f"{k} +{counts[k] - _counts_at_5.get(k, 0)}" for k in grown[:top])
    )
    return baseline


_counts_at_5: dict[str, int] = {}


def objects(minute: int, top: int, app: object) -> None:
    """From minute 5, the kinds of live objects that grew most in number since then (see
    --objects), and the widgets: how many the app's screens hold, how many are alive (one alive
    and in no screen is held by something), by class: cheap enough to leave RSS and the pace
    of the steps as they are."""
    global _counts_at_5
    if minute < 5:
        return
    counts = _live_counts()
    from textual.widget import Widget

    alive = [o for o in gc.get_objects() if isinstance(o, Widget)]
    mounted = {id(w) for screen in _screens(app) for w in screen.walk_children(with_self=True)}
    loose: dict[str, int] = {}
    for w in alive:
        if id(w) not in mounted:
            loose[type(w).__qualname__] = loose.get(type(w).__qualname__, 0) + 1
    print(
        f"    widgets: {len(mounted)} in screens, {len(alive)} alive; alive in no screen: "
        + ", ".join(f"{k} {v}" for k, v in sorted(loose.items(), key=lambda kv: -kv[1])[:top])
    )
    if minute == 5:
        _counts_at_5 = counts
        return
    grown = sorted(counts, key=lambda k: counts[k] - _counts_at_5.get(k, 0), reverse=True)
    print(
        "    objects: "
        + ", ".join(f"{k} +{counts[k] - _counts_at_5.get(k, 0)}" for k in grown[:top])
    )


def _screens(app: object) -> list[object]:
    """Every screen the app holds: the stacks of its modes and the installed ones."""
    screens: dict[int, object] = {}
    for stack in getattr(app, "_screen_stacks", {}).values():
        for screen in stack:
            screens[id(screen)] = screen
    for screen in getattr(app, "_installed_screens", {}).values():
        if not callable(screen) or hasattr(screen, "walk_children"):
            screens[id(screen)] = screen
    return list(screens.values())


def _live_counts() -> dict[str, int]:
    """Live objects the collector tracks, by type name."""
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] = counts.get(name, 0) + 1
    return counts


def report_minute(tally: Tally) -> None:
    minute, rss = tally.rss[-1]
    steps = " ".join(f"{k}={v}" for k, v in sorted(tally.steps.items()))
    print(
        f"min {minute:>3}  RSS {rss:7.1f} MiB  {steps}  faults={tally.faults}  "
        f"errors shown={tally.errors_shown}  slowest switch={tally.slowest_switch:.2f} s ({tally.slowest_to})  "
        f"crashes={tally.crashes}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", default="100x30")
    ap.add_argument("--fault-rate", type=float, default=0.3)
    ap.add_argument("--trace", type=int, default=0, metavar="N")
    ap.add_argument("--objects", type=int, default=0, metavar="N")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="slmdeck-soak-") as home:
        # Its own config, data and home: nothing of the user's is read or written.
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "HOME"):
            os.environ[var] = str(Path(home) / var.lower())
        os.environ.pop("OLLAMA_HOST", None)
        tally = asyncio.run(soak(args))
    after5 = [rss for minute, rss in tally.rss if minute >= 5]
    print()
    if len(after5) >= 2:
        growth = (after5[-1] - after5[0]) / after5[0] * 100
        verdict = "ok" if growth < 10 else "over the 10 % target"
        print(
            f"RSS minute 5 -> {tally.rss[-1][0]}: {after5[0]:.1f} -> {after5[-1]:.1f} MiB "
            f"({growth:+.1f} %, {verdict})"
        )
    elif tally.rss:
        print(
            f"RSS by minute: {', '.join(f'{r:.1f}' for _, r in tally.rss)} MiB "
            "(run 6 minutes or more for the growth after minute 5)"
        )
    print(
        f"steps: {tally.steps}, faults injected: {tally.faults}, "
        f"error toasts: {tally.errors_shown}, slowest switch: {tally.slowest_switch:.2f} s "
        f"({tally.slowest_to}), "
        f"crashes: {tally.crashes}"
    )
    return 1 if tally.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
