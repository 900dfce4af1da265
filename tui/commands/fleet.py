"""``slmdeck fleet``: every host's state, backends, loaded models and load, as text or JSON.

``--watch`` polls every ``[fleet] interval`` and reprints until Ctrl+C. Every text that came from
a host (names, model ids, error bodies) is made inert before it reaches the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json as jsonlib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tui.core.sanitize import sanitize
from tui.fleet.hosts import FleetSettings, Host, hosts_from_toml, local_host
from tui.fleet.model import HostView, LoadedModel
from tui.monitor.fmt import format_bytes

DASH = "–"


def register(subparsers: Any) -> None:
    """Add the ``fleet`` subcommand to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "fleet",
        help="show every host's backends, loaded models and load",
        description=(
            "Poll every configured host ([[hosts]] in the config, the local one first) and print "
            "its state, backends, loaded models and load; with --watch, again every interval."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (one line per poll)")
    parser.add_argument("--watch", action="store_true", help="reprint every interval until Ctrl+C")
    parser.add_argument("--host", action="append", metavar="NAME", help="only this host (repeat)")
    parser.add_argument(
        "--interval", type=float, default=None, metavar="S", help="seconds between polls"
    )


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f}%"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    return f"{value:.{digits}f}"


def _model_line(m: LoadedModel) -> str:
    parts = [format_bytes(m.size) if m.size is not None else ""]
    share = m.vram_share
    if share is not None:
        parts.append(f"{share * 100:.0f}% in VRAM")
    if m.context_length:
        parts.append(f"ctx {m.context_length}")
    if m.expires_at is not None:
        parts.append(f"until {m.expires_at.astimezone().strftime('%H:%M:%S')}")
    detail = ", ".join(p for p in parts if p)
    return f"    model {sanitize(m.name)} ({m.backend})" + (f"  {detail}" if detail else "")


