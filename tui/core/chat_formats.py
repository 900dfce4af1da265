"""The common chat formats, both as Ollama TEMPLATEs and as Foundry Local PromptTemplates.

Each format's Go template and stop list are the ones Ollama ships for imported models of that
family (``template/chatml.gotmpl``, ``llama3-instruct.gotmpl``, ``phi-3.gotmpl``,
``gemma-instruct.gotmpl`` and their ``.json``). The PromptTemplate of each renders, through
:func:`tui.core.inference_model.render_prompt`, the same string as Ollama's template for a
conversation of system/user/assistant turns ending with a user turn (Ollama's own
``template/testdata`` outputs are the reference) — with one exception: Gemma has no system turn,
and Ollama's template folds system text into the first user turn, which a PromptTemplate cannot
say; its PromptTemplate sends a system message as a user turn of its own.

Conversions in both directions return what could not be carried over in ``dropped``, one line per
thing, so that the editor can show it before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tui.core.inference_model import PLACEHOLDER, PROMPT_KEYS, dumps
from tui.core.modelfile import (
    DEPRECATED_PARAMETERS,
    Modelfile,
    convert_parameter,
    parse,
    render_modelfile,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChatFormat:
    """One chat format in both notations."""

    id: str
    title: str
    template: str
    """The Go template, exactly as Ollama ships it (final newline included)."""
    stop: tuple[str, ...]
    prompt_template: Mapping[str, str]
    markers: tuple[str, ...]
    """Special tokens whose presence identifies the format."""
    notes: tuple[str, ...] = ()
    """Where the two notations differ for this format."""


CHATML = ChatFormat(
    id="chatml",
    title="ChatML (Qwen, SmolLM, …)",
    template=(
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
        "{{ .Content }}<|im_end|>\n"
        "{{ end }}<|im_start|>assistant\n"
    ),
    stop=("<|im_start|>", "<|im_end|>"),
    prompt_template={
        "system": "<|im_start|>system\n{Content}<|im_end|>\n",
        "user": "<|im_start|>user\n{Content}<|im_end|>\n",
        "assistant": "<|im_start|>assistant\n{Content}<|im_end|>\n",
        "prompt": "<|im_start|>user\n{Content}<|im_end|>\n<|im_start|>assistant\n",
    },
    markers=("<|im_start|>",),
)

LLAMA3 = ChatFormat(
    id="llama3",
    title="Llama 3",
    template=(
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n"
        "\n"
        "{{ .Content }}<|eot_id|>\n"
        "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n"
        "\n"
    ),
    stop=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    prompt_template={
        "system": "<|start_header_id|>system<|end_header_id|>\n\n{Content}<|eot_id|>",
        "user": "<|start_header_id|>user<|end_header_id|>\n\n{Content}<|eot_id|>",
        "assistant": "<|start_header_id|>assistant<|end_header_id|>\n\n{Content}<|eot_id|>",
        "prompt": (
            "<|start_header_id|>user<|end_header_id|>\n\n{Content}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
        ),
    },
    markers=("<|start_header_id|>",),
    notes=(
        "<|begin_of_text|> is left to the tokenizer: Ollama's adds it; check that the ONNX "
        "model's tokenizer does too",
    ),
)

PHI = ChatFormat(
    id="phi",
    title="Phi-3 / Phi-4-mini",
    template=(
        "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n"
    ),
    stop=("<|end|>", "<|system|>", "<|user|>", "<|assistant|>"),
    prompt_template={
        "system": "<|system|>\n{Content}<|end|>\n",
        "user": "<|user|>\n{Content}<|end|>\n",
        "assistant": "<|assistant|>\n{Content}<|end|>\n",
        "prompt": "<|user|>\n{Content}<|end|>\n<|assistant|>\n",
    },
    markers=("<|{{ .Role }}|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"),
)

GEMMA = ChatFormat(
    id="gemma",
    title="Gemma",
    template=(
        '{{- $system := "" }}\n'
        "{{- range .Messages }}\n"
        '{{- if eq .Role "system" }}\n'
        "{{- if not $system }}{{ $system = .Content }}\n"
        '{{- else }}{{ $system = printf "%s\\n\\n%s" $system .Content }}\n'
        "{{- end }}\n"
        "{{- continue }}\n"
        '{{- else if eq .Role "user" }}<start_of_turn>user\n'
        "{{- if $system }}\n"
        "{{ $system }}\n"
        '{{- $system = "" }}\n'
        "{{- end }}\n"
        '{{- else if eq .Role "assistant" }}<start_of_turn>model\n'
        "{{- end }}\n"
        "{{ .Content }}<end_of_turn>\n"
        "{{ end }}<start_of_turn>model\n"
    ),
    stop=("<start_of_turn>", "<end_of_turn>"),
    prompt_template={
        "system": "<start_of_turn>user\n{Content}<end_of_turn>\n",
        "user": "<start_of_turn>user\n{Content}<end_of_turn>\n",
        "assistant": "<start_of_turn>model\n{Content}<end_of_turn>\n",
        "prompt": "<start_of_turn>user\n{Content}<end_of_turn>\n<start_of_turn>model\n",
    },
    markers=("<start_of_turn>",),
    notes=(
        "system messages: Gemma has no system turn; Ollama's template puts the system text at "
        "the top of the first user turn, the PromptTemplate sends it as a user turn of its own",
    ),
)

FORMATS: dict[str, ChatFormat] = {f.id: f for f in (CHATML, LLAMA3, PHI, GEMMA)}
"""The formats by id: ``chatml``, ``llama3``, ``phi``, ``gemma``."""


@dataclass(frozen=True, slots=True)
class ConversionResult(Generic[T]):
    """A converted document and the list of what it could not carry over.

    Attributes:
        data: The result: the inference_model.json object, or the Modelfile text.
        dropped: One sentence per thing that was left out or changed meaning.
    """

    data: T
    dropped: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The result as text (the Modelfile, or the JSON written as Foundry Local writes it)."""
        if isinstance(self.data, str):
            return self.data
        return dumps(self.data) if isinstance(self.data, Mapping) else str(self.data)


