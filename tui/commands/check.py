"""``slmdeck check FILE...``: check Modelfiles and inference_model.json files, compiler-style.

Prints ``path:line:col: severity: message`` for each finding. Exit status: 0 when no file has an
error (warnings and infos alone pass), 1 when any has one, 2 when a file cannot be read or its kind
cannot be told (the name is neither ``Modelfile``, ``*.modelfile`` nor ``*.json``, and no
``--kind`` was given).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tui.core.diagnostics import Diagnostic, has_errors, sort_diagnostics
from tui.core.inference_model import validate_text
from tui.core.modelfile import decode_bytes, parse, validate
from tui.core.modelfile_encoding import shown, undecodable_diagnostics

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_INPUT = 2

KINDS: tuple[str, ...] = ("modelfile", "inference-model")


def kind_from_name(path: str) -> str | None:
    """``modelfile`` for ``Modelfile``/``*.modelfile``, ``inference-model`` for ``*.json``."""
    name = Path(path).name.lower()
    if name == "modelfile" or name.endswith(".modelfile"):
        return "modelfile"
    if name.endswith(".json"):
        return "inference-model"
    return None


def check_text(text: str, kind: str) -> list[Diagnostic]:
    """Diagnostics for ``text`` read as ``kind`` (``modelfile`` or ``inference-model``).

    ``text`` may hold bytes that are not UTF-8, as :func:`decode_bytes` keeps them: the file is
    checked as Ollama reads it (U+FFFD for each), with a warning at the first one.
    """
    encoding = undecodable_diagnostics(text)
    text = shown(text)
    found = validate(parse(text)) if kind == "modelfile" else validate_text(text)[1]
    return sort_diagnostics([*found, *encoding]) if encoding else found


def _read(path: str, kind: str) -> tuple[str | None, list[Diagnostic], str | None]:
    """(text, decoding diagnostics, error sentence when unreadable)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, [], f"{path}: no such file"
    except IsADirectoryError:
        return None, [], f"{path}: is a directory, not a file"
    except PermissionError:
        return None, [], f"{path}: permission denied"
    except OSError as exc:
        return None, [], f"{path}: cannot be read ({exc.strerror or exc})"
    if kind == "modelfile":
        return decode_bytes(data), [], None
    try:
        return data.decode("utf-8"), [], None
    except UnicodeDecodeError as exc:
        head = data[: exc.start].decode("utf-8", errors="replace")
        line = head.count("\n") + 1
        col = len(head) - (head.rfind("\n") + 1) + 1
        diag = Diagnostic(
            line, col, "error", f"not UTF-8 text (byte {exc.start}); JSON must be UTF-8", "encoding"
        )
        return None, [diag], None


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``check`` to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="check Modelfiles and inference_model.json files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files to check")
    parser.add_argument(
        "--kind",
        default=None,
        metavar="KIND",
        help="modelfile or inference-model (default: from each file's name)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    """Check every file in ``args.files``; print findings; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    kind_arg: str | None = getattr(args, "kind", None)
    files: Sequence[str] = getattr(args, "files", ()) or ()
    if kind_arg is not None and kind_arg not in KINDS:
        print(
            f"unknown kind {kind_arg!r}: use --kind modelfile or --kind inference-model",
            file=err,
        )
        return EXIT_INPUT
    status = EXIT_OK
    for path in files:
        kind = kind_arg or kind_from_name(path)
        if kind is None:
            print(
                f"{path}: cannot tell what kind of file this is from its name; "
                "use --kind modelfile or --kind inference-model",
                file=err,
            )
            status = EXIT_INPUT
            continue
        text, diags, problem = _read(path, kind)
        if problem is not None:
            print(problem, file=err)
            status = EXIT_INPUT
            continue
        if text is not None:
            diags = check_text(text, kind)
        for d in diags:
            print(d.format(path), file=out)
        if has_errors(diags) and status == EXIT_OK:
            status = EXIT_ERRORS
    return status
