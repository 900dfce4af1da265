"""Modelfile checks Ollama's server makes: TEMPLATE parsed as Go parses it (errors at their place in
the Modelfile), fields Ollama never passes, FROM names, and stopping after an unrecoverable error."""

from __future__ import annotations

import pytest

from tui.core.modelfile import parse, validate
from tui.core.ollama_name import name_problem
from tui.widgets.editor_preview import preview_modelfile


def found(text: str) -> list[tuple[int, int, str, str]]:
    return [(d.line, d.col, d.severity, d.code) for d in validate(parse(text))]


def test_a_template_go_would_not_parse_is_an_error_where_go_says() -> None:
    text = 'FROM x\nTEMPLATE """\n{{ if .System }}\n  {{ .System }}\n"""\n'
    [d] = validate(parse(text))
    assert (d.severity, d.code) == ("error", "template-syntax")
    assert "unexpected EOF" in d.message
    text = 'FROM x\r\nTEMPLATE """hi\r\n  {{ .Prompt | nosuch }}"""\r\n'
    [d] = validate(parse(text))
    assert (d.line, d.col) == (3, 16) and 'function "nosuch" not defined' in d.message


def test_a_field_ollama_never_passes_is_a_warning() -> None:
    text = 'FROM x\nTEMPLATE """{{ if .First }}{{ .System }}{{ end }}{{ .Prompt }}"""\n'
    assert found(text) == [(2, 19, "warning", "template-unknown-field")]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("llama3.2", True),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", True),
        ("gpt-oss:20b:cloud", True),
        ("Your phi3-mini gguf location", False),
        ("a/b.c/d", False),
        ("x:", False),
        ("-x", False),
        ("m" * 81, False),
    ],
)
def test_model_names_as_ollama_validates_them(value: str, ok: bool) -> None:
    assert (name_problem(value) is None) == ok


def test_from_names_checked_paths_left_alone() -> None:
    assert found("FROM Your phi3-mini gguf location\n") == [(1, 6, "error", "invalid-model-name")]
    assert found('FROM "C:\\Users\\me\\my model.gguf"\n') == []
    assert found("FROM ./my model.gguf\n") == []


def test_nothing_is_reported_after_an_unrecoverable_error() -> None:
    text = (
        "FROM llama2\nPARAMETER top_k 50\n"
        'SYSTEM"""\nSimulate the personality of a computer.\n  Provide answers.\n"""\n'
    )
    assert found(text) == [(3, 1, "error", "syntax")]
    # A line-scoped error is not: what follows is still read as Ollama would after fixing it.
    assert found("FROM x\nBOGUS 1\nPARAMETER top_k nope\n") == [
        (2, 1, "error", "unknown-instruction"),
        (3, 17, "error", "invalid-value"),
    ]


def test_preview_runs_every_template_exactly() -> None:
    text = (
        'FROM x\nTEMPLATE """{{ if .System }}<<{{ .System }}>>{{ end }}Q: {{ .Prompt }}\nA: """\n'
        'SYSTEM "Be terse."\nPARAMETER stop "Q:"\n'
    )
    preview = preview_modelfile(text)
    assert preview.exact and preview.stop == ("Q:",)
    assert preview.prompt is not None and preview.prompt.startswith("<<Be terse.>>Q: Hello!")
    assert preview.prompt.endswith("Q: What is 2 + 2?\nA: ")
    assert '"Q:"' in preview.note
    broken = preview_modelfile('FROM x\nTEMPLATE "{{ .Messages | index 9 }}"\n')
    assert broken.prompt is None and "could not use" in broken.note