def detect_format(template_text: str | Mapping[str, Any] | None) -> str | None:
    """The format id a Go template or a PromptTemplate is written in, or None if none fits.

    Detection looks for each format's special tokens, so it works on Ollama's own templates, on
    customised ones (tools, dates) and on PromptTemplates alike.
    """
    if template_text is None:
        return None
    if isinstance(template_text, Mapping):
        text = "".join(v for v in template_text.values() if isinstance(v, str))
    else:
        text = template_text
    for fmt in (CHATML, LLAMA3, GEMMA, PHI):
        if any(m in text for m in fmt.markers):
            return fmt.id
    return None


# --------------------------------------------------------------------------------------------
# PromptTemplate <-> Go template for any PromptTemplate


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


_GENERATED_HEAD = "{{- /* PromptTemplate */ -}}\n"


def prompt_template_to_go(pt: Mapping[str, str | None]) -> str:
    """A Go template that renders exactly what ``render_prompt(pt, messages)`` renders.

    Literal text is written as Go string literals so that whitespace control never eats it.
    """
    return (
        _GENERATED_HEAD + "{{- range $i, $_ := .Messages }}"
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}"
        '{{- if eq .Role "system" }}' + _go_piece(pt.get("system")) + ""
        '{{- else if eq .Role "assistant" }}' + _go_piece(pt.get("assistant")) + ""
        '{{- else if and $last (eq .Role "user") }}' + _go_piece(pt.get("prompt")) + ""
        "{{- else }}" + _go_piece(pt.get("user")) + ""
        "{{- end }}{{- end }}"
    )


_PIECE = r"((?:\{\{ \"(?:[^\"\\]|\\.)*\" \}\}|\{\{ \.Content \}\})*)"
_GENERATED = re.compile(
    re.escape(_GENERATED_HEAD + "{{- range $i, $_ := .Messages }}")
    + re.escape("{{- $last := eq (len (slice $.Messages $i)) 1 }}")
    + re.escape('{{- if eq .Role "system" }}')
    + _PIECE
    + re.escape('{{- else if eq .Role "assistant" }}')
    + _PIECE
    + re.escape('{{- else if and $last (eq .Role "user") }}')
    + _PIECE
    + re.escape("{{- else }}")
    + _PIECE
    + re.escape("{{- end }}{{- end }}"),
    re.DOTALL,
)


def _piece_text(piece: str) -> str:
    out: list[str] = []
    for m in re.finditer(r"\{\{ (\"(?:[^\"\\]|\\.)*\") \}\}|\{\{ \.Content \}\}", piece):
        out.append(PLACEHOLDER if m.group(1) is None else str(json.loads(m.group(1))))
    return "".join(out)


