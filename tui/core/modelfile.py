"""Ollama Modelfiles: a lossless syntax tree, validation with positions, edits and /api/create fields.

This module is the entry point (``parse``, :class:`Modelfile` and its edits) and re-exports the
parts kept in their own modules: the scanner (:mod:`tui.core.modelfile_syntax`), values and
PARAMETER types (:mod:`~tui.core.modelfile_values`), validation
(:mod:`~tui.core.modelfile_validate`), the /api/create mapping (:mod:`~tui.core.modelfile_create`)
and byte decoding (:mod:`~tui.core.modelfile_encoding`).

The scanner's rules (Ollama's ``parser/parser.go`` rule for rule) are told once, in
:mod:`tui.core.modelfile_syntax`. ``parse`` never raises, and ``serialize(parse(text)) == text``
for any text.
"""

from __future__ import annotations

from collections.abc import Sequence

from tui.core.diagnostics import Diagnostic, DiagnosticError
from tui.core.modelfile_create import CreateFields, render_modelfile, to_create_fields
from tui.core.modelfile_encoding import decode_bytes
from tui.core.modelfile_syntax import (
    INVALID_COMMAND,
    INVALID_ROLE,
    KEYWORDS,
    MESSAGE_ROLES,
    QUOTE,
    TRIPLE,
    Instruction,
    Node,
    Trivia,
    Unparsed,
    encode_value,
    scan,
)
from tui.core.modelfile_validate import validate
from tui.core.modelfile_values import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    SINGLE_VALUED,
    ParamType,
    convert_parameter,
    did_you_mean,
    format_parameter_value,
    is_valid_requires,
    param_error,
    parse_go_bool,
    parse_go_float32,
    parse_go_int,
)

__all__ = [
    "DEPRECATED_PARAMETERS",
    "INVALID_COMMAND",
    "INVALID_ROLE",
    "KEYWORDS",
    "MESSAGE_ROLES",
    "PARAMETER_TYPES",
    "QUOTE",
    "SINGLE_VALUED",
    "TRIPLE",
    "CreateFields",
    "Instruction",
    "Modelfile",
    "Node",
    "ParamType",
    "Trivia",
    "Unparsed",
    "convert_parameter",
    "decode_bytes",
    "encode_value",
    "format_parameter_value",
    "is_valid_requires",
    "parse",
    "parse_go_bool",
    "parse_go_float32",
    "parse_go_int",
    "render_modelfile",
    "serialize",
    "to_create_fields",
    "validate",
]


