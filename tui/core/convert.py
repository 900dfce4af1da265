"""Modelfile ⇄ inference_model.json, by rendering: any TEMPLATE a PromptTemplate can express.

Modelfile → inference_model.json: the TEMPLATE is run by the Go template engine (exactly as
Ollama runs it, :func:`tui.core.ollama_prompt.render_prompt`) over conversations whose messages
are sentinels; the prompt is cut at the sentinels, which gives the text around each role's
content, and so the four ``PromptTemplate`` strings. Several ways to cut are tried; the one kept
is the one whose PromptTemplate renders, for every check conversation (:data:`CHECKS`), the
prompt Ollama renders. Where no cut does (Gemma folds the system text into the first user turn;
a template that puts tools only in the last turn), what differs is listed.

inference_model.json → Modelfile: the PromptTemplate becomes a Go template that renders exactly
what :func:`tui.core.prompt_template.render_prompt` renders, the ``prompt``-for-an-answered-turn
rule included (Foundry's llama-3.2 example writes its assistant header in ``prompt``).

Both return a :class:`Conversion` whose ``lost`` lists, one sentence each, what could not be
carried over (tools, thinking, dates, SYSTEM and MESSAGE lines, PARAMETERs without an
equivalent…), so that it can be shown before anything is written. Ollama joins consecutive
messages of the same role with a blank line before its template sees them; a PromptTemplate
wraps each one: the checks use alternating turns, as chats do.

Pure Python.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui.core.inference_model import PLACEHOLDER, PROMPT_KEYS, dumps, validate_text
from tui.core.modelfile import (
    DEPRECATED_PARAMETERS,
    Modelfile,
    convert_parameter,
    parse,
    render_modelfile,
)
from tui.core.prompt_template import assistant_opens_itself
from tui.core.prompt_template import render_prompt as render_pt

MODELFILE = "modelfile"
INFERENCE_MODEL = "inference-model"

Turn = tuple[str, str]

_S, _U1, _A1, _U2, _A2, _U3 = (
    "\u27e6system\u27e7",
    "\u27e6user-1\u27e7",
    "\u27e6assistant-1\u27e7",
    "\u27e6user-2\u27e7",
    "\u27e6assistant-2\u27e7",
    "\u27e6user-3\u27e7",
)

CHECKS: dict[str, list[Turn]] = {
    "user": [("user", _U1)],
    "system, user": [("system", _S), ("user", _U1)],
    "user, assistant, user": [("user", _U1), ("assistant", _A1), ("user", _U2)],
    "system, user, assistant, user": [
        ("system", _S),
        ("user", _U1),
        ("assistant", _A1),
        ("user", _U2),
    ],
    "system and two answered turns": [
        ("system", _S),
        ("user", _U1),
        ("assistant", _A1),
        ("user", _U2),
        ("assistant", _A2),
        ("user", _U3),
    ],
}
"""The conversations a converted template must render exactly as the original does."""


@dataclass(frozen=True, slots=True)
class Conversion:
    """A converted document and what it could not carry over.

    Attributes:
        kind: The kind of ``text`` (``modelfile`` or ``inference-model``).
        text: The converted document.
        lost: One sentence per thing left out or changed in meaning.
        data: The inference_model.json object (for that direction), else None.
    """

    kind: str
    text: str
    lost: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None


# --------------------------------------------------------------------------------------------
# TEMPLATE -> PromptTemplate


_FEATURES: tuple[tuple[str, str], ...] = (
    (r"\.Tools\b", "tool definitions (.Tools): a PromptTemplate cannot list tools"),
    (r"\.ToolCalls\b", "tool calls (.ToolCalls) in assistant turns"),
    (r'eq \.Role "tool"|\.ToolName\b', "tool results (role tool) get no wrapping of their own"),
    (
        r"\.(?:Think|ThinkLevel|IsThinkSet)\b",
        "thinking (.Think): a PromptTemplate cannot switch it",
    ),
    (
        r"\b(?:currentDate|yesterdayDate)\b",
        "dates (currentDate): the date of the conversion is written in as text",
    ),
    (r"\.Suffix\b", "fill-in-the-middle (.Suffix)"),
    (r"\.Images\b", "images"),
)


def _split_once(text: str, sentinel: str) -> tuple[str, str] | None:
    if text.count(sentinel) != 1:
        return None
    before, after = text.split(sentinel)
    return before, after


def _cut(text: str, sentinels: Sequence[str]) -> list[str] | None:
    """``text`` cut at each sentinel in order: len(sentinels) + 1 pieces, or None."""
    pieces: list[str] = []
    rest = text
    for s in sentinels:
        got = _split_once(rest, s)
        if got is None:
            return None
        pieces.append(got[0])
        rest = got[1]
    pieces.append(rest)
    return pieces


def _candidates(go: Callable[[list[Turn]], str | None]) -> list[dict[str, str]]:
    """PromptTemplates that the sentinel renderings allow (the right one among them, if any)."""
    one = _cut(go(CHECKS["user"]) or "", [_U1])
    if one is None:
        return []
    p_pre, p_post = one
    prompt = p_pre + PLACEHOLDER + p_post
    systems: list[str] = []
    su = _cut(go(CHECKS["system, user"]) or "", [_S, _U1])
    if su is not None and su[1].endswith(p_pre):
        systems.append(su[0] + PLACEHOLDER + su[1][: len(su[1]) - len(p_pre)])
    systems.append(PLACEHOLDER)
    uau = _cut(go(CHECKS["user, assistant, user"]) or "", [_U1, _A1, _U2])
    turns: list[tuple[str, str]] = []  # (user, assistant)
    if uau is not None and uau[2].endswith(p_pre):
        r0, r1, r2, _r3 = uau
        a_post = r2[: len(r2) - len(p_pre)]
        # Most formats end every turn alike: the user's end is the assistant's, then its header.
        if a_post and r1.startswith(a_post) and r1[len(a_post) :].strip():
            k = len(a_post)
            turns.append((r0 + PLACEHOLDER + r1[:k], r1[k:] + PLACEHOLDER + a_post))
        # The answered turn opened like the last one: the header is in prompt.
        if r0 == p_pre and r1.startswith(p_post) and not r1[len(p_post) :].strip():
            close = a_post if p_post.startswith(a_post) else ""
            user = p_pre + PLACEHOLDER + close
            turns.append((user, r1[len(p_post) :] + PLACEHOLDER + a_post))
        # Otherwise the assistant opens itself: cut r1 between the user's end and its header.
        for k in range(len(r1), -1, -1):
            if r1[k:].strip():
                turns.append((r0 + PLACEHOLDER + r1[:k], r1[k:] + PLACEHOLDER + a_post))
    if not turns:
        turns.append((prompt, PLACEHOLDER))
    return [
        {"system": s, "user": u, "assistant": a, "prompt": prompt}
        for s in systems
        for u, a in turns
    ]


_SHOWN = ((_S, "<S>"), (_U1, "<U1>"), (_A1, "<A1>"), (_U2, "<U2>"), (_A2, "<A2>"), (_U3, "<U3>"))


def _difference(expected: str, got: str) -> str:
    for sentinel, word in _SHOWN:
        expected = expected.replace(sentinel, word)
        got = got.replace(sentinel, word)
    i = 0
    while i < min(len(expected), len(got)) and expected[i] == got[i]:
        i += 1
    start = max(0, i - 20)

    def show(s: str) -> str:
        return json.dumps(s[start : i + 30], ensure_ascii=False)

    return f"Ollama renders …{show(expected)}…, the PromptTemplate …{show(got)}…"


def template_to_prompt_template(
    template: str, *, today: Callable[[], Any] | None = None
) -> tuple[dict[str, str] | None, list[str]]:
    """The PromptTemplate that renders what Ollama renders with ``template``; (it, what differs).

    None when the template does not run or the sentinels cannot be found in its output.
    """
    from tui.core.ollama_prompt import TemplateError, render_prompt

    lost: list[str] = []
    failures: list[str] = []

    def go(turns: list[Turn]) -> str | None:
        try:
            return render_prompt(
                template, [{"role": r, "content": c} for r, c in turns], today=today
            )
        except TemplateError as exc:
            failures.append(str(exc))
            return None

    expected = {name: go(turns) for name, turns in CHECKS.items()}
    if failures:
        return None, [f"TEMPLATE: it does not run ({failures[0]}); PromptTemplate is null"]
    best: tuple[int, dict[str, str]] | None = None
    for candidate in _candidates(go):
        bad = [n for n, turns in CHECKS.items() if render_pt(candidate, turns) != expected[n]]
        if best is None or len(bad) < best[0]:
            best = (len(bad), candidate)
        if not bad:
            break
    if best is None:
        return None, [
            "TEMPLATE: the message text does not appear once in what it renders for one user "
            "message, so it cannot be cut into a PromptTemplate; PromptTemplate is null"
        ]
    pt = best[1]
    for name, turns in CHECKS.items():
        got = render_pt(pt, turns)
        want = expected[name] or ""
        if got != want:
            lost.append(f"TEMPLATE: for a conversation of {name}, {_difference(want, got)}")
    return pt, lost


# --------------------------------------------------------------------------------------------
# PromptTemplate -> TEMPLATE


def _go_string(s: str) -> str:
    """A Go string literal (JSON's escapes are all valid in Go)."""
    return json.dumps(s, ensure_ascii=False)


def _go_piece(template: str | None) -> str:
    parts = (template if template is not None else PLACEHOLDER).split(PLACEHOLDER)
    out: list[str] = []
    for k, part in enumerate(parts):
        if k:
            out.append("{{ .Content }}")
        if part:
            out.append("{{ " + _go_string(part) + " }}")
    return "".join(out)


def prompt_template_to_go(pt: Mapping[str, str | None]) -> str:
    """A Go template that renders, in Ollama, exactly what ``render_prompt(pt, messages)`` does.

    Literal text is written as Go string literals, so that whitespace control never eats it.
    """
    opens = assistant_opens_itself(pt)
    final = 'eq $next ""' if opens else 'or (eq $next "") (eq $next "assistant")'
    return (
        "{{- /* written by slmdeck from a PromptTemplate */ -}}\n"
        "{{- range $i, $_ := .Messages }}\n"
        "{{- $rest := slice $.Messages $i }}\n"
        '{{- $next := "" }}\n'
        "{{- if gt (len $rest) 1 }}{{ $next = (index $rest 1).Role }}{{ end }}\n"
        '{{- if eq .Role "system" }}' + _go_piece(pt.get("system")) + "\n"
        '{{- else if eq .Role "assistant" }}' + _go_piece(pt.get("assistant")) + "\n"
        "{{- else if " + final + " }}" + _go_piece(pt.get("prompt")) + "\n"
        "{{- else }}" + _go_piece(pt.get("user")) + "\n"
        "{{- end }}\n"
        "{{- end }}"
    )


_SPECIAL = re.compile(r"<\|?[^<>\s|]+\|?>|\[/?[A-Z_]+\]")


def stop_words(pt: Mapping[str, str | None]) -> list[str]:
    """What ends an assistant turn: the text after ``{Content}`` in ``assistant``, else the first
    special token after ``{Content}`` in ``prompt`` (how a user turn ends)."""
    assistant = pt.get("assistant") or PLACEHOLDER
    tail = assistant.split(PLACEHOLDER)[-1].strip()
    if tail:
        return [tail]
    prompt = pt.get("prompt") or PLACEHOLDER
    m = _SPECIAL.search(prompt.split(PLACEHOLDER)[-1])
    return [m.group(0)] if m else []


# --------------------------------------------------------------------------------------------
# Modelfile -> inference_model.json

_TO_MODEL_CONFIG: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repeat_penalty": "repetition_penalty",
    "seed": "random_seed",
}
"""Ollama PARAMETERs with an ONNX Runtime GenAI search option of the same meaning."""


