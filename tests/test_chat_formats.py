"""Chat formats: Ollama's templates, equivalent PromptTemplates, detection and conversions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.chat_formats import (
    FORMATS,
    detect_format,
    go_to_prompt_template,
    inference_model_to_modelfile,
    modelfile_to_inference_model,
    new_inference_model,
    new_modelfile,
    prompt_template_to_go,
)
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


# -- Modelfile -> inference_model.json ---------------------------------------------------------


@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_new_modelfile_converts_to_its_prompt_template(fid: str) -> None:
    text = new_modelfile(fid, "base")
    mf = parse(text)
    assert validate(mf) == []
    fields = to_create_fields(mf)
    assert fields.template == FORMATS[fid].template
    assert fields.parameters == {"stop": STOPS[fid]}
    result = modelfile_to_inference_model(mf)
    assert result.data == {"Name": "base", "PromptTemplate": dict(FORMATS[fid].prompt_template)}
    assert validate_text(result.text)[1] == []
    assert result.dropped[0].startswith("FROM base:")
    assert any(d.startswith("PARAMETER stop") for d in result.dropped)
    assert len(result.dropped) == 2 + len(FORMATS[fid].notes)


def test_llama32_template_lists_what_is_lost() -> None:
    mf = parse(new_modelfile("llama3", "llama3.2"))
    mf.set_template((GOLDEN / "templates" / "llama3.2.gotmpl").read_text())
    dropped = modelfile_to_inference_model(mf).dropped
    for needle in (".Tools", ".ToolCalls", "role tool", "differs from Ollama's standard Llama 3"):
        assert any(needle in d for d in dropped), needle


def test_everything_without_an_equivalent_is_listed() -> None:
    text = (
        "FROM ./model.gguf\nADAPTER ./lora.gguf\nSYSTEM be brief\nLICENSE MIT\n"
        "MESSAGE user hi\nMESSAGE assistant hello\nPARAMETER num_ctx 8192\n"
        "PARAMETER temperature 0.3\nPARAMETER top_k 20\nPARAMETER seed 7\n"
        "PARAMETER repeat_penalty 1.1\nPARAMETER num_predict 64\nPARAMETER mirostat 1\n"
        "REQUIRES 0.14.0\n"
        'TEMPLATE """{{ if .Think }}x{{ end }}{{ range .Messages }}<|im_start|>{{ .Role }}\n'
        '{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"""\n'
    )
    result = modelfile_to_inference_model(text, name="mine")
    assert result.data == {
        "Name": "mine",
        "PromptTemplate": dict(FORMATS["chatml"].prompt_template),
        "ModelConfig": {
            "temperature": 0.3,
            "top_k": 20,
            "random_seed": 7,
            "repetition_penalty": 1.1,
        },
    }
    heads = [d.split(":")[0] for d in result.dropped]
    assert heads == [
        "FROM ./model.gguf",
        "TEMPLATE",
        "TEMPLATE",
        "SYSTEM",
        "PARAMETER num_ctx 8192",
        "PARAMETER num_predict 64",
        "PARAMETER mirostat",
        "MESSAGE (2 lines)",
        "ADAPTER",
        "LICENSE",
        "REQUIRES",
    ]
    assert "thinking (.Think)" in result.dropped[1]


def test_no_or_unknown_template_gives_null() -> None:
    assert modelfile_to_inference_model("FROM x\n").data["PromptTemplate"] is None
    result = modelfile_to_inference_model('FROM x\nTEMPLATE "### User: {{ .Prompt }}"\n')
    assert result.data["PromptTemplate"] is None
    assert result.dropped[-1].startswith("TEMPLATE: not a ChatML")


# -- inference_model.json -> Modelfile ---------------------------------------------------------


@pytest.mark.parametrize("fid", sorted(FORMATS))
def test_new_inference_model_converts_to_ollamas_template(fid: str) -> None:
    text = new_inference_model(fid, "mine")
    data, diags = validate_text(text)
    assert diags == [] and data is not None
    result = inference_model_to_modelfile(data, "./w.gguf")
    fields = to_create_fields(parse(result.text))
    assert fields.template == FORMATS[fid].template
    assert fields.parameters["stop"] == STOPS[fid]
    assert result.dropped == list(FORMATS[fid].notes)
    back = modelfile_to_inference_model(result.text, name="mine").data
    assert back["PromptTemplate"] == data["PromptTemplate"]


@pytest.mark.parametrize("name", ["llama-3.2", "phi-4-mini-catalog"])
def test_foundry_templates_become_equivalent_go_templates(name: str) -> None:
    data = json.loads((GOLDEN / "foundry" / f"{name}.inference_model.json").read_text())
    source = "./llama-3.2.gguf" if name == "llama-3.2" else "phi4-mini"
    result = inference_model_to_modelfile(data, source)
    assert result.text == (GOLDEN / "converted" / f"{name}.Modelfile").read_text()
    assert result.dropped == []
    back = modelfile_to_inference_model(result.text).data["PromptTemplate"]
    conv = [("system", "S"), ("user", "u1"), ("assistant", "a1"), ("user", "u2")]
    assert render_prompt(back, conv) == render_prompt(data["PromptTemplate"], conv)


def test_model_config_mapping_and_losses() -> None:
    data = json.loads((GOLDEN / "foundry" / "course-qwen.inference_model.json").read_text())
    data["ModelConfig"].update({"top_k": 40.0, "do_sample": False, "random_seed": "x"})
    result = inference_model_to_modelfile(data, "qwen2.5:0.5b")
    params = to_create_fields(parse(result.text)).parameters
    assert params == {
        "stop": STOPS["chatml"],
        "temperature": 0.7,
        "top_p": 0.9,
        "repeat_penalty": 1.1,
        "top_k": 40,
    }
    assert [d.split(":")[0] for d in result.dropped] == [
        "ModelConfig.max_length 2048",
        "ModelConfig.do_sample false",
        'ModelConfig.random_seed "x"',
    ]
    assert "# Description: Qwen2.5 0.5B Instruct, int4 for CPU" in result.text


def test_null_prompt_template_writes_no_template() -> None:
    result = inference_model_to_modelfile({"Name": "x", "PromptTemplate": None}, "x")
    assert parse(result.text).template is None
    assert result.dropped[0].startswith("PromptTemplate is null")


KEY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["system", "user", "assistant", "prompt"]),
        KEY_TEXT.map(lambda s: s + "{Content}") | KEY_TEXT,
    )
)
def test_any_prompt_template_survives_the_go_template(pt: dict[str, str]) -> None:
    back = go_to_prompt_template(prompt_template_to_go(pt))
    assert back is not None
    conv = [("system", "s"), ("user", "u"), ("assistant", "a"), ("tool", "t"), ("user", "v")]
    assert render_prompt(back, conv) == render_prompt(pt, conv)
