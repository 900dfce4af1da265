"""``slmdeck check FILE|FOLDER...``: check Modelfiles, inference_model.json, genai_config.json
and whole model folders, compiler-style.

Prints ``path:line:col: severity: message`` for each finding (``path: severity: message`` for a
finding about a folder). The kind of a file is told from its name (``Modelfile``,
``Modelfile.*``, ``*.modelfile``, ``xModelfile``, ``genai_config.json``,
``inference_model.json``) and, for other ``.json`` files, from what they hold: an object with a
``model`` object is a genai_config.json, one with ``Name`` or ``PromptTemplate`` an
inference_model.json. A folder is checked as Foundry Local and ONNX Runtime GenAI load it: both
JSON files present and valid, tokenizer files present, every file genai_config.json names present;
a Modelfile in it is checked too.

Exit status: 0 when nothing has an error (warnings and infos alone pass), 1 when anything has
one, 2 when a path cannot be read or its kind cannot be told (and no ``--kind`` was given).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tui.core import genai_config
from tui.core.diagnostics import Diagnostic, Severity, has_errors, sort_diagnostics
from tui.core.inference_model import validate_text
from tui.core.modelfile import decode_bytes, parse, validate
from tui.core.modelfile_encoding import shown, undecodable_diagnostics

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_INPUT = 2

KINDS: tuple[str, ...] = ("modelfile", "inference-model", "genai-config")

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
"""What ONNX Runtime GenAI's tokenizer loads (a Hugging Face tokenizer.json, or SentencePiece)."""


def kind_from_name(path: str) -> str | None:
    """The kind a file's name says: ``modelfile`` (``Modelfile``, ``Modelfile.*``,
    ``*.modelfile``, ``xModelfile``), ``genai-config``, ``inference-model`` (``*.json`` other
    than genai_config.json: :func:`kind_of` looks inside those), else None."""
    name = Path(path).name.lower()
    if name.endswith(".json"):
        return "genai-config" if name == "genai_config.json" else "inference-model"
    if "modelfile" in name and (
        name.endswith("modelfile") or name.startswith("modelfile.") or name == "modelfile"
    ):
        return "modelfile"
    return None


def kind_of_json(text: str) -> str | None:
    """``genai-config`` for an object with a ``model`` object, ``inference-model`` for one with
    ``Name`` or ``PromptTemplate``, else None (not JSON, or neither)."""
    import json

    try:
        data = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("model"), dict):
        return "genai-config"
    if "Name" in data or "PromptTemplate" in data:
        return "inference-model"
    return None


def kind_of(path: str, text: str | None) -> str | None:
    """The kind of ``path`` from its name, and for a ``.json`` other than the two known names,
    from its content (``text``)."""
    kind = kind_from_name(path)
    name = Path(path).name.lower()
    if kind is not None and name.endswith(".json") and name != "inference_model.json":
        return (kind_of_json(text) if text is not None else None) or kind
    return kind


def check_text(text: str, kind: str) -> list[Diagnostic]:
    """Diagnostics for ``text`` read as ``kind`` (``modelfile`` or ``inference-model``).

    ``text`` may hold bytes that are not UTF-8, as :func:`decode_bytes` keeps them: the file is
    checked as Ollama reads it (U+FFFD for each), with a warning at the first one.
    """
    encoding = undecodable_diagnostics(text)
    text = shown(text)
    if kind == "modelfile":
        found = validate(parse(text))
    elif kind == "genai-config":
        found = genai_config.validate_text(text)[1]
    else:
        found = validate_text(text)[1]
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
        help="check Modelfiles, inference_model.json, genai_config.json and model folders",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="files or model folders")
    parser.add_argument(
        "--kind",
        default=None,
        metavar="KIND",
        help="modelfile, inference-model or genai-config (default: from each file's name and "
        "content)",
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
            f"unknown kind {kind_arg!r}: use --kind modelfile, inference-model or genai-config",
            file=err,
        )
        return EXIT_INPUT
    status = EXIT_OK
    for path in files:
        if kind_arg is None and Path(path).is_dir():
            found = check_folder(Path(path))
            for shown_path, diags in found:
                for d in diags:
                    print(_format(d, shown_path), file=out)
            if any(has_errors(d) for _, d in found) and status == EXIT_OK:
                status = EXIT_ERRORS
            continue
        outcome = check_file(path, kind_arg)
        if isinstance(outcome, str):
            print(outcome, file=err)
            status = EXIT_INPUT
            continue
        for d in outcome:
            print(d.format(path), file=out)
        if has_errors(outcome) and status == EXIT_OK:
            status = EXIT_ERRORS
    return status