def format_text(views: Sequence[HostView], when: datetime | None = None) -> str:
    """The table ``slmdeck fleet`` prints: one block per host."""
    stamp = (when or datetime.now()).strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"slmdeck fleet · {stamp} · {len(views)} host{'s' if len(views) != 1 else ''}"]
    lines.append(
        f"{'HOST':<16} {'STATE':<6} {'CPU':>5} {'RAM':>5} {'DISK':>5} {'GPU':>5} {'VRAM':>5} "
        f"{'RUN':>4} {'WAIT':>4} {'TOK/S':>7}"
    )
    for v in views:
        state = {True: "up", False: "down", None: "?"}[v.reachable]
        if v.readonly:
            state += "/ro"
        lines.append(
            f"{sanitize(v.name)[:16]:<16} {state:<6} {_pct(v.cpu_percent.now):>5} "
            f"{_pct(v.ram_percent.now):>5} {_pct(v.disk_percent.now):>5} "
            f"{_pct(v.gpu_percent.now):>5} {_pct(v.vram_percent.now):>5} "
            f"{_num(v.requests_running.now):>4} {_num(v.requests_waiting.now):>4} "
            f"{_num(v.tok_s.now, 1):>7}"
        )
        for b in v.backends:
            up = {True: "up", False: "down", None: "?"}[b.up]
            extra: list[str] = []
            if b.models is not None:
                extra.append(f"{b.models} model{'s' if b.models != 1 else ''}")
            if b.kv_cache_percent is not None:
                extra.append(f"KV {b.kv_cache_percent:.0f}%")
            if b.slots_total:
                extra.append(f"slots {b.slots_busy}/{b.slots_total}")
            if b.decode_tok_s:
                extra.append(f"decode {b.decode_tok_s:.1f} tok/s")
            if b.reason:
                extra.append(sanitize(b.reason))
            kind = f" ({b.kind})" if b.kind != b.id.split(":")[0] else ""
            lines.append(f"    {b.id}{kind} {up}" + (f"  {' · '.join(extra)}" if extra else ""))
        lines.extend(_model_line(m) for m in v.loaded)
        shown = {b.reason for b in v.backends}
        lines.extend(f"    {sanitize(p)}" for p in v.problems if p not in shown)
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    """JSON values with every string sanitized (terminal-safe even when printed raw)."""
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, dict):
        return {sanitize(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_json(views: Sequence[HostView]) -> str:
    return jsonlib.dumps(
        {"hosts": [_clean(v.to_dict()) for v in views]}, separators=(",", ":"), ensure_ascii=False
    )


async def run_fleet(
    hosts: Sequence[Host],
    settings: FleetSettings,
    *,
    json: bool = False,
    watch: bool = False,
    out: TextIO | None = None,
    polls: int | None = None,
    clear: bool | None = None,
) -> int:
    """Poll ``hosts`` and print their views; with ``watch``, every ``settings.interval``.

    Args:
        polls: Stop after this many (tests); None: once, or forever with ``watch``.
        clear: Redraw in place (default: on a terminal, for text).

    Returns:
        0 when every host answered, 1 when one did not (the last poll's state).
    """
    from tui.fleet.collector import FleetCollector

    stream = out or sys.stdout
    redraw = (not json and stream.isatty()) if clear is None else clear
    limit = polls if polls is not None else (None if watch else 1)
    done = 0
    views: list[HostView] = []
    loop = asyncio.get_running_loop()
    async with FleetCollector(hosts, settings) as fleet:
        while limit is None or done < limit:
            started = loop.time()
            views = await fleet.poll_once()
            text = format_json(views) if json else format_text(views)
            stream.write(("\x1b[H\x1b[2J" if redraw else "") + text + ("\n" if json else "\n\n"))
            stream.flush()
            done += 1
            if limit is not None and done >= limit:
                break
            await asyncio.sleep(max(0.0, started + settings.interval - loop.time()))
    return 0 if all(v.reachable for v in views) else 1


def main(
    argv: Sequence[str] | None = None,
    config_data: Mapping[str, Any] | None = None,
    *,
    base_dir: Path | None = None,
    local: Host | None = None,
) -> int:
    """``slmdeck fleet`` from its arguments and the parsed config file.

    Args:
        argv: Arguments after ``fleet``.
        config_data: The config file as ``tomllib`` parsed it; None: read the configured file.
        base_dir: Folder of the config file (for a relative ``[fleet] hostfile``).
        local: The local host; None: built from the config's Ollama and ``[[openai]]`` servers.
    """
    parser = argparse.ArgumentParser(prog="slmdeck fleet")
    add_arguments(parser)
    return run(parser.parse_args(list(argv or [])), config_data, base_dir=base_dir, local=local)


def _config() -> tuple[Mapping[str, Any], Path, Host, list[str]]:
    """The config file's raw data, its folder and the local host from it."""
    import tomllib

    from tui.config import config_path, load_config
    from tui.core.safe_files import read_regular_text

    cfg = load_config()
    path = cfg.source or config_path()
    data: Mapping[str, Any] = {}
    problems = list(cfg.problems)
    if cfg.source is not None:
        try:
            data = tomllib.loads(read_regular_text(cfg.source))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}  # load_config already said why
    host = cfg.ollama_host
    if "://" not in host:
        host = f"http://{host}"
    local = local_host(
        host if cfg.ollama_enabled else "",
        [(e.name, e.url, e.api_key_env) for e in cfg.openai if e.enabled],
    )
    return data, path.parent, local, problems


def run(
    args: argparse.Namespace,
    config_data: Mapping[str, Any] | None = None,
    *,
    base_dir: Path | None = None,
    local: Host | None = None,
) -> int:
    """Run ``slmdeck fleet``; 0 when every host answered, 1 when one did not, 2 for bad input."""
    problems: list[str] = []
    if config_data is None:
        config_data, found_dir, found_local, problems = _config()
        base_dir = base_dir or found_dir
        local = local or found_local
    hosts, settings, host_problems = hosts_from_toml(config_data, base_dir or Path.cwd(), local)
    for problem in problems + host_problems:
        print(f"slmdeck fleet: {sanitize(problem)}", file=sys.stderr)
    if args.interval is not None:
        if not (math.isfinite(args.interval) and 0.2 <= args.interval <= 3600):
            print("slmdeck fleet: --interval must be from 0.2 to 3600 seconds", file=sys.stderr)
            return 2
        settings = replace(settings, interval=float(args.interval))
    if args.host:
        known = {h.name for h in hosts}
        unknown = [n for n in args.host if n not in known]
        if unknown:
            names = ", ".join(sorted(known))
            print(
                f"slmdeck fleet: no host named {sanitize(', '.join(unknown))} (hosts: {names})",
                file=sys.stderr,
            )
            return 2
        hosts = [h for h in hosts if h.name in set(args.host)]
    try:
        return asyncio.run(run_fleet(hosts, settings, json=args.json, watch=args.watch))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
