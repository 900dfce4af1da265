"""Chat formats: Ollama's templates, equivalent PromptTemplates, detection, new documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.core.chat_formats import FORMATS, detect_format, new_inference_model, new_modelfile
from tui.core.inference_model import render_prompt, validate_text
from tui.core.modelfile import parse, to_create_fields, validate

GOLDEN = Path(__file__).parent / "golden"
OLLAMA = GOLDEN / "ollama_template_testdata"
FILES = {"chatml": "chatml", "llama3": "llama3-instruct", "phi": "phi-3", "gemma": "gemma-instruct"}
STOPS = {  # Ollama's template/<name>.json
    "chatml": ["<|im_start|>", "<|im_end|>"],
    "llama3": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "phi": ["<|end|>", "<|system|>", "<|user|>", "<|assistant|>"],
    "gemma": ["<start_of_turn>", "<end_of_turn>"],
}
HELLO = ("user", "Hello, how are you?")
GREAT = ("assistant", "I'm doing great. How can I help you today?")
SHOW = ("user", "I'd like to show off how chat templating works!")
CONVERSATIONS = {  # Ollama's template_test.go conversations
    "user": [HELLO],
    "user-assistant-user": [HELLO, GREAT, SHOW],
    "system-user-assistant-user": [("system", "You are a helpful assistant."), HELLO, GREAT, SHOW],
}


@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_templates_are_ollamas_own(fid: str) -> None:
    assert FORMATS[fid].template == (OLLAMA / f"{FILES[fid]}.gotmpl").read_text()
    assert list(FORMATS[fid].stop) == STOPS[fid]


@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_prompt_template_renders_what_ollama_renders(fid: str, conversation: str) -> None:
    expected = (OLLAMA / f"{FILES[fid]}.{conversation}.txt").read_text()
    got = render_prompt(FORMATS[fid].prompt_template, CONVERSATIONS[conversation])
    if fid == "gemma" and conversation.startswith("system"):
        # The one documented difference: Ollama folds system text into the first user turn.
        assert got != expected
        assert got == (
            "<start_of_turn>user\nYou are a helpful assistant.<end_of_turn>\n"
            + expected.replace("You are a helpful assistant.\n", "")
        )
        assert FORMATS["gemma"].notes
    else:
        assert got == expected


@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_detect_format_both_notations(fid: str) -> None:
    assert detect_format(FORMATS[fid].template) == fid
    assert detect_format(FORMATS[fid].prompt_template) == fid


def test_detect_real_templates() -> None:
    assert detect_format((GOLDEN / "templates" / "llama3.2.gotmpl").read_text()) == "llama3"
    assert (
        detect_format(
            parse((GOLDEN / "modelfiles" / "chatml-legacy.Modelfile").read_text()).template
        )
        == "chatml"
    )
    phi = json.loads((GOLDEN / "foundry" / "phi-4-mini-catalog.inference_model.json").read_text())
    assert detect_format(phi["PromptTemplate"]) == "phi"
    assert detect_format("{{ .Prompt }}") is None
    assert detect_format(None) is None


# -- new documents ---------------------------------------------------------------------------


@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_new_documents_are_clean_and_render_alike(fid: str) -> None:
    mf = parse(new_modelfile(fid, "base"))
    assert validate(mf) == []
    fields = to_create_fields(mf)
    assert fields.template == FORMATS[fid].template
    assert fields.parameters == {"stop": STOPS[fid]}
    data, diags = validate_text(new_inference_model(fid, "mine"))
    assert diags == [] and data == {"Name": "mine", "PromptTemplate": FORMATS[fid].prompt_template}


def test_a_llama3_fine_tune_with_phi_markers_is_llama3() -> None:
    # Header tokens win over <|user|>-style markers, which Llama 3 fine-tunes use too.
    template = "<|start_header_id|>system<|end_header_id|>\n<|system|>{{ .System }}<|user|>"
    assert detect_format(template) == "llama3"