class Modelfile:
    """A parsed Modelfile: lossless nodes, the parser's diagnostics and an edit API.

    Edits splice the source text (only the touched instruction's characters change) and parse the
    result again, so nodes, offsets and diagnostics always describe the current text.
    """

    def __init__(self, text: str) -> None:
        self._set_text(text)

    def _set_text(self, text: str) -> None:
        result = scan(text)
        self._text = text
        self.nodes: tuple[Node, ...] = result.nodes
        self.diagnostics: tuple[Diagnostic, ...] = result.diagnostics

    @property
    def text(self) -> str:
        """The current source."""
        return self._text

    @property
    def instructions(self) -> list[Instruction]:
        """Every instruction in order, unknown keywords and unterminated values included."""
        return [n for n in self.nodes if isinstance(n, Instruction)]

    def effective(self) -> list[Instruction]:
        """Instructions Ollama would act on: known keyword, valid role, closed value."""
        return [
            i
            for i in self.instructions
            if i.known
            and i.value is not None
            and not (i.keyword == "MESSAGE" and i.name not in MESSAGE_ROLES)
        ]

    def find(self, keyword: str, name: str | None = None) -> list[Instruction]:
        """Effective instructions with ``keyword`` (any case) and, if given, PARAMETER/role name."""
        kw = keyword.upper()
        return [i for i in self.effective() if i.keyword == kw and (name is None or i.name == name)]

    def get(self, keyword: str) -> str | None:
        """The value that wins for a single-valued instruction (the last one), else None."""
        found = self.find(keyword)
        return found[-1].value if found else None

    @property
    def from_(self) -> str | None:
        """The base model (last ``FROM``)."""
        return self.get("FROM")

    @property
    def template(self) -> str | None:
        """The effective ``TEMPLATE``."""
        return self.get("TEMPLATE")

    @property
    def system(self) -> str | None:
        """The effective ``SYSTEM``."""
        return self.get("SYSTEM")

    def parameters(self) -> list[tuple[str, str]]:
        """Every ``PARAMETER`` as (name, raw value), in order."""
        return [(i.name or "", i.value or "") for i in self.find("PARAMETER")]

    def messages(self) -> list[tuple[str, str]]:
        """Every ``MESSAGE`` as (role, content), in order."""
        return [(i.name or "", i.value or "") for i in self.find("MESSAGE")]

    # -- edits -------------------------------------------------------------------------------

    def _newline(self) -> str:
        return "\r\n" if "\r\n" in self._text else "\n"

    def _splice(self, start: int, end: int, replacement: str) -> None:
        self._set_text(self._text[:start] + replacement + self._text[end:])

    def _replace_value(self, inst: Instruction, value: str) -> None:
        region = self._text[inst.value_start : inst.end]
        lead = len(region) - len(region.lstrip(" \t"))
        encoded = encode_value(value, inst.quote)
        self._splice(inst.value_start + lead, inst.end, encoded)

    def _insert_after(self, anchor: Instruction | None, line: str) -> None:
        nl = self._newline()
        if anchor is not None:
            self._splice(anchor.end, anchor.end, nl + line)
            return
        if any(not i.terminated for i in self.instructions):
            raise DiagnosticError(
                [
                    Diagnostic(
                        1,
                        1,
                        "error",
                        "close the unterminated string first: anything added after it would "
                        "become part of it",
                        "unterminated-string",
                    )
                ]
            )
        text = self._text
        sep = "" if text == "" or text.endswith(("\n", "\r")) else nl
        self._splice(len(text), len(text), sep + line + (nl if text == "" else ""))

    def _last(self, *keywords: str) -> Instruction | None:
        found = [i for i in self.effective() if i.keyword in keywords]
        return found[-1] if found else None

    def _set_single(self, keyword: str, value: str, anchors: Sequence[str]) -> None:
        existing = self.find(keyword)
        if existing:
            self._replace_value(existing[-1], value)
            return
        anchor = self._last(*anchors) if anchors else None
        self._insert_after(anchor, f"{keyword} {encode_value(value)}")

    def set_from(self, model: str) -> None:
        """Set the base model: rewrite the last ``FROM`` or add one before the first instruction."""
        existing = self.find("FROM")
        if existing:
            self._replace_value(existing[-1], model)
            return
        line = f"FROM {encode_value(model)}"
        first = self.instructions[0] if self.instructions else None
        if first is not None:
            self._splice(first.start, first.start, line + self._newline())
        else:
            self._insert_after(None, line)

    def set_template(self, template: str) -> None:
        """Set ``TEMPLATE`` (the effective one, else a new one after ``FROM``)."""
        self._set_single("TEMPLATE", template, ("FROM",))

    def set_system(self, system: str) -> None:
        """Set ``SYSTEM`` (the effective one, else a new one after ``TEMPLATE``/``FROM``)."""
        self._set_single("SYSTEM", system, ("FROM", "TEMPLATE"))

    def set_parameter(self, name: str, value: str | int | float | bool | Sequence[str]) -> None:
        """Set a PARAMETER, checked against Ollama's table; ``stop`` takes a list of strings.

        A single-valued parameter rewrites its last occurrence (the one that wins) or is added
        after the last PARAMETER; ``stop`` rewrites the existing stop lines in place, adding or
        removing lines to match the list.

        Raises:
            DiagnosticError: unknown or deprecated name, a value of the wrong type, or a value
                the file format cannot carry.
        """
        kind = PARAMETER_TYPES.get(name)
        if kind is None:
            hint = did_you_mean(name)
            raise param_error(f"unknown parameter {name!r}{hint}", "unknown-parameter")
        if kind == "string_list":
            if isinstance(value, str):
                values: list[object] = [value]
            elif isinstance(value, Sequence):
                values = list(value)
            else:
                values = [value]
            if not all(isinstance(v, str) for v in values):
                raise param_error("stop takes strings", "invalid-value")
            self._set_stop([str(v) for v in values])
            return
        if not isinstance(value, str | int | float | bool):
            raise param_error(f"{name} takes one {kind} value", "invalid-value")
        text = format_parameter_value(value)
        _typed, err = convert_parameter(name, text)
        if err is not None:
            raise param_error(err, "invalid-value")
        existing = self.find("PARAMETER", name)
        if existing:
            self._replace_value(existing[-1], text)
            return
        anchor = self._last("PARAMETER") or self._last("FROM", "TEMPLATE", "SYSTEM")
        self._insert_after(anchor, f"PARAMETER {name} {encode_value(text)}")

    def _set_stop(self, values: list[str]) -> None:
        for v in values:
            encode_value(v, QUOTE)  # fail before touching anything
        existing = self.find("PARAMETER", "stop")
        for j in range(min(len(existing), len(values))):
            self._replace_value(self.find("PARAMETER", "stop")[j], values[j])
        while len(self.find("PARAMETER", "stop")) > len(values):
            self._remove_instruction(self.find("PARAMETER", "stop")[-1])
        for v in values[len(existing) :]:
            current = self.find("PARAMETER", "stop")
            anchor = (
                current[-1]
                if current
                else self._last("PARAMETER") or self._last("FROM", "TEMPLATE", "SYSTEM")
            )
            self._insert_after(anchor, f"PARAMETER stop {encode_value(v, QUOTE)}")

    def remove(self, keyword: str, name: str | None = None) -> int:
        """Remove every effective ``keyword`` instruction (with that PARAMETER name or role).

        Each removed instruction takes its own line with it. Returns how many were removed.
        """
        count = 0
        while True:
            found = self.find(keyword, name)
            if not found:
                return count
            self._remove_instruction(found[-1])
            count += 1

    def _remove_instruction(self, inst: Instruction) -> None:
        text = self._text
        start, end = inst.start, inst.end
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        if text.startswith("\r\n", end):
            end += 2
        elif end < len(text) and text[end] in "\r\n":
            end += 1
        elif start > 0 and text[start - 1] in "\r\n":
            start -= 1
            if text[start] == "\n" and start > 0 and text[start - 1] == "\r":
                start -= 1
        self._splice(start, end, "")


def parse(text: str) -> Modelfile:
    """Parse ``text`` into a lossless tree; never raises. Syntax errors are in ``.diagnostics``."""
    return Modelfile(text)


def serialize(mf: Modelfile) -> str:
    """The source text, rebuilt from the nodes (equal to the parsed text, byte for byte)."""
    return "".join(n.text for n in mf.nodes)
