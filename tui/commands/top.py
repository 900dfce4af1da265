"""``slmdeck top``: CPU, memory, disk, GPU and backend processes, as text or JSON, without the UI."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.core.sanitize import sanitize
from tui.monitor.fmt import NA, format_bytes, format_number, format_percent, format_rate
from tui.monitor.monitor import DEFAULT_INTERVAL, Monitor
from tui.monitor.sample import Sample
from tui.monitor.stores import ollama_store, one_per_filesystem

_WARMUP = 0.5
"""Seconds between the two readings of ``--once``: CPU percentages and rates need an interval."""


def register(subparsers: Any) -> None:
    """Add the ``top`` subcommand to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "top",
        help="show CPU, memory, GPU and backend processes",
        description=(
            "Show this machine's CPU, memory, disk, GPU and model-server processes, refreshed "
            "every interval until Ctrl+C (or once with --once)."
        ),
    )
    parser.add_argument("--once", action="store_true", help="print one reading and exit")
    parser.add_argument(
        "--json", action="store_true", help="print JSON (one object per line when repeating)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="S",
        help="seconds between readings (default: monitor_interval from the config, else 1.0)",
    )
    parser.add_argument(
        "--host",
        metavar="NAME",
        default=None,
        help="a [[hosts]] host's figures, from its node_exporter and GPU exporter (default: here)",
    )
    parser.set_defaults(func=run)


def _settings() -> tuple[float, list[Path]]:
    """Interval and model-store paths from the config; defaults when it cannot be read."""
    interval = DEFAULT_INTERVAL
    paths: list[Path] = []
    try:
        from tui.config import load_config

        cfg = load_config()
        interval = float(cfg.monitor_interval)
        paths.extend(cfg.model_dirs)
        if cfg.foundry_cache is not None:
            paths.append(cfg.foundry_cache)
    except Exception:
        # top is a diagnostic: a broken config must not stop it from showing the machine.
        pass
    paths.append(ollama_store())
    return interval, paths


def format_text(sample: Sample) -> str:
    """A compact table of one sample, as ``slmdeck top`` prints it."""
    when = datetime.fromtimestamp(sample.time).strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"slmdeck top · {when} · over {sample.interval:.1f} s"]
    load = " ".join(f"{v:.2f}" for v in sample.load_avg) if sample.load_avg else NA
    cores = " ".join(f"{v:3.0f}" for v in sample.cpu_per_core)
    lines.append(f"CPU   {format_percent(sample.cpu_percent):>8}   load {load}   cores {cores}")
    lines.append(
        f"RAM   {format_percent(sample.ram_percent):>8}   "
        f"{format_bytes(sample.ram_total - sample.ram_available)} in use of "
        f"{format_bytes(sample.ram_total)}, {format_bytes(sample.ram_available)} available"
    )
    swap = (
        f"{format_bytes(sample.swap_used)} of {format_bytes(sample.swap_total)}"
        if sample.swap_total
        else "none"
    )
    lines.append(f"Swap  {format_percent(sample.swap_percent):>8}   {swap}")
    lines.append(
        f"Net   rx {format_rate(sample.net_rx_rate)}   tx {format_rate(sample.net_tx_rate)}"
    )
    for d in sample.disks:
        lines.append(
            f"Disk  {format_percent(d.percent):>8}   {format_bytes(d.free)} free of "
            f"{format_bytes(d.total)}   {sanitize(d.label)}"
        )
    if not sample.gpus:
        lines.append(f"GPU   {sample.gpu_status or 'no GPU'}")
    for g in sample.gpus:
        vram = (
            f"{format_bytes(g.memory_used)} of {format_bytes(g.memory_total)}"
            if g.memory_total is not None
            else NA
        )
        power = format_number(g.power_w, "W")
        if g.power_limit_w is not None and g.power_w is not None:
            power += f" of {g.power_limit_w:.0f} W"
        # Unified memory (Jetson, APU, iGPU) is the RAM the CPU uses too: said, not called VRAM.
        memory = f"shared {vram} (unified with RAM)" if g.unified else f"VRAM {vram}"
        load = "load n/a" if g.util_percent is None else format_percent(g.util_percent, 0)
        lines.append(
            f"GPU{g.index}  {load:>8}   {memory}   "
            f"{format_number(g.temperature_c, '°C')}   {power}   {sanitize(g.name)}"
        )
    for m in sample.loaded_models:
        lines.append(
            f"Model {m.name} ({m.backend})  {format_bytes(m.size)}"
            + (f", {format_bytes(m.size_vram)} in VRAM" if m.size_vram else "")
        )
    lines.append(f"{'PID':>8}  {'PROCESS':<16}{'CPU':>9}{'RSS':>12}")
    for p in sample.processes:
        cpu = format_percent(p.cpu_percent) if p.cpu_percent is not None else "…"
        lines.append(f"{p.pid:>8}  {p.label:<16}{cpu:>9}{format_bytes(p.rss):>12}")
    return "\n".join(lines)


