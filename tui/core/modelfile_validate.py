"""Validation of a parsed Modelfile: every problem ``ollama create`` reports, plus warnings.

Split out of :mod:`tui.core.modelfile`, which re-exports :func:`validate`. Pure Python.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tui.core.diagnostics import Diagnostic, LineIndex, sort_diagnostics
from tui.core.modelfile_checks import fatal_offset, from_diagnostics, stop_at, template_diagnostics
from tui.core.modelfile_syntax import Instruction
from tui.core.modelfile_values import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    SINGLE_VALUED,
    convert_parameter,
    did_you_mean,
    is_valid_requires,
)

if TYPE_CHECKING:
    from tui.core.modelfile import Modelfile

# Validation


def validate(mf: Modelfile) -> list[Diagnostic]:
    """Every problem ``ollama create`` would report, plus warnings, with line and column.

    Errors: syntax (unknown instruction, bad role, unterminated quote, no FROM), unknown
    PARAMETER, a value of the wrong type, an invalid REQUIRES. Warnings: deprecated parameters
    (ignored by Ollama), a single-valued instruction given twice (the last wins). TEMPLATE and
    FROM as Ollama's server checks them (:mod:`tui.core.modelfile_checks`).
    """
    index = LineIndex(mf.text)  # built only if there is a problem to place
    diags = _one_missing_from(mf.text, list(mf.diagnostics))
    seen: dict[str, Instruction] = {}
    for inst in mf.effective():
        key = inst.keyword.lower()
        value = inst.value or ""
        name_end = (inst.name_start or 0) + len(inst.name or "")
        if key == "parameter":
            pname = inst.name or ""
            if pname in DEPRECATED_PARAMETERS:
                diags.append(
                    index.diagnostic(
                        inst.name_start or inst.start,
                        name_end,
                        "warning",
                        f"parameter {pname} is deprecated; Ollama ignores it",
                        "deprecated-parameter",
                    )
                )
                continue
            typed, err = convert_parameter(pname, value)
            if err is not None and pname not in PARAMETER_TYPES:
                diags.append(
                    index.diagnostic(
                        inst.name_start or inst.start,
                        name_end,
                        "error",
                        err + did_you_mean(pname),
                        "unknown-parameter",
                    )
                )
                continue
            vstart = _value_offset(mf.text, inst)
            if err is not None:
                hint = " (# starts a comment only at the start of a line)" if " #" in value else ""
                diags.append(
                    index.diagnostic(vstart, inst.end, "error", err + hint, "invalid-value")
                )
            elif isinstance(typed, float) and not math.isfinite(typed):
                diags.append(
                    index.diagnostic(
                        vstart,
                        inst.end,
                        "warning",
                        f"{pname} is {value}; Ollama cannot send a non-finite number to the model",
                        "invalid-value",
                    )
                )
            if pname != "stop":
                key = f"parameter {pname}"
        elif key == "requires" and not is_valid_requires(value):
            diags.append(
                index.diagnostic(
                    _value_offset(mf.text, inst),
                    inst.end,
                    "error",
                    "requires must be a valid semver (e.g. 0.14.0)",
                    "invalid-requires",
                )
            )
        elif key == "template":
            diags.extend(template_diagnostics(mf.text, inst, index))
        if key in SINGLE_VALUED or key.startswith("parameter "):
            if key in seen:
                prev = seen[key]
                line, _col = index.position(prev.start)
                what = key.split(" ", 1)[1] if key.startswith("parameter ") else key.upper()
                diags.append(
                    index.diagnostic(
                        inst.start,
                        inst.start + len(inst.keyword_raw),
                        "warning",
                        f"{what} is set again (first on line {line}); the last one wins",
                        "duplicate",
                    )
                )
            seen[key] = inst
    froms = mf.find("FROM")
    if froms:  # only the last FROM that is not a file is sent as the model name
        diags.extend(from_diagnostics(mf.text, froms[-1], index))
    # Ollama stops at its first error: nothing is reported past one the scanner cannot resync.
    return sort_diagnostics(stop_at(diags, fatal_offset(mf.nodes), index))


def _one_missing_from(text: str, diags: list[Diagnostic]) -> list[Diagnostic]:
    """A ``FROM`` line without a value is one problem: "FROM needs a value", not also "no FROM
    line" (the scanner finds no FROM instruction, since the line did not parse)."""
    lines = text.splitlines()

    def is_from(d: Diagnostic) -> bool:
        line = lines[d.line - 1] if 0 < d.line <= len(lines) else ""
        return d.code == "missing-value" and line.lstrip()[:4].upper() == "FROM"

    if any(is_from(d) for d in diags):
        return [d for d in diags if d.code != "missing-from"]
    return diags


def _value_offset(text: str, inst: Instruction) -> int:
    i = inst.value_start
    while i < inst.end and text[i] in " \t":
        i += 1
    return i
