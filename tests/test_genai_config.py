"""genai_config.json checked as ONNX Runtime GenAI's src/config.cpp loads it."""

from __future__ import annotations

import json

import pytest

from tui.core.genai_config import SCHEMA, validate_text, weight_files

GOOD = {
    "model": {
        "type": "phi3",
        "context_length": 4096,
        "bos_token_id": 1,
        "eos_token_id": [32000, 32007],
        "pad_token_id": 32000,
        "vocab_size": 32064,
        "decoder": {
            "filename": "model.onnx",
            "head_size": 96,
            "hidden_size": 3072,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "num_hidden_layers": 32,
            "session_options": {
                "log_id": "onnxruntime-genai",
                "provider_options": [{"cuda": {"enable_cuda_graph": "0"}}],
                "any.ort.config.entry": "1",
            },
            "inputs": {"input_ids": "input_ids", "past_key_names": "past_key_values.%d.key"},
            "outputs": {"logits": "logits", "present_key_names": "present.%d.key"},
        },
    },
    "search": {
        "max_length": 4096,
        "do_sample": True,
        "top_k": 50,
        "top_p": 0.9,
        "temperature": 0.7,
        "past_present_share_buffer": True,
    },
}


def codes(data: object) -> list[tuple[str, str]]:
    return [(d.severity, d.code) for d in validate_text(json.dumps(data, indent=1))[1]]


def test_a_good_config_is_clean() -> None:
    assert codes(GOOD) == []
    assert weight_files(GOOD) == ["model.onnx"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"search": {"top_k": "50"}}, ("error", "wrong-type")),
        ({"search": {"beam": 2}}, ("error", "unknown-key")),  # search is read, strictly
        ({"search": {"num_beams": 1.5}}, ("error", "wrong-type")),
        ({"search": {"top_p": 1.5}}, ("warning", "out-of-range")),
        ({"extra": {}}, ("error", "unknown-key")),
        ({"model": {"type": "phi3", "context_length": 0}}, ("error", "out-of-range")),
        ({"model": {"type": "phi3"}}, ("error", "missing-key")),
        ({"model": {"type": "llama9", "context_length": 8}}, ("warning", "unknown-model-type")),
        (
            {"model": {"type": "phi3", "context_length": 8, "decoder": {"filename": "../x.onnx"}}},
            ("error", "path"),
        ),
        (
            {"model": {"type": "phi3", "context_length": 8, "decoder": {"head_size": None}}},
            ("error", "wrong-type"),
        ),
        (
            {"model": {"type": "phi3", "context_length": 8, "decoder": {"inputs": {"ids": "x"}}}},
            ("error", "unknown-key"),
        ),
    ],
)
def test_what_the_loader_rejects(patch: dict[str, object], expected: tuple[str, str]) -> None:
    data = {**GOOD, **patch}
    assert expected in codes(data)


def test_scalars_at_the_top_are_ignored_as_there() -> None:
    assert codes({**GOOD, "comment": "x"}) == []


def test_positions_point_at_the_key() -> None:
    text = '{"model": {"type": "phi3", "context_length": 8},\n "search": {"topk": 4}}'
    [d] = validate_text(text)[1]
    assert (d.line, d.col, d.code) == (2, 13, "unknown-key")
    assert "$.search.topk" in d.message


def test_every_element_reached_is_known() -> None:
    for el in SCHEMA.values():
        for target in [*el.objects.values(), *el.arrays.values(), el.objects_any, el.arrays_any]:
            assert target is None or target in SCHEMA
