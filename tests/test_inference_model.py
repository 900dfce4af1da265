"""inference_model.json: validation with JSON paths and positions, prompt rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.inference_model import json_path, render_prompt, validate_text

GOLDEN = Path(__file__).parent / "golden" / "foundry"


def found(text: str) -> list[tuple[int, int, str, str]]:
    return [(d.line, d.col, d.severity, d.message) for d in validate_text(text)[1]]


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.name)
def test_golden_files_have_no_errors(path: Path) -> None:
    data, diags = validate_text(path.read_text())
    assert data == json.loads(path.read_text())
    assert [d for d in diags if d.severity == "error"] == []


def test_foundry_doc_example_warns_nothing() -> None:
    _data, diags = validate_text((GOLDEN / "llama-3.2.inference_model.json").read_text())
    assert diags == []


def test_course_file_says_model_config_is_not_read() -> None:
    _data, diags = validate_text((GOLDEN / "course-qwen.inference_model.json").read_text())
    [info] = diags
    assert info.severity == "info" and info.message.startswith("$.ModelConfig: not read")
    assert (info.line, info.col) == (11, 3)


def test_missing_placeholder_names_its_path_and_position() -> None:
    text = '{\n  "Name": "m",\n  "PromptTemplate": {\n    "user": "<u>{content}</u>",\n    "prompt": "{Content}"\n  }\n}\n'
    [d] = validate_text(text)[1]
    assert d.message.startswith("$.PromptTemplate.user: missing {Content} placeholder")
    assert "'{content}'" in d.message
    assert (d.line, d.col, d.severity, d.code) == (4, 13, "error", "missing-placeholder")


def test_json_syntax_error_position() -> None:
    text = '{\n  "Name": "m",\n  "PromptTemplate": {"user": "x",}\n}'
    data, [d] = validate_text(text)
    assert data is None
    assert (d.line, d.col, d.code) == (3, 34, "json-syntax")  # the stray }
    assert d.message.startswith("invalid JSON:")


def test_schema_errors_and_unknown_keys() -> None:
    text = (
        '{"Name": "", "Version": true, "PromptTemplate": {"Prompt": "{Content}", "user": 3},\n'
        ' "ModelConfig": {"top_p": 2, "max_length": "2k", "beam": 1}, "Extra": 1, "Extra": 2}'
    )
    assert found(text) == [
        (1, 10, "error", "$.Name: must not be empty"),
        (1, 25, "error", "$.Version: must be a string or an integer, not a boolean"),
        (
            1,
            31,
            "warning",
            "$.PromptTemplate: no prompt: the final user message is sent bare, "
            "with nothing that opens the assistant's reply",
        ),
        (
            1,
            50,
            "warning",
            "$.PromptTemplate.Prompt: unknown key; the runtime ignores it "
            "(did you mean 'prompt'? keys are case-sensitive)",
        ),
        (1, 81, "error", "$.PromptTemplate.user: must be a string or null, not an integer"),
        (
            2,
            2,
            "info",
            "$.ModelConfig: not read by Foundry Local or ONNX Runtime GenAI (sampling "
            "defaults come from genai_config.json); kept as written",
        ),
        (2, 27, "error", "$.ModelConfig.top_p: must be between 0 and 1, not 2"),
        (2, 44, "error", "$.ModelConfig.max_length: must be an int, not a string"),
        (
            2,
            50,
            "warning",
            "$.ModelConfig.beam: unknown key (not an ONNX Runtime GenAI search option)",
        ),
        (2, 74, "warning", "$.Extra: key given twice; the last one is used"),
        (2, 74, "warning", "$.Extra: unknown key; the runtime ignores it"),
    ]


def test_missing_name_and_null_template() -> None:
    assert found('{"PromptTemplate": null}') == [
        (1, 1, "error", "$: missing Name (Foundry Local needs it)")
    ]
    assert found('{"Name": "x"}') == [
        (1, 1, "info", "$: no PromptTemplate: the tokenizer's chat template is used instead")
    ]


@pytest.mark.parametrize("text", ["[]", '"x"', "NaN", '{"Name": Infinity}', "", "\ufeff{"])
def test_not_an_object(text: str) -> None:
    data, diags = validate_text(text)
    assert data is None and diags[0].severity == "error"


def test_bom_is_accepted() -> None:
    data, diags = validate_text('\ufeff{"Name": "x", "PromptTemplate": null}')
    assert data == {"Name": "x", "PromptTemplate": None} and diags == []


def test_json_path_quoting() -> None:
    assert json_path(("PromptTemplate", "user")) == "$.PromptTemplate.user"
    assert json_path(("odd key", 0)) == '$["odd key"][0]'


# -- rendering -------------------------------------------------------------------------------

PHI = json.loads((GOLDEN / "phi-4-mini-catalog.inference_model.json").read_text())["PromptTemplate"]


def test_render_multi_turn_with_the_catalog_phi_template() -> None:
    prompt = render_prompt(
        PHI, [("system", "S"), ("user", "u1"), ("assistant", "a1"), ("user", "u2")]
    )
    assert prompt == (
        "<|system|>\nS<|end|><|user|>\nu1<|end|><|assistant|>\na1<|end|>"
        "<|user|>\nu2<|end|>\n<|assistant|>"
    )


def test_render_headerless_assistant_turns_are_opened_by_prompt() -> None:
    # Foundry's llama-3.2 example has no "user" key and an "assistant" of bare {Content}: each
    # answered user turn is rendered with "prompt", so every reply still gets its header.
    llama = json.loads((GOLDEN / "llama-3.2.inference_model.json").read_text())["PromptTemplate"]
    prompt = render_prompt(llama, [("user", "hi"), ("assistant", "yo"), ("user", "Q")])
    opened = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>system")
    assert f"\n\nhi{opened}yo<|begin_of_text|>" in prompt
    assert prompt.endswith(f"\n\nQ{opened}")
    # A missing key means bare {Content}: a lone system message renders as its text.
    assert render_prompt(llama, [("system", "S")]) == "S"


def test_render_without_template_and_not_ending_with_user() -> None:
    assert render_prompt(None, [("user", "a"), ("assistant", "b")]) == "ab"
    assert render_prompt(PHI, [("user", "a"), ("assistant", "b")]) == (
        "<|user|>\na<|end|><|assistant|>\nb<|end|>"
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(max_size=120) | st.sampled_from(['{"Name": "x", "Name": 1}', '{"a": [1, {"b": []}]}'])
)
def test_validate_never_raises(text: str) -> None:
    data, diags = validate_text(text)
    assert data is None or isinstance(data, dict)
    assert all(d.line >= 1 and d.col >= 1 for d in diags)


def test_deep_nesting_is_a_diagnostic() -> None:
    data, [d] = validate_text("[" * 100_000 + "]" * 100_000)
    assert data is None and d.code == "json-syntax"
