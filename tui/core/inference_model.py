"""Foundry Local's ``inference_model.json``: schema, validation with positions, prompt rendering.

The file (Foundry Local ``docs/how-to/compile-models-for-foundry-local.md``)::

    {"Name": "llama-3.2",
     "PromptTemplate": {"system": "…{Content}…", "user": "…", "assistant": "…", "prompt": "…"},
     "Description": "…", "Version": "1", "ModelConfig": {"max_length": 2048, "temperature": 0.7}}

What reads what:

- Foundry Local reads ``Name`` and ``PromptTemplate``; slmdeck's ONNX backend reads
  ``PromptTemplate`` (and falls back to the tokenizer's chat template when it is absent or null).
- ``Description``, ``Version`` and ``ModelConfig`` come from course material: kept and
  round-tripped, read by neither runtime. ONNX Runtime GenAI takes its sampling defaults from
  ``genai_config.json``'s ``search`` block.

Rendering semantics are documented on :func:`render_prompt`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tui.core import prompt_template as _pt
from tui.core.diagnostics import Diagnostic, LineIndex, Severity, sort_diagnostics

# Public in the json package, though absent from typeshed's stubs.
_scanstring: Any = getattr(json.decoder, "scanstring")  # noqa: B009

PLACEHOLDER = _pt.PLACEHOLDER
PROMPT_KEYS: tuple[str, ...] = _pt.KEYS

TOP_LEVEL_KEYS: dict[str, str] = {
    "Name": "The model's name. Read by Foundry Local.",
    "Description": "Free text. Not read by Foundry Local or ONNX Runtime GenAI.",
    "Version": "Free text or a number. Not read by Foundry Local or ONNX Runtime GenAI.",
    "PromptTemplate": (
        "How a conversation becomes the prompt string (system/user/assistant/prompt, each with "
        "{Content}); null means the tokenizer's chat template. Read by Foundry Local and slmdeck."
    ),
    "ModelConfig": (
        "Sampling settings from course material. Not read by Foundry Local or ONNX Runtime "
        "GenAI (they use genai_config.json's search block)."
    ),
}
"""Top-level keys and what reads them, for the editor's help."""

PROMPT_KEY_DOCS: dict[str, str] = {
    "system": "Wraps each system message.",
    "user": "Wraps each user message except a final one.",
    "assistant": "Wraps each earlier assistant reply.",
    "prompt": "Wraps the final user message and opens the assistant's reply.",
}

MODEL_CONFIG_TYPES: dict[str, str] = {
    "max_length": "int",
    "min_length": "int",
    "temperature": "number",
    "top_p": "number",
    "top_k": "int",
    "repetition_penalty": "number",
    "do_sample": "bool",
    "num_beams": "int",
    "num_return_sequences": "int",
    "early_stopping": "bool",
    "no_repeat_ngram_size": "int",
    "length_penalty": "number",
    "random_seed": "int",
}
"""``ModelConfig`` keys: ONNX Runtime GenAI's ``search`` options (``src/config.h``) by JSON type."""

_RANGES: dict[str, tuple[float, float, str]] = {
    "max_length": (1, float("inf"), "at least 1"),
    "temperature": (0, float("inf"), "0 or more"),
    "top_p": (0, 1, "between 0 and 1"),
    "top_k": (0, float("inf"), "0 or more"),
    "repetition_penalty": (0, float("inf"), "0 or more"),
    "num_beams": (1, float("inf"), "at least 1"),
}

_IDENT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Path = tuple[str | int, ...]


