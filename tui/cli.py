"""The ``slmdeck`` entry point: the app, and headless subcommands for scripts.

Imports stay lazy: ``slmdeck --version`` or ``slmdeck models`` never import Textual, and the app
path never imports backend SDKs before the first paint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tui import __version__

# Headless subcommand modules (tui.commands.<name>), each with register(subparsers).
COMMAND_MODULES: tuple[str, ...] = ("check", "convert", "fit", "fleet", "top")


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # unreachable, keeps mypy happy


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


async def _discover(host: str | None = None) -> tuple[Any, Any]:
    """Probe the backends of this machine, or of ``host`` (a ``[[hosts]]`` name) when given."""
    from tui.config import load_config
    from tui.controller import Controller

    config = load_config()
    controller = Controller.from_config(config)
    controller.retry_interval = 0
    if host:
        from tui.backends.base import BackendError

        try:
            controller.host(host)
        except BackendError as exc:
            print(f"slmdeck: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    try:
        if host:
            await controller.use_host(host)
        await controller.discover()
    finally:
        await controller.aclose()
    return config, controller


def _problems(controller: Any, backend_id: str) -> list[str]:
    """What a backend's last listing left out, each with why (a broken ONNX folder, ...)."""
    backend = controller.backends.get(backend_id)
    problems = getattr(backend, "problems", None)
    return [str(p) for p in problems] if isinstance(problems, list) else []