def go_to_prompt_template(template: str) -> dict[str, str] | None:
    """Read back a template written by :func:`prompt_template_to_go`; None for any other."""
    m = _GENERATED.fullmatch(template)
    if not m:
        return None
    try:
        system, assistant, prompt, user = (_piece_text(g) for g in m.groups())
    except ValueError:
        return None
    return {"system": system, "user": user, "assistant": assistant, "prompt": prompt}


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

_FEATURES: tuple[tuple[str, str], ...] = (
    (r"\.Tools\b", "tool definitions (.Tools): a PromptTemplate cannot list tools"),
    (r"\.ToolCalls\b", "tool calls (.ToolCalls) in assistant turns"),
    (r'eq \.Role "tool"|\.ToolName\b', "tool results (role tool) get no special wrapping"),
    (
        r"\.(?:Think|ThinkLevel|IsThinkSet)\b",
        "thinking (.Think): a PromptTemplate cannot switch it",
    ),
    (
        r"\b(?:currentDate|yesterdayDate)\b",
        "dates (currentDate): a PromptTemplate cannot compute them",
    ),
    (r"\.Suffix\b", "fill-in-the-middle (.Suffix)"),
    (r"\.Images\b|\[img", "images"),
)


def _template_losses(template: str, fmt: ChatFormat) -> list[str]:
    if template == fmt.template:
        return list(fmt.notes)
    lost = [f"TEMPLATE: {what}" for pattern, what in _FEATURES if re.search(pattern, template)]
    lost.append(
        f"TEMPLATE: it differs from Ollama's standard {fmt.title} template (extra text or "
        f"logic); the standard {fmt.title} PromptTemplate is used instead"
    )
    return lost + list(fmt.notes)


def _model_name(from_: str | None) -> str:
    if not from_:
        return "model"
    base = re.split(r"[\\/]", from_.rstrip("/\\"))[-1]
    base = re.sub(r"\.gguf$", "", base, flags=re.IGNORECASE)
    return base or "model"