def check_file(path: str, kind: str | None = None) -> list[Diagnostic] | str:
    """The diagnostics of one file, or a sentence saying why it cannot be checked."""
    if kind is None:
        kind = kind_from_name(path)
        if kind is None:
            return (
                f"{path}: cannot tell what kind of file this is from its name; "
                "use --kind modelfile, inference-model or genai-config"
            )
        if kind != "modelfile":
            text, diags, problem = _read(path, kind)
            if problem is not None:
                return problem
            if text is None:
                return diags
            kind = kind_of(path, text) or kind
            return check_text(text, kind)
    text, diags, problem = _read(path, kind)
    if problem is not None:
        return problem
    return check_text(text, kind) if text is not None else diags


def _folder_diag(severity: Severity, message: str, code: str) -> Diagnostic:
    return Diagnostic(0, 0, severity, message, code)


def _format(d: Diagnostic, path: str) -> str:
    if d.line == 0:
        return f"{path}: {d.severity}: {d.message}"
    return d.format(path)


def check_folder(folder: Path) -> list[tuple[str, list[Diagnostic]]]:
    """Check a model folder as Foundry Local and ONNX Runtime GenAI load it.

    Returns (path shown, diagnostics) per file checked, and for the folder itself (line 0:
    a finding about the folder, not a place in a file). A folder that holds neither JSON file
    but has subfolders that do (Foundry's cache: ``<model>/v1/``) checks each of those.
    """
    names = {"genai_config.json", "inference_model.json"}
    has = {n for n in names if (folder / n).is_file()}
    if not has:
        subs = sorted(p for p in _subfolders(folder) if any((p / n).is_file() for n in names))
        if subs:
            return [r for sub in subs for r in check_folder(sub)]
    results: list[tuple[str, list[Diagnostic]]] = []
    problems: list[Diagnostic] = []
    genai_data: dict[str, Any] | None = None
    for name in sorted(names):
        f = folder / name
        if not f.is_file():
            who = (
                "ONNX Runtime GenAI cannot load the model (it reads genai_config.json)"
                if name == "genai_config.json"
                else "Foundry Local does not list the model (it needs inference_model.json "
                "with a Name)"
            )
            problems.append(_folder_diag("error", f"no {name}: {who}", "missing-file"))
            continue
        kind = "genai-config" if name == "genai_config.json" else "inference-model"
        text, diags, problem = _read(str(f), kind)
        if problem is not None:
            problems.append(_folder_diag("error", problem, "unreadable"))
            continue
        if text is not None:
            diags = check_text(text, kind)
            if kind == "genai-config":
                genai_data = genai_config.validate_text(shown(text))[0]
        results.append((str(f), diags))
    for f in sorted(_modelfiles(folder)):
        outcome = check_file(str(f), "modelfile")
        if isinstance(outcome, list):
            results.append((str(f), outcome))
    if "genai_config.json" in has and genai_data is not None:
        problems.extend(_folder_files(folder, genai_data))
    if problems:
        results.insert(0, (str(folder), problems))
    return results


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return []


def _modelfiles(folder: Path) -> list[Path]:
    try:
        return [
            p for p in folder.iterdir() if p.is_file() and kind_from_name(p.name) == "modelfile"
        ]
    except OSError:
        return []


def _folder_files(folder: Path, data: dict[str, Any]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    tok_dir_raw = model.get("tokenizer_dir") if isinstance(model, dict) else None
    tok_dir = folder / tok_dir_raw if isinstance(tok_dir_raw, str) and tok_dir_raw else folder
    if not any((tok_dir / n).is_file() for n in TOKENIZER_FILES):
        out.append(
            _folder_diag(
                "error",
                f"no tokenizer in {tok_dir}: ONNX Runtime GenAI needs tokenizer.json (or "
                "tokenizer.model) beside genai_config.json",
                "missing-tokenizer",
            )
        )
    elif not (tok_dir / "tokenizer_config.json").is_file():
        out.append(
            _folder_diag(
                "warning",
                "no tokenizer_config.json: the tokenizer's settings (special tokens, chat "
                "template) fall back to defaults",
                "missing-tokenizer-config",
            )
        )
    for name in genai_config.weight_files(data):
        f = folder / name
        if not f.is_file():
            out.append(
                _folder_diag(
                    "error",
                    f"{name} is named by genai_config.json but is not in the folder: the "
                    "model does not load",
                    "missing-weights",
                )
            )
        elif f.stat().st_size == 0:
            out.append(_folder_diag("error", f"{name} is empty (0 bytes)", "empty-weights"))
    return out
