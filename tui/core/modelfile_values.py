"""Modelfile values as Ollama types them: PARAMETER names and Go's int/float/bool syntax, semver.

Split out of :mod:`tui.core.modelfile` (which re-exports every public name here): the tables and
conversions that the parser, the validator and the /api/create mapping share. Pure Python.
"""

from __future__ import annotations

import difflib
import math
import re
import struct
from typing import Any, Literal

from tui.core.diagnostics import Diagnostic, DiagnosticError

ParamType = Literal["int", "float", "bool", "string", "string_list"]

PARAMETER_TYPES: dict[str, ParamType] = {
    # Runner options (fixed when the model loads).
    "num_ctx": "int",
    "num_batch": "int",
    "num_gpu": "int",
    "main_gpu": "int",
    "use_mmap": "bool",
    "num_thread": "int",
    "draft_num_predict": "int",
    # Predict options.
    "num_keep": "int",
    "seed": "int",
    "num_predict": "int",
    "top_k": "int",
    "top_p": "float",
    "min_p": "float",
    "typical_p": "float",
    "repeat_last_n": "int",
    "temperature": "float",
    "repeat_penalty": "float",
    "presence_penalty": "float",
    "frequency_penalty": "float",
    "stop": "string_list",
}
"""PARAMETER names (JSON tags of ``api.Options``, case-sensitive) and the Go type each parses as."""

DEPRECATED_PARAMETERS: tuple[str, ...] = (
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
)
"""Accepted by ``ollama create`` with a warning, then ignored."""

SINGLE_VALUED = ("from", "template", "system", "adapter", "renderer", "parser", "requires")
"""Instructions where a repeat replaces the earlier value (``LICENSE``/``MESSAGE``/``DRAFT`` add)."""

# --------------------------------------------------------------------------------------------
# Go's number and bool syntax, as FormatParams uses it

_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:_?[0-9a-fA-F])+(?:\.(?:[0-9a-fA-F]_?)*)?[pP][+-]?[0-9]+"
    r"|[+-]?0[xX]\.[0-9a-fA-F](?:_?[0-9a-fA-F])*[pP][+-]?[0-9]+"
)
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_INT64 = 2**63


def parse_go_int(s: str) -> int | None:
    """``strconv.ParseInt(s, 10, 64)``; None when Go rejects it."""
    if not _GO_INT.fullmatch(s):
        return None
    v = int(s)
    return v if -_INT64 <= v < _INT64 else None


def parse_go_float32(s: str) -> float | None:
    """``strconv.ParseFloat(s, 32)``; None when Go rejects it (syntax, or beyond float32)."""
    if _GO_SPECIAL.fullmatch(s):
        return float(s.lower().replace("infinity", "inf"))
    if _GO_DEC_FLOAT.fullmatch(s):
        v = float(s)
    elif _GO_HEX_FLOAT.fullmatch(s):
        sign = -1.0 if s.startswith("-") else 1.0
        v = sign * float.fromhex(s.lstrip("+-").replace("_", ""))
    else:
        return None
    try:
        struct.pack("<f", v)
    except OverflowError:
        return None
    return v


def parse_go_bool(s: str) -> bool | None:
    """``strconv.ParseBool``; None when Go rejects it."""
    if s in _GO_TRUE:
        return True
    if s in _GO_FALSE:
        return False
    return None


def convert_parameter(name: str, value: str) -> tuple[Any, str | None]:
    """Type ``value`` as Ollama does for PARAMETER ``name``; (typed value, error message or None).

    ``stop`` gives the string itself (the caller accumulates repeats into a list).
    """
    kind = PARAMETER_TYPES.get(name)
    if kind is None:
        return None, f"unknown parameter {name!r}"
    if kind == "int":
        iv = parse_go_int(value)
        return (iv, None) if iv is not None else (None, f"invalid int value [{value}]")
    if kind == "float":
        fv = parse_go_float32(value)
        return (fv, None) if fv is not None else (None, f"invalid float value [{value}]")
    if kind == "bool":
        bv = parse_go_bool(value)
        return (bv, None) if bv is not None else (None, f"invalid bool value [{value}]")
    return value, None


# --------------------------------------------------------------------------------------------
# Semver, as golang.org/x/mod/semver.IsValid checks it

_IDENT = re.compile(r"[0-9A-Za-z-]+")


def _semver_num(s: str) -> bool:
    return s.isascii() and s.isdigit() and (len(s) == 1 or s[0] != "0")


def is_valid_requires(value: str) -> bool:
    """Whether Ollama accepts ``REQUIRES value`` (a semver, the leading ``v`` optional)."""
    v = value[1:] if value.startswith("v") else value
    core, plus, build = v.partition("+")
    core, dash, pre = core.partition("-")
    parts = core.split(".")
    if not 1 <= len(parts) <= 3 or not all(_semver_num(p) for p in parts):
        return False
    if (dash or plus) and len(parts) != 3:
        return False
    if dash:
        for ident in pre.split("."):
            if not _IDENT.fullmatch(ident):
                return False
            if ident.isdigit() and len(ident) > 1 and ident[0] == "0":
                return False
    return not plus or all(_IDENT.fullmatch(ident) for ident in build.split("."))


def format_parameter_value(value: str | int | float | bool) -> str:
    """The text Ollama's FormatParams parses back to ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(value)


def param_error(message: str, code: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(1, 1, "error", message, code)])


def did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name.lower(), list(PARAMETER_TYPES), n=1, cutoff=0.75)
    if not close and name.lower() in PARAMETER_TYPES:
        close = [name.lower()]
    return f" (did you mean {close[0]!r}? names are case-sensitive)" if close else ""
