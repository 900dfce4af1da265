"""The editor's live preview: the exact prompt a sample conversation becomes, or why it cannot.

A Modelfile's TEMPLATE is run by slmdeck's Go template engine exactly as Ollama runs it
(:func:`tui.core.ollama_prompt.render_prompt`: its SYSTEM when the conversation has none, its
MESSAGE lines before the conversation), so every TEMPLATE is previewed exactly, with the stop
words of its PARAMETER stop lines. An ``inference_model.json`` goes through
:func:`tui.core.prompt_template.render_prompt` with its own ``PromptTemplate``, as Foundry Local
and slmdeck's ONNX backend do. ``format_title`` only names the chat format the special tokens
belong to; it plays no part in rendering.

Pure Python; nothing here imports Textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.core.modelfile import Modelfile

SAMPLE_SYSTEM = "You are a helpful assistant."
SAMPLE_TURNS: tuple[tuple[str, str], ...] = (
    ("user", "Hello! Who are you?"),
    ("assistant", "I am a small language model."),
    ("user", "What is 2 + 2?"),
)
"""The sample conversation after the system message: user, assistant, user."""


@dataclass(frozen=True, slots=True)
class Preview:
    """What the preview pane shows.

    Attributes:
        prompt: The rendered prompt, or None when it cannot be rendered.
        note: One or two sentences: what the preview is based on, or why there is none.
        format_title: The chat format found (``ChatML (Qwen, SmolLM, …)``), or ``""``.
        exact: True when the prompt is exactly what the runtime builds.
        stop: The stop words (PARAMETER stop), in order.
    """

    prompt: str | None
    note: str
    format_title: str = ""
    exact: bool = False
    stop: tuple[str, ...] = ()


def sample_conversation(
    system: str | None = None, history: tuple[tuple[str, str], ...] | list[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """The sample conversation: a system message, ``history`` (MESSAGE lines), then the turns."""
    return [("system", SAMPLE_SYSTEM if system is None else system), *history, *SAMPLE_TURNS]


def preview_modelfile(source: str | Modelfile) -> Preview:
    """Render a Modelfile's TEMPLATE for the sample conversation as Ollama does.

    ``source`` is the text, or the parsed Modelfile when the caller has it (no second parse).
    The Modelfile's SYSTEM, when it has one, takes the place of the sample system message (Ollama
    adds it to a conversation that has none); its MESSAGE lines come first.
    """
    import json

    from tui.core.chat_formats import FORMATS, detect_format
    from tui.core.modelfile import parse
    from tui.core.ollama_prompt import TemplateError, render_prompt

    mf = parse(source) if isinstance(source, str) else source
    template = mf.template
    if template is None:
        base = mf.from_ or "the FROM model"
        return Preview(
            None,
            f"No TEMPLATE here: Ollama uses the template of {base}. Add a TEMPLATE (or open "
            "that model) to preview the prompt.",
        )
    turns = [{"role": r, "content": c} for r, c in SAMPLE_TURNS]
    if mf.system is None:
        turns.insert(0, {"role": "system", "content": SAMPLE_SYSTEM})
    history = [{"role": r, "content": c} for r, c in mf.messages()]
    stop = tuple(v for name, v in mf.parameters() if name == "stop")
    try:
        prompt = render_prompt(template, turns, mf.system, history=history)
    except TemplateError as exc:
        return Preview(None, f"Ollama could not use this TEMPLATE: {exc}", stop=stop)
    format_id = detect_format(template)
    parts = ["The prompt Ollama builds for a sample conversation (system, user, assistant, user)"]
    if mf.system is not None:
        parts[0] += ", with this Modelfile's SYSTEM"
    if history:
        parts[0] += f" after its {len(history)} MESSAGE line{'s' if len(history) > 1 else ''}"
    parts[0] += "."
    if stop:
        parts.append("Stops at " + ", ".join(json.dumps(w, ensure_ascii=False) for w in stop) + ".")
    else:
        parts.append("No PARAMETER stop: generation ends at the model's end-of-sequence token.")
    title = FORMATS[format_id].title if format_id else "custom"
    return Preview(prompt, " ".join(parts), title, exact=True, stop=stop)


def preview_inference_model(text: str) -> Preview:
    """Render an ``inference_model.json``'s PromptTemplate for the sample conversation."""
    from tui.core.inference_model import validate_text

    return preview_inference_data(validate_text(text)[0])


def preview_inference_data(data: dict[str, Any] | None) -> Preview:
    """Like :func:`preview_inference_model`, from the data ``validate_text`` gave (or None)."""
    from tui.core.inference_model import default_prompt_template
    from tui.core.prompt_template import render_prompt

    if data is None:
        return Preview(None, "Fix the JSON error to see the preview.")
    template = default_prompt_template(data)
    if template is None:
        return Preview(
            None,
            "No PromptTemplate: the runtime uses the tokenizer's chat template, which slmdeck "
            "does not preview.",
        )
    from tui.core.chat_formats import FORMATS, detect_format

    format_id = detect_format(template)
    title = FORMATS[format_id].title if format_id else "custom"
    return Preview(
        render_prompt(template, sample_conversation()),
        "Rendered with this PromptTemplate, as Foundry Local and slmdeck's ONNX backend do.",
        title,
        exact=True,
    )


def preview_for(kind: str, text: str) -> Preview:
    """The preview of a document of ``kind`` (``modelfile`` or ``inference-model``)."""
    if kind == "inference-model":
        return preview_inference_model(text)
    return preview_modelfile(text)