def _model_name(from_: str | None) -> str:
    if not from_:
        return "model"
    base = re.split(r"[\\/]", from_.rstrip("/\\"))[-1]
    base = re.sub(r"\.gguf$", "", base, flags=re.IGNORECASE)
    return base or "model"


def modelfile_to_inference_model(
    mf: Modelfile | str, name: str | None = None, *, today: Callable[[], Any] | None = None
) -> Conversion:
    """Convert a Modelfile to an inference_model.json (see the module's docstring).

    Args:
        mf: The Modelfile (parsed, or its text).
        name: The ``Name``; defaults to the last part of FROM.
        today: A clock for templates that print the date.
    """
    if isinstance(mf, str):
        mf = parse(mf)
    lost: list[str] = []
    data: dict[str, Any] = {"Name": name or _model_name(mf.from_)}
    if mf.from_ is not None:
        lost.append(
            f"FROM {mf.from_}: inference_model.json does not name the weights; it sits in the "
            "model's folder"
        )
    template = mf.template
    if template is None:
        data["PromptTemplate"] = None
        lost.append(
            "TEMPLATE: none in this Modelfile (the base model's applies); PromptTemplate is null, "
            "so the tokenizer's chat template is used"
        )
    else:
        pt, differs = template_to_prompt_template(template, today=today)
        data["PromptTemplate"] = pt
        lost.extend(
            f"TEMPLATE: {what}" for pattern, what in _FEATURES if re.search(pattern, template)
        )
        lost.extend(differs)
    if mf.system is not None:
        lost.append(
            "SYSTEM: a PromptTemplate has no default system message; send it as the first "
            "message of the conversation"
        )
    config: dict[str, Any] = {}
    stops: list[str] = []
    for pname, raw in mf.parameters():
        if pname in DEPRECATED_PARAMETERS:
            lost.append(f"PARAMETER {pname}: deprecated, and ignored by Ollama too")
            continue
        typed, err = convert_parameter(pname, raw)
        if pname == "stop":
            stops.append(raw)
        elif err is None and pname in _TO_MODEL_CONFIG:
            config[_TO_MODEL_CONFIG[pname]] = typed
        elif pname == "num_ctx":
            lost.append(
                f"PARAMETER num_ctx {raw}: ModelConfig.max_length counts the prompt and the "
                "reply together; set it yourself if you want that cap"
            )
        else:
            lost.append(f"PARAMETER {pname} {raw}: no ModelConfig equivalent")
    if stops:
        lost.append(
            "PARAMETER stop "
            + ", ".join(json.dumps(s, ensure_ascii=False) for s in stops)
            + ": ONNX Runtime GenAI stops at the end-of-sequence tokens of genai_config.json"
        )
    if config:
        data["ModelConfig"] = config
    for keyword, why in (
        ("MESSAGE", "message history has no place in inference_model.json"),
        ("ADAPTER", "LoRA adapters are not applied by Foundry Local"),
        ("LICENSE", "no license field"),
        ("DRAFT", "no draft model"),
        ("RENDERER", "no renderer"),
        ("PARSER", "no output parser"),
        ("REQUIRES", "no version requirement"),
    ):
        count = len(mf.find(keyword))
        if count:
            times = f" ({count} lines)" if count > 1 else ""
            lost.append(f"{keyword}{times}: {why}")
    return Conversion(INFERENCE_MODEL, dumps(data), lost, data)