def json_path(path: Path) -> str:
    """``$.PromptTemplate.user``-style path (``$["odd key"]``, ``$.list[0]``)."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT_KEY.fullmatch(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


# --------------------------------------------------------------------------------------------
# Where things are in the text


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WS = re.compile(r"[ \t\r\n]*")


class _Locator:
    """Walks valid JSON text and records the offset of every key and value, by path."""

    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.keys: dict[Path, int] = {}
        self.values: dict[Path, int] = {}
        self.duplicates: list[tuple[Path, int]] = []
        self._value(self._skip(start), ())

    def _skip(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m else i

    def _value(self, i: int, path: Path) -> int:
        self.values[path] = i
        c = self.text[i]
        if c == "{":
            i = self._skip(i + 1)
            if self.text[i] == "}":
                return i + 1
            while True:
                key_at = i
                key, i = _scanstring(self.text, i + 1)
                child = (*path, key)
                if child in self.keys:
                    self.duplicates.append((child, key_at))
                self.keys[child] = key_at
                i = self._skip(i)
                i = self._skip(i + 1)  # the colon
                i = self._skip(self._value(i, child))
                if self.text[i] == "}":
                    return i + 1
                i = self._skip(i + 1)  # the comma
        if c == "[":
            i = self._skip(i + 1)
            if self.text[i] == "]":
                return i + 1
            n = 0
            while True:
                i = self._skip(self._value(i, (*path, n)))
                n += 1
                if self.text[i] == "]":
                    return i + 1
                i = self._skip(i + 1)
        if c == '"':
            return int(_scanstring(self.text, i + 1)[1])
        for word in ("true", "false", "null"):
            if self.text.startswith(word, i):
                return i + len(word)
        m = _NUMBER.match(self.text, i)
        return m.end() if m else i + 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# --------------------------------------------------------------------------------------------
# Validation


class _Checker:
    def __init__(self, text: str, start: int) -> None:
        self.index = LineIndex(text)
        self.loc = _Locator(text, start)
        self.diags: list[Diagnostic] = []

    def add(self, path: Path, severity: Severity, message: str, code: str, *, at_key: bool) -> None:
        offset = self.loc.keys.get(path) if at_key else self.loc.values.get(path)
        if offset is None:
            offset = self.loc.values.get(path, self.loc.keys.get(path, 0))
        self.diags.append(
            self.index.diagnostic(offset, None, severity, f"{json_path(path)}: {message}", code)
        )

    def typed(self, path: Path, value: Any, kind: str) -> bool:
        ok = {
            "string": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[kind]
        if not ok:
            article = "an" if kind == "int" else "a"
            self.add(
                path,
                "error",
                f"must be {article} {kind}, not {_json_type(value)}",
                "wrong-type",
                at_key=False,
            )
        return ok


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def validate_text(text: str) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """Parse and check an ``inference_model.json``; (data or None, diagnostics).

    Every diagnostic names its JSON path in the message (``$.PromptTemplate.user: missing
    {Content} placeholder``) and points at the key (or value) in the text. JSON syntax errors give
    their own position and ``None`` data. Unknown keys are warnings; an info says that
    ``ModelConfig`` is not read by the runtime. Never raises.
    """
    index = LineIndex(text)
    start = 1 if text.startswith("\ufeff") else 0
    try:
        data = json.loads(text[start:], parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return None, [
            index.diagnostic(
                exc.pos + start, None, "error", f"invalid JSON: {exc.msg}", "json-syntax"
            )
        ]
    except ValueError as exc:  # NaN/Infinity, or a number too deep for Python
        pos = next((m.start() for m in re.finditer(r"NaN|-?Infinity", text)), 0)
        return None, [index.diagnostic(pos, None, "error", f"invalid JSON: {exc}", "json-syntax")]
    except RecursionError:
        return None, [
            index.diagnostic(0, None, "error", "invalid JSON: nested too deeply", "json-syntax")
        ]
    try:
        check = _Checker(text, start)
    except RecursionError:
        return None, [
            index.diagnostic(0, None, "error", "invalid JSON: nested too deeply", "json-syntax")
        ]
    for path, key_at in check.loc.duplicates:
        check.diags.append(
            index.diagnostic(
                key_at,
                None,
                "warning",
                f"{json_path(path)}: key given twice; the last one is used",
                "duplicate-key",
            )
        )
    if not isinstance(data, dict):
        check.add(
            (), "error", f"must be an object, not {_json_type(data)}", "wrong-type", at_key=False
        )
        return None, sort_diagnostics(check.diags)
    _check_top(check, data)
    return data, sort_diagnostics(check.diags)


def _check_top(check: _Checker, data: dict[str, Any]) -> None:
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            close = next((k for k in TOP_LEVEL_KEYS if k.lower() == key.lower()), None)
            hint = f" (did you mean {close!r}? keys are case-sensitive)" if close else ""
            check.add(
                (key,),
                "warning",
                f"unknown key; the runtime ignores it{hint}",
                "unknown-key",
                at_key=True,
            )
    if "Name" not in data:
        check.add((), "error", "missing Name (Foundry Local needs it)", "missing-key", at_key=False)
    elif check.typed(("Name",), data["Name"], "string") and not data["Name"].strip():
        check.add(("Name",), "error", "must not be empty", "empty", at_key=False)
    if "Description" in data:
        check.typed(("Description",), data["Description"], "string")
    if "Version" in data and not (
        isinstance(data["Version"], str | int) and not isinstance(data["Version"], bool)
    ):
        check.add(
            ("Version",),
            "error",
            f"must be a string or an integer, not {_json_type(data['Version'])}",
            "wrong-type",
            at_key=False,
        )
    if "PromptTemplate" not in data:
        check.add(
            (),
            "info",
            "no PromptTemplate: the tokenizer's chat template is used instead",
            "no-prompt-template",
            at_key=False,
        )
    else:
        _check_prompt_template(check, data["PromptTemplate"])
    if "ModelConfig" in data:
        _check_model_config(check, data["ModelConfig"])


def _check_prompt_template(check: _Checker, pt: Any) -> None:
    base: Path = ("PromptTemplate",)
    if pt is None:
        return
    if not isinstance(pt, dict):
        check.add(
            base,
            "error",
            f"must be an object or null, not {_json_type(pt)}",
            "wrong-type",
            at_key=False,
        )
        return
    for key, value in pt.items():
        path = (*base, key)
        if key not in PROMPT_KEYS:
            close = next((k for k in PROMPT_KEYS if k.lower() == key.lower()), None)
            hint = f" (did you mean {close!r}? keys are case-sensitive)" if close else ""
            check.add(
                path,
                "warning",
                f"unknown key; the runtime ignores it{hint}",
                "unknown-key",
                at_key=True,
            )
            continue
        if value is None:
            continue
        if not isinstance(value, str):
            check.add(
                path,
                "error",
                f"must be a string or null, not {_json_type(value)}",
                "wrong-type",
                at_key=False,
            )
        elif PLACEHOLDER not in value:
            near = re.search(r"\{\s*content\s*\}", value, re.IGNORECASE)
            hint = f" (found {near.group(0)!r}; it is case- and space-sensitive)" if near else ""
            check.add(
                path,
                "error",
                f"missing {PLACEHOLDER} placeholder: the message text would be dropped{hint}",
                "missing-placeholder",
                at_key=False,
            )
    if pt.get("prompt") is None:
        check.add(
            base,
            "warning",
            "no prompt: the final user message is sent bare, with nothing that opens the "
            "assistant's reply",
            "no-prompt",
            at_key=True,
        )


def _check_model_config(check: _Checker, mc: Any) -> None:
    base: Path = ("ModelConfig",)
    if not isinstance(mc, dict):
        check.add(
            base, "error", f"must be an object, not {_json_type(mc)}", "wrong-type", at_key=False
        )
        return
    check.add(
        base,
        "info",
        "not read by Foundry Local or ONNX Runtime GenAI (sampling defaults come from "
        "genai_config.json); kept as written",
        "not-read",
        at_key=True,
    )
    for key, value in mc.items():
        path = (*base, key)
        kind = MODEL_CONFIG_TYPES.get(key)
        if kind is None:
            check.add(
                path,
                "warning",
                "unknown key (not an ONNX Runtime GenAI search option)",
                "unknown-key",
                at_key=True,
            )
            continue
        if not check.typed(path, value, kind):
            continue
        if key in _RANGES and not isinstance(value, bool):
            lo, hi, words = _RANGES[key]
            if not lo <= value <= hi:
                check.add(
                    path, "error", f"must be {words}, not {value}", "out-of-range", at_key=False
                )


# --------------------------------------------------------------------------------------------
# Rendering


def render_prompt(
    prompt_template: Mapping[str, str | None] | None, messages: Sequence[tuple[str, str]]
) -> str:
    """Render a conversation into the exact prompt string the model sees.

    Semantics (those of Foundry Local and ONNX Runtime GenAI's ``prompt_templates``): each message
    is wrapped by the template of its role, ``{Content}`` replaced by the text (every occurrence;
    no other brace is special); a missing or null key means ``"{Content}"``. The final message,
    when it is a user message, uses ``prompt`` instead of ``user``, which is where the assistant's
    reply is opened. ``[system, user, assistant, user]`` renders as
    ``system(s) + user(u1) + assistant(a1) + prompt(u2)``. Other roles (tool) are wrapped like
    user messages. A null or missing ``PromptTemplate`` renders the bare texts.

    Args:
        prompt_template: The ``PromptTemplate`` object, or None.
        messages: (role, content) pairs in order.
    """
    return _pt.render_prompt(prompt_template, messages)


def default_prompt_template(data: Mapping[str, Any] | None) -> dict[str, str | None] | None:
    """The ``PromptTemplate`` of validated ``data`` as a plain dict, or None when absent/null."""
    if not data:
        return None
    pt = data.get("PromptTemplate")
    if not isinstance(pt, Mapping):
        return None
    return {k: v for k, v in pt.items() if k in PROMPT_KEYS and (v is None or isinstance(v, str))}


def dumps(data: Mapping[str, Any]) -> str:
    """Write ``data`` as Foundry Local's tools do: two-space indent, non-ASCII kept, final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
