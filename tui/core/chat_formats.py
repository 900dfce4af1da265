"""The common chat formats, both as Ollama TEMPLATEs and as Foundry Local PromptTemplates.

Each format's Go template and stop list are the ones Ollama ships for imported models of that
family (``template/chatml.gotmpl``, ``llama3-instruct.gotmpl``, ``phi-3.gotmpl``,
``gemma-instruct.gotmpl`` and their ``.json``). The PromptTemplate of each renders, through
:func:`tui.core.inference_model.render_prompt`, the same string as Ollama's template for a
conversation of system/user/assistant turns ending with a user turn (Ollama's own
``template/testdata`` outputs are the reference) — with one exception: Gemma has no system turn,
and Ollama's template folds system text into the first user turn, which a PromptTemplate cannot
say; its PromptTemplate sends a system message as a user turn of its own.

They start new documents (:func:`new_modelfile`, :func:`new_inference_model`), and
:func:`detect_format` names the format of a tokenizer's chat template. Converting a document is
not done from these stock formats: :mod:`tui.core.convert` renders the actual TEMPLATE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui.core.inference_model import dumps
from tui.core.modelfile import render_modelfile


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


def detect_format(template_text: str | Mapping[str, Any] | None) -> str | None:
    """The format id a Go template or a PromptTemplate is written in, or None if none fits.

    Detection looks for each format's special tokens (Llama 3's header tokens before Phi's
    ``<|user|>``, which Llama 3 fine-tunes also use), so it works on Ollama's own templates, on
    Jinja chat templates and on PromptTemplates alike. It names a format; it does not say that a
    template renders as that format does.
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