# --------------------------------------------------------------------------------------------
# inference_model.json -> Modelfile

_FROM_MODEL_CONFIG: dict[str, tuple[str, str]] = {
    "temperature": ("temperature", "float"),
    "top_p": ("top_p", "float"),
    "top_k": ("top_k", "int"),
    "repetition_penalty": ("repeat_penalty", "float"),
    "random_seed": ("seed", "int"),
}


def inference_model_to_modelfile(data: Mapping[str, Any], from_: str | None = None) -> Conversion:
    """Convert an inference_model.json object to a Modelfile.

    The PromptTemplate becomes a Go template rendering the same prompts (see
    :func:`prompt_template_to_go`) with the stop words of :func:`stop_words`; ``ModelConfig``
    settings with a PARAMETER of the same meaning are carried over; the rest is in ``lost``.

    Args:
        data: The inference_model.json object (as :func:`validate_text` returns it).
        from_: What FROM names (a model, GGUF file or folder); defaults to ``Name``.

    Raises:
        DiagnosticError: a value the Modelfile format cannot carry.
    """
    lost: list[str] = []
    name = data.get("Name")
    if from_ is None:
        from_ = name.strip() if isinstance(name, str) and name.strip() else "./model.gguf"
        lost.append(
            f"FROM {from_}: inference_model.json does not name the weights; FROM is set to the "
            "model's Name: point it at the GGUF file or the Ollama model to build on"
        )
    header_lines = ["# Converted from inference_model.json by slmdeck"]
    for key in ("Name", "Description", "Version"):
        value = data.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            one_line = " ".join(str(value).split())
            header_lines.append(f"# {key}: {one_line}")
    pt_raw = data.get("PromptTemplate")
    template: str | None = None
    params: dict[str, Any] = {}
    if isinstance(pt_raw, Mapping):
        pt = {k: (v if isinstance(v, str) else None) for k, v in pt_raw.items() if k in PROMPT_KEYS}
        template = prompt_template_to_go(pt)
        stop = stop_words(pt)
        if stop:
            params["stop"] = stop
        for key in pt_raw:
            if key not in PROMPT_KEYS:
                lost.append(f"PromptTemplate.{key}: not a PromptTemplate key")
    else:
        lost.append(
            "PromptTemplate is null or missing: no TEMPLATE is written, so Ollama uses the "
            "model's own (from the GGUF's chat template, or {{ .Prompt }})"
        )
    config = data.get("ModelConfig")
    if isinstance(config, Mapping):
        for key, value in config.items():
            target = _FROM_MODEL_CONFIG.get(key)
            if target is None:
                what = (
                    "counts prompt and reply together; the nearest PARAMETERs are num_ctx "
                    "and num_predict"
                    if key == "max_length"
                    else "no PARAMETER equivalent"
                )
                lost.append(f"ModelConfig.{key} {json.dumps(value)}: {what}")
                continue
            pname, kind = target
            if kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            ok = (
                isinstance(value, int | float) and not isinstance(value, bool)
                if kind == "float"
                else isinstance(value, int) and not isinstance(value, bool)
            )
            if not ok:
                lost.append(f"ModelConfig.{key} {json.dumps(value)}: not a valid {pname}")
                continue
            params[pname] = value
    for key in data:
        if key not in ("Name", "Description", "Version", "PromptTemplate", "ModelConfig"):
            lost.append(f"{key}: not an inference_model.json key")
    text = render_modelfile(
        from_, template=template, parameters=params, header="\n".join(header_lines)
    )
    return Conversion(MODELFILE, text, lost)


# --------------------------------------------------------------------------------------------
# Either way


class ConversionError(Exception):
    """The document cannot be converted (it does not parse); the message says why."""


def convert_document(
    kind: str, text: str, *, from_: str | None = None, name: str | None = None
) -> Conversion:
    """Convert a document of ``kind`` into the other kind.

    Raises:
        ConversionError: an inference_model.json that is not valid JSON (or not an object), or
            a value the Modelfile format cannot carry.
    """
    from tui.core.diagnostics import DiagnosticError

    if kind == MODELFILE:
        return modelfile_to_inference_model(text, name)
    data, diags = validate_text(text)
    if data is None:
        first = next((d for d in diags if d.severity == "error"), None)
        why = f"line {first.line}: {first.message}" if first else "not an object"
        raise ConversionError(f"the inference_model.json cannot be read ({why})")
    try:
        return inference_model_to_modelfile(data, from_)
    except DiagnosticError as exc:
        raise ConversionError(str(exc)) from None


__all__ = [
    "CHECKS",
    "Conversion",
    "ConversionError",
    "convert_document",
    "inference_model_to_modelfile",
    "modelfile_to_inference_model",
    "prompt_template_to_go",
    "stop_words",
    "template_to_prompt_template",
]
