"""Diagnostics shared by the Modelfile and inference_model.json checkers.

A diagnostic points at a 1-based line and column (columns count characters, not bytes) so that the
editor can underline it and ``slmdeck check`` can print ``path:line:col: severity: message``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]

_SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a document.

    Attributes:
        line: 1-based line of the start of the problem.
        col: 1-based column (in characters) of the start of the problem.
        severity: ``error`` (the tool that reads the file rejects it), ``warning`` (accepted, but
            probably not what was meant) or ``info`` (a fact worth knowing).
        message: A sentence a person understands.
        code: A short stable identifier such as ``unknown-parameter``, for filtering and tests.
        end_line: 1-based line where the problem ends (inclusive), when known.
        end_col: 1-based column just past the end of the problem, when known.
    """

    line: int
    col: int
    severity: Severity
    message: str
    code: str
    end_line: int | None = None
    end_col: int | None = None

    def format(self, path: str) -> str:
        """Return ``path:line:col: severity: message``, the compiler-style one-liner."""
        return f"{path}:{self.line}:{self.col}: {self.severity}: {self.message}"


class DiagnosticError(Exception):
    """A document cannot be used; carries the diagnostics that say why."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        first = next((d for d in self.diagnostics if d.severity == "error"), None)
        if first is None and self.diagnostics:
            first = self.diagnostics[0]
        text = f"line {first.line}, column {first.col}: {first.message}" if first else "invalid"
        super().__init__(text)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Order by position, then errors before warnings before infos."""
    return sorted(diagnostics, key=lambda d: (d.line, d.col, _SEVERITY_RANK[d.severity], d.code))


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """True when any diagnostic is an error."""
    return any(d.severity == "error" for d in diagnostics)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class LineIndex:
    """Maps character offsets of a text to 1-based (line, column) pairs.

    ``\\r\\n``, a lone ``\\r`` and ``\\n`` each end a line, as in the Modelfile parser. The line
    starts are found on first use, by regular expression: most texts have no problem to place, so
    the index is usually never built, and when it is, a 1 MB line costs about a millisecond.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None

    def position(self, offset: int) -> tuple[int, int]:
        """Return the (line, col) of ``offset``; offsets past the end map to the end."""
        starts = self._starts
        if starts is None:
            starts = self._starts = [0, *(m.end() for m in _LINE_BREAK.finditer(self._text))]
        offset = max(0, min(offset, len(self._text)))
        line = bisect.bisect_right(starts, offset) - 1
        return line + 1, offset - starts[line] + 1

    def diagnostic(
        self,
        start: int,
        end: int | None,
        severity: Severity,
        message: str,
        code: str,
    ) -> Diagnostic:
        """Build a diagnostic for the text between offsets ``start`` and ``end``."""
        line, col = self.position(start)
        if end is None:
            return Diagnostic(line, col, severity, message, code)
        end_line, end_col = self.position(max(end, start))
        return Diagnostic(line, col, severity, message, code, end_line, end_col)
