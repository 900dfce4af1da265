"""``slmdeck convert FILE [-o OUT]``: a Modelfile into an inference_model.json, or back.

The TEMPLATE is converted by rendering it (see :mod:`tui.core.convert`), so any template a
PromptTemplate can express converts exactly. What cannot be carried over is printed first, on
stderr, one line each (``lost: …``); then the result goes to OUT, or to stdout without ``-o``.
An existing OUT is not replaced without ``--force``. The kind of FILE is told as ``slmdeck
check`` tells it (name, then content); ``--kind`` overrides.

Exit status: 0 when written, 1 when the file cannot be converted (it does not parse), 2 when it
cannot be read, its kind cannot be told, or OUT exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_INPUT = 2


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``convert`` to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "convert",
        help="convert a Modelfile to inference_model.json, or back",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="a Modelfile or an inference_model.json")
    parser.add_argument("-o", "--output", metavar="OUT", help="where to write (default: stdout)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument(
        "--kind", metavar="KIND", default=None, help="modelfile or inference-model (of FILE)"
    )
    parser.add_argument(
        "--from",
        dest="from_",
        metavar="MODEL",
        default=None,
        help="the FROM of the Modelfile written (default: the inference_model.json's Name)",
    )
    parser.add_argument("--name", default=None, help="the Name of the inference_model.json written")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    """Convert ``args.file``; print the losses, write the result; return the exit status."""
    from tui.commands.check import _read, kind_of
    from tui.core.convert import ConversionError, convert_document

    out = out or sys.stdout
    err = err or sys.stderr
    path: str = args.file
    kind = getattr(args, "kind", None)
    if kind is None:
        probe, _diags, _problem = _read(path, "inference-model")
        kind = kind_of(path, probe)
    if kind not in ("modelfile", "inference-model"):
        what = "a genai_config.json" if kind == "genai-config" else "of a kind it cannot tell"
        print(
            f"{path}: {what}; convert takes a Modelfile or an inference_model.json "
            "(use --kind modelfile or --kind inference-model)",
            file=err,
        )
        return EXIT_INPUT
    text, diags, problem = _read(path, kind)
    if problem is not None or text is None:
        print(problem or diags[0].format(path), file=err)
        return EXIT_INPUT
    target = Path(args.output) if args.output else None
    if target is not None and target.exists() and not args.force:
        print(f"{target} exists; use --force to replace it", file=err)
        return EXIT_INPUT
    try:
        result = convert_document(kind, text, from_=args.from_, name=args.name)
    except ConversionError as exc:
        print(f"{path}: cannot convert: {exc}", file=err)
        return EXIT_ERRORS
    for line in result.lost:
        print(f"lost: {line}", file=err)
    if target is None:
        out.write(result.text)
        return EXIT_OK
    from tui.store.files import FileSaveError, save_atomic

    try:
        save_atomic(target, result.text, backup=False)
    except FileSaveError as exc:
        print(f"{target}: {exc}", file=err)
        return EXIT_INPUT
    print(f"wrote {target}", file=err)
    return EXIT_OK