def _emit(sample: Sample, as_json: bool, clear: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(sample.to_dict(), separators=(",", ":")) + "\n")
    else:
        # On a terminal, redraw in place like top; piped output gets blocks separated by a line.
        sys.stdout.write(("\x1b[H\x1b[2J" if clear else "") + format_text(sample) + "\n\n")
    sys.stdout.flush()


def run_host(args: argparse.Namespace, interval: float | None) -> int:
    """``slmdeck top --host NAME``: that host's figures and backends, read as the Fleet screen
    reads them (its servers' APIs, node_exporter, GPU exporter); never this machine's."""
    import asyncio
    from dataclasses import replace

    from tui.commands.fleet import format_json
    from tui.commands.fleet import format_text as fleet_text
    from tui.config import load_config

    cfg = load_config()
    host = next((h for h in cfg.hosts if h.name == args.host), None)
    if host is None:
        names = ", ".join(h.name for h in cfg.hosts)
        print(
            f"slmdeck top: no host named {sanitize(args.host)} (hosts: {sanitize(names)})",
            file=sys.stderr,
        )
        return 2
    settings = cfg.fleet if interval is None else replace(cfg.fleet, interval=interval)

    async def watch() -> None:
        from tui.fleet.collector import FleetCollector

        clear = not args.json and sys.stdout.isatty()
        # Rates (CPU, tok/s) need a second reading: the first screen comes after a short one.
        warm = replace(settings, interval=min(settings.interval, _WARMUP))
        async with FleetCollector([host], warm) as fleet:
            await fleet.poll_once()
            await asyncio.sleep(warm.interval)
            while True:
                views = await fleet.poll_once()
                fleet.settings = settings
                text = format_json(views) if args.json else fleet_text(views)
                sys.stdout.write(("\x1b[H\x1b[2J" if clear else "") + text + "\n")
                if not args.json:
                    sys.stdout.write("\n")
                sys.stdout.flush()
                if args.once:
                    return
                await asyncio.sleep(settings.interval)

    try:
        asyncio.run(watch())
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """An event set by Ctrl+C (SIGINT) or SIGTERM, for as long as the block runs.

    Python turns SIGINT into KeyboardInterrupt at whatever line runs next; one that lands in a
    ``__del__`` or a garbage-collection callback is printed as "ignored" and lost, and the loop
    goes on forever. A flag the loop checks between readings cannot be lost.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only; KeyboardInterrupt is still caught
        return

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace) -> int:
    """Run ``slmdeck top``; returns the exit status (0, or 2 for a bad ``--interval`` or host)."""
    configured, paths = _settings()
    interval = args.interval if args.interval is not None else configured
    if not (math.isfinite(interval) and interval > 0):
        print(
            f"slmdeck top: --interval must be a positive number of seconds, not {interval}",
            file=sys.stderr,
        )
        return 2
    from tui.fleet.hosts import LOCAL

    if getattr(args, "host", None) and args.host != LOCAL:
        return run_host(args, args.interval)
    monitor = Monitor(interval=interval, disk_paths=one_per_filesystem(paths))
    clear = not args.json and sys.stdout.isatty()
    try:
        with _stop_on_interrupt() as stop:
            monitor.sample()
            if args.once:
                # The second reading covers a real interval (processes get a CPU figure too).
                if not stop.wait(_WARMUP):
                    _emit(monitor.sample(), args.json, clear=False)
                return 0
            # First screen after a short warm-up, not a whole (possibly long) interval.
            deadline = time.monotonic() + min(interval, _WARMUP)
            while not stop.wait(max(0.0, deadline - time.monotonic())):
                _emit(monitor.sample(), args.json, clear)
                deadline += interval
            return 0
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # `slmdeck top --json | head -1`: the reader left; stop quietly, without Python's
        # "Exception ignored" note when stdout is flushed at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        monitor.close()