def cmd_models(args: argparse.Namespace) -> int:
    """List installed models across every backend."""
    from tui.core.sanitize import sanitize

    config, controller = asyncio.run(_discover(args.host))
    models = controller.all_models()
    if args.json:
        out = {
            "models": [asdict(m) for m in models],
            "backends": [
                {
                    "id": s.id,
                    "kind": s.kind,
                    "location": s.location,
                    "status": s.status.value,
                    "detail": s.detail,
                    "model_count": s.model_count,
                    "problems": _problems(controller, s.id),
                }
                for s in controller.states.values()
            ],
            "problems": [f"config: {p}" for p in config.problems]
            + [
                f"{s.id}: {p}"
                for s in controller.states.values()
                for p in _problems(controller, s.id)
            ],
        }
        json.dump(out, sys.stdout, indent=2, default=_json_default)
        sys.stdout.write("\n")
        return 0
    from tui.config import config_path

    where = str(config_path())
    for problem in config.problems:
        # Name the file, unless the problem does already ("... is not valid TOML").
        shown = problem if where in problem else f"{where}: {problem}"
        print(f"warning: {sanitize(shown)}", file=sys.stderr)
    for state in controller.states.values():
        if state.status.value != "up":
            print(f"{state.id}: down: {sanitize(state.detail)}", file=sys.stderr)
        for problem in _problems(controller, state.id):
            print(f"{state.id}: skipped: {sanitize(problem)}", file=sys.stderr)
    if not models:
        print("No models found.")
        return 0
    rows = [("NAME", "BACKEND", "FAMILY", "PARAMS", "QUANT", "SIZE", "MODIFIED")]
    for m in models:
        rows.append(
            (
                sanitize(m.name),
                m.backend,
                sanitize(m.family),
                sanitize(m.parameter_size),
                sanitize(m.quantization),
                _human_size(m.size) if m.size else "-",
                m.modified.strftime("%Y-%m-%d %H:%M") if m.modified else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Say what slmdeck found, and why not where it found nothing."""
    import platform
    from importlib import metadata

    from tui.config import config_path, data_dir
    from tui.core.sanitize import sanitize
    from tui.core.text import plural

    config, controller = asyncio.run(_discover(args.host))
    print(f"slmdeck {__version__} on Python {platform.python_version()} ({sys.platform})")
    from tui.commands.doctor import config_report

    for line in config_report(config_path(), config):
        print(line)
    print(f"data:   {data_dir()}")
    for dist in ("textual", "ollama", "onnxruntime-genai", "httpx", "psutil", "nvidia-ml-py"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        print(f"  {dist}: {version}")
    from tui.backends.onnx_genai import TELEMETRY_ENV, telemetry_dir

    print(f"ONNX Runtime telemetry: off ({TELEMETRY_ENV}=1 is set before the first model load)")
    if telemetry_dir().exists():
        print(f"  {telemetry_dir()} exists: written by another program or an older slmdeck")
    proxied = ["ollama"] if config.ollama_proxy else []
    proxied += [f"openai:{e.name}" for e in config.openai if e.proxy]
    print(
        f"proxy: {'set for ' + ', '.join(proxied) if proxied else 'none'}"
        " (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and .netrc are ignored)"
    )
    print("model dirs:")
    if not config.model_dirs:
        print("  none configured (set [onnx] model_dirs or SLMDECK_MODEL_DIRS)")
    for path in config.model_dirs:
        print(f"  {path}: {'ok' if path.is_dir() else 'missing'}")
    if config.foundry_cache:
        print(f"  Foundry Local cache: {config.foundry_cache}")
    from tui.monitor.gpu_auto import AutoGpuReader

    # The sampler the gauges use: NVML first, then amdgpu, i915/xe or Jetson sysfs.
    reader = AutoGpuReader()
    gpus = reader.read()
    for gpu in gpus:
        memory = f"{_human_size(gpu.memory_total)} memory" if gpu.memory_total else "memory N/A"
        shared = ", shared with the CPU" if gpu.unified else ""
        print(f"GPU {gpu.index}: {sanitize(gpu.name)} ({reader.kind}), {memory}{shared}")
    if not gpus:
        print(f"GPU: {reader.status or 'none found'}")
    reader.close()
    print("backends:")
    up = 0
    for s in controller.states.values():
        up += s.status.value == "up"
        models = f", {plural(s.model_count, 'model')}" if s.status.value == "up" else ""
        print(f"  {s.id} [{s.kind}] {sanitize(s.location)}: {s.status.value}{models}")
        print(f"    {sanitize(s.detail)}")
        for problem in _problems(controller, s.id):
            print(f"    skipped: {sanitize(problem)}")
    return 0 if up else 1


def _ui_config(args: argparse.Namespace) -> Any:
    """The settings the app runs with: the file's, read-only with ``--readonly``."""
    from dataclasses import replace

    from tui.config import load_config

    config = load_config()
    if getattr(args, "readonly", False):
        config.fleet = replace(config.fleet, readonly=True)
    return config


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the app."""
    from tui.app import make_app

    file = str(Path(args.file).expanduser().absolute()) if args.file else None
    options = {
        k: v for k, v in (("model", args.model), ("backend", args.backend), ("file", file)) if v
    }
    try:
        app = make_app(_ui_config(args), start_screen=args.screen, screen_options=options)
    except ValueError as exc:
        print(f"slmdeck: {exc}", file=sys.stderr)
        return 2
    app.run()
    return app.return_code or 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with ``command``, only that command's module is imported (the others
    still register by name when asked for help), so ``slmdeck`` paints sooner: importing every
    command module (fit, check, fleet, convert and what they import) cost ~0.1 s at start."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="slmdeck",
        description="Run and manage small language models across Ollama, ONNX Runtime GenAI "
        "and OpenAI-compatible servers.",
    )
    parser.add_argument("--version", action="version", version=f"slmdeck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from tui.screens import SCREENS  # names only: no Textual import

    screens = ", ".join(SCREENS)
    parser.epilog = f"screens (slmdeck ui --screen NAME, keys 1-{len(SCREENS)}): {screens}"
    ui = sub.add_parser("ui", help="open the app (the default)")
    ui.add_argument(
        "--screen",
        default="backends",
        type=str.lower,
        metavar="NAME",
        help=f"screen to open at, any case: {screens} (default: backends)",
    )
    ui.add_argument(
        "--model", help="model to select (chat, variants, editor); chat says if it is not installed"
    )
    ui.add_argument("--backend", help="backend of --model")
    ui.add_argument("--file", help="Modelfile or inference_model.json to open (editor)")
    ui.add_argument(
        "--readonly",
        action="store_true",
        help="refuse pull, delete, create, copy and unload on every host (hides their keys)",
    )
    ui.set_defaults(func=cmd_ui)

    models = sub.add_parser("models", help="list installed models across backends")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.add_argument("--host", metavar="NAME", help="a [[hosts]] host's models (default: here)")
    models.set_defaults(func=cmd_models)

    doctor = sub.add_parser("doctor", help="show what slmdeck found, and why not")
    doctor.add_argument("--host", metavar="NAME", help="check a [[hosts]] host's backends")
    doctor.set_defaults(func=cmd_doctor)

    for name in COMMAND_MODULES:
        if command is None or name == command:
            importlib.import_module(f"tui.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # `slmdeck` alone, or with ui options only (e.g. `slmdeck --screen chat`), opens the app.
    if not args_list or (
        args_list[0].startswith("-") and args_list[0] not in ("--version", "--help", "-h")
    ):
        args_list = ["ui", *args_list]
    first = args_list[0]
    known = {"ui", "models", "doctor", *COMMAND_MODULES}
    # One command named (and no top-level help): build only what it needs.
    parser = build_parser(first if first in known else None)
    args = parser.parse_args(args_list)
    if getattr(args, "func", None) is None:
        args = parser.parse_args(["ui"])
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `slmdeck models | head`: the reader left; say nothing more and flush nowhere.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