def modelfile_to_inference_model(
    mf: Modelfile | str, name: str | None = None
) -> ConversionResult[dict[str, Any]]:
    """Convert a Modelfile to an inference_model.json object.

    The TEMPLATE's format becomes its PromptTemplate (a template written by
    :func:`prompt_template_to_go` comes back exactly); temperature, top_p, top_k, repeat_penalty
    and seed go to ``ModelConfig``. Everything else is listed in ``dropped``.

    Args:
        mf: The Modelfile (parsed, or its text).
        name: The ``Name``; defaults to the last part of FROM.
    """
    if isinstance(mf, str):
        mf = parse(mf)
    dropped: list[str] = []
    data: dict[str, Any] = {"Name": name or _model_name(mf.from_)}
    if mf.from_ is not None:
        dropped.append(
            f"FROM {mf.from_}: inference_model.json does not name the weights; it sits in the "
            "model's folder"
        )
    template = mf.template
    if template is None:
        data["PromptTemplate"] = None
        dropped.append(
            "TEMPLATE: none in this Modelfile (the base model's applies); PromptTemplate is null, "
            "so the tokenizer's chat template is used"
        )
    elif (generated := go_to_prompt_template(template)) is not None:
        data["PromptTemplate"] = generated
    elif (fid := detect_format(template)) is not None:
        fmt = FORMATS[fid]
        data["PromptTemplate"] = dict(fmt.prompt_template)
        dropped.extend(_template_losses(template, fmt))
    else:
        data["PromptTemplate"] = None
        dropped.append(
            "TEMPLATE: not a ChatML, Llama 3, Phi or Gemma template; PromptTemplate is null, so "
            "the tokenizer's chat template is used"
        )
    if mf.system is not None:
        dropped.append(
            "SYSTEM: a PromptTemplate has no default system message; send it as the first "
            "message of the conversation"
        )
    config: dict[str, Any] = {}
    stops: list[str] = []
    for pname, raw in mf.parameters():
        if pname in DEPRECATED_PARAMETERS:
            dropped.append(f"PARAMETER {pname}: deprecated, and ignored by Ollama too")
            continue
        typed, err = convert_parameter(pname, raw)
        if pname == "stop":
            stops.append(raw)
        elif err is None and pname in _TO_MODEL_CONFIG:
            config[_TO_MODEL_CONFIG[pname]] = typed
        elif pname == "num_ctx":
            dropped.append(
                f"PARAMETER num_ctx {raw}: ModelConfig.max_length counts the prompt and the "
                "reply together; set it yourself if you want that cap"
            )
        else:
            dropped.append(f"PARAMETER {pname} {raw}: no ModelConfig equivalent")
    if stops:
        dropped.append(
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
            dropped.append(f"{keyword}{times}: {why}")
    return ConversionResult(data, dropped)


# --------------------------------------------------------------------------------------------
# inference_model.json -> Modelfile

_FROM_MODEL_CONFIG: dict[str, tuple[str, str]] = {
    "temperature": ("temperature", "float"),
    "top_p": ("top_p", "float"),
    "top_k": ("top_k", "int"),
    "repetition_penalty": ("repeat_penalty", "float"),
    "random_seed": ("seed", "int"),
}


def _normalise_pt(pt: Mapping[str, Any]) -> dict[str, str | None]:
    return {k: (v if isinstance(v, str) else None) for k, v in pt.items() if k in PROMPT_KEYS}


def _stop_from_assistant(pt: Mapping[str, str | None]) -> list[str]:
    assistant = pt.get("assistant")
    if not assistant or PLACEHOLDER not in assistant:
        return []
    tail = assistant.split(PLACEHOLDER)[-1].strip()
    return [tail] if tail else []


def inference_model_to_modelfile(data: Mapping[str, Any], from_: str) -> ConversionResult[str]:
    """Convert an inference_model.json object to a Modelfile.

    A PromptTemplate that is exactly one of the four formats becomes Ollama's own template for it,
    with its stop list; any other PromptTemplate becomes a Go template that renders the same
    prompts (see :func:`prompt_template_to_go`), stopping at the assistant turn's closing text.
    ``ModelConfig`` settings with a PARAMETER of the same meaning are carried over; the rest is
    listed in ``dropped``.

    Args:
        data: The inference_model.json object (as :func:`validate_text` returns it).
        from_: What the Modelfile's FROM names (a model, GGUF file or folder).

    Raises:
        DiagnosticError: a value the Modelfile format cannot carry.
    """
    dropped: list[str] = []
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
        pt = _normalise_pt(pt_raw)
        full = {k: pt.get(k) or PLACEHOLDER for k in PROMPT_KEYS}
        fid = detect_format(pt)
        fmt = FORMATS.get(fid) if fid else None
        if fmt is not None and full == dict(fmt.prompt_template):
            template = fmt.template
            params["stop"] = list(fmt.stop)
            dropped.extend(fmt.notes)
        else:
            template = prompt_template_to_go(pt)
            stop = _stop_from_assistant(pt)
            if fmt is not None:
                stop = [s for s in fmt.stop if s in "".join(v or "" for v in pt.values())] or stop
            if stop:
                params["stop"] = stop
        for key in pt_raw:
            if key not in PROMPT_KEYS:
                dropped.append(f"PromptTemplate.{key}: not a PromptTemplate key")
    else:
        dropped.append(
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
                dropped.append(f"ModelConfig.{key} {json.dumps(value)}: {what}")
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
                dropped.append(f"ModelConfig.{key} {json.dumps(value)}: not a valid {pname}")
                continue
            params[pname] = value
    for key in data:
        if key not in ("Name", "Description", "Version", "PromptTemplate", "ModelConfig"):
            dropped.append(f"{key}: not an inference_model.json key")
    text = render_modelfile(
        from_, template=template, parameters=params, header="\n".join(header_lines)
    )
    return ConversionResult(text, dropped)


# --------------------------------------------------------------------------------------------
# New documents


def new_modelfile(format_id: str, from_: str) -> str:
    """A new Modelfile in ``format_id`` (``chatml``, ``llama3``, ``phi``, ``gemma``).

    Raises:
        KeyError: unknown format id.
    """
    fmt = FORMATS[format_id]
    header = (
        f"# {fmt.title} chat format, as Ollama ships it.\n"
        "# PARAMETERs: see https://github.com/ollama/ollama/blob/main/docs/modelfile.mdx"
    )
    return render_modelfile(
        from_, template=fmt.template, parameters={"stop": list(fmt.stop)}, header=header
    )


def new_inference_model(format_id: str, name: str) -> str:
    """A new inference_model.json text in ``format_id``.

    Raises:
        KeyError: unknown format id.
    """
    fmt = FORMATS[format_id]
    return dumps({"Name": name, "PromptTemplate": dict(fmt.prompt_template)})
