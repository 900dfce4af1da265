"""The editor's live preview: the exact prompt a sample conversation becomes, or why it cannot.

Both document kinds go through the one renderer, :func:`tui.core.prompt_template.render_prompt`:
an ``inference_model.json`` with its own ``PromptTemplate``; a Modelfile through the
PromptTemplate of the chat format its TEMPLATE is written in (detected from its special tokens),
or exactly when the TEMPLATE was generated from a PromptTemplate. slmdeck does not run Go
templates, so a TEMPLATE in no known format is not previewed, and the note says so.

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
    """

    prompt: str | None
    note: str
    format_title: str = ""
    exact: bool = False


def sample_conversation(
    system: str | None = None, history: tuple[tuple[str, str], ...] | list[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """The sample conversation: a system message, ``history`` (MESSAGE lines), then the turns."""
    return [("system", SAMPLE_SYSTEM if system is None else system), *history, *SAMPLE_TURNS]


def preview_modelfile(source: str | Modelfile) -> Preview:
    """Render a Modelfile's TEMPLATE for the sample conversation (its SYSTEM and MESSAGEs too).

    ``source`` is the text, or the parsed Modelfile when the caller has it (no second parse).
    """
    from tui.core.chat_formats import FORMATS, detect_format, go_to_prompt_template
    from tui.core.modelfile import parse
    from tui.core.prompt_template import render_prompt

    mf = parse(source) if isinstance(source, str) else source
    template = mf.template
    conversation = sample_conversation(mf.system, mf.messages())
    if template is None:
        base = mf.from_ or "the FROM model"
        return Preview(
            None,
            f"No TEMPLATE here: Ollama uses the template of {base}. Add a TEMPLATE (or open "
            "that model) to preview the prompt.",
        )
    generated = go_to_prompt_template(template)
    if generated is not None:
        return Preview(
            render_prompt(generated, conversation),
            "TEMPLATE written from a PromptTemplate: this is exactly the prompt Ollama builds.",
            "PromptTemplate",
            exact=True,
        )
    format_id = detect_format(template)
    if format_id is None:
        return Preview(
            None,
            "This TEMPLATE is in none of the known chat formats (ChatML, Llama 3, Phi, Gemma); "
            "slmdeck does not run Go templates, so it cannot preview it.",
        )
    fmt = FORMATS[format_id]
    prompt = render_prompt(fmt.prompt_template, conversation)
    if template == fmt.template:
        note = f"{fmt.title} template as Ollama ships it."
        if fmt.notes and format_id == "gemma":
            note += " " + fmt.notes[0][0].upper() + fmt.notes[0][1:] + "."
        return Preview(prompt, note, fmt.title, exact=format_id != "gemma")
    return Preview(
        prompt,
        f"Looks like {fmt.title}; previewed with the standard {fmt.title} template, so custom "
        "parts of this TEMPLATE (tools, dates, extra text) are not shown.",
        fmt.title,
    )


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
