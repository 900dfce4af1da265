"""Rendering conversations the way Ollama does (template.go Execute, server/prompt.go, routes.go)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tui.core.gotemplate import TemplateError
from tui.core.ollama_prompt import (
    chat_messages,
    check_template,
    collate,
    render_prompt,
    template_references,
)

CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
LEGACY = "{{ if .System }}S:{{ .System }}\n{{ end }}U:{{ .Prompt }}\nA:{{ .Response }}\n"

SYS = {"role": "system", "content": "Be brief."}
U1 = {"role": "user", "content": "Hi"}
A1 = {"role": "assistant", "content": "Hello!"}
U2 = {"role": "user", "content": "Bye"}


def test_messages_form() -> None:
    assert render_prompt(CHATML, [SYS, U1, A1, U2]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_modelfile_system_and_history() -> None:
    history = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "R"}]
    out = render_prompt(
        "{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}",
        [U2],
        system="SYS",
        history=history,
    )
    assert out == "[system:SYS][user:Q][assistant:R][user:Bye]"
    # a request that brings its own system message keeps it, and the Modelfile SYSTEM is dropped
    assert chat_messages([SYS, U1], system="SYS") == [SYS, U1]
    assert chat_messages([], system="SYS") == []


def test_system_field_joins_all_system_messages() -> None:
    out = render_prompt(
        "{{ .System }}|{{ len .Messages }}", [SYS, U1, {"role": "system", "content": "Two."}]
    )
    assert out == "Be brief.\n\nTwo.|3"


def test_consecutive_same_role_messages_merge() -> None:
    system, msgs = collate(
        [U1, U2, {"role": "tool", "content": "a"}, {"role": "tool", "content": "b"}]
    )
    assert system == ""
    assert [m["content"] for m in msgs] == ["Hi\n\nBye", "a", "b"]


def test_legacy_form_runs_once_per_round_and_cuts_at_response() -> None:
    assert render_prompt(LEGACY, [SYS, U1, A1, U2]) == "S:Be brief.\nU:Hi\nA:Hello!\nU:Bye\nA:"


def test_legacy_template_without_response_gets_one_appended() -> None:
    # Ollama's Vars() sees the appended {{ .Response }} too
    assert template_references("{{ .System }} {{ .Prompt }}") == {"system", "prompt", "response"}
    assert render_prompt("{{ .System }} {{ .Prompt }}", [U1, A1, U2]) == " HiHello! Bye"
    assert render_prompt("{{ .System }} {{ .Prompt }}", [U1], system="S") == "S Hi"


def test_legacy_unknown_field_is_false_and_warned() -> None:
    text = "{{ if .First }}FIRST{{ end }}{{ .Prompt }}"
    assert render_prompt(text, [U1]) == "Hi"
    problems = check_template(text)
    assert [(p.line, p.col, p.severity, p.code) for p in problems] == [
        (1, 7, "warning", "template-unknown-field")
    ]
    assert ".First" in problems[0].message


def test_prompt_is_not_passed_to_messages_templates() -> None:
    text = "{{ range .Messages }}{{ .Content }}{{ end }}{{ .Prompt }}"
    assert render_prompt(text, [U1]) == "Hi<no value>"
    assert [p.code for p in check_template(text)] == ["template-unknown-field"]


def test_unknown_message_field_is_an_error() -> None:
    text = "{{ range .Messages }}\n{{ .Name }}{{ end }}"
    problems = check_template(text)
    assert [(p.line, p.col, p.severity) for p in problems] == [(2, 4, "error")]
    with pytest.raises(TemplateError) as info:
        render_prompt(text, [U1])
    assert "can't evaluate field Name in type *template.templateMessage" in str(info.value)


def test_check_reports_parse_errors_at_go_line() -> None:
    problems = check_template("{{ range .Messages }}\n{{ .Content }}\n")
    assert [(p.line, p.severity, p.message) for p in problems] == [
        (3, "error", "template: :3: unexpected EOF")
    ]


def test_check_follows_variables_and_nested_tool_types() -> None:
    text = (
        "{{ range $i, $m := .Messages }}{{ $m.Role }}{{ range $m.ToolCalls }}"
        "{{ .Function.Name }}{{ .Function.Argz }}{{ end }}{{ end }}"
        "{{ range .Tools }}{{ .Function.Parameters.Type }}{{ end }}"
    )
    problems = check_template(text)
    assert [(p.severity, p.code) for p in problems] == [("error", "template-struct-field")]
    assert "Argz" in problems[0].message


def test_tools_are_only_passed_to_messages_templates() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert render_prompt("{{ .Tools }}{{ .Prompt }}", [U1], tools=tools) == "<no value>Hi"


def test_tools_render_as_ollama_json() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Get <weather>",
                "parameters": {
                    "type": "object",
                    "required": ["city"],
                    "properties": {
                        "unit": {"type": "string", "enum": ["c", "f"]},
                        "city": {"type": "string", "description": "City"},
                    },
                },
            },
        }
    ]
    text = (
        "{{ range .Messages }}{{ end }}{{ range .Tools }}{{ . }}\n{{ .Function.Name }}"
        "{{ range $k, $v := .Function.Parameters.Properties }} {{ $k }}:{{ $v.Type }}{{ end }}{{ end }}"
    )
    assert render_prompt(text, [U1], tools=tools) == (
        '{"type":"function","function":{"name":"weather","description":"Get \\u003cweather\\u003e",'
        '"parameters":{"type":"object","required":["city"],"properties":{'
        '"city":{"type":"string","description":"City"},"unit":{"type":"string","enum":["c","f"]}}}}}\n'
        "weather city:string unit:string"
    )
    assert render_prompt("{{ if .Tools }}T{{ else }}none{{ end }}", [U1]) == "none"


def test_tool_calls_and_ts_types() -> None:
    call = {"function": {"name": "f", "arguments": {"b": 2, "a": "x"}}}
    msgs: list[dict[str, Any]] = [U1, {"role": "assistant", "content": "", "tool_calls": [call]}]
    text = "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Name }}{{ .Function.Arguments }}{{ end }}{{ end }}"
    assert render_prompt(text, msgs) == 'f{"a":"x","b":2}'
    tools = [
        {
            "type": "function",
            "function": {
                "name": "g",
                "parameters": {
                    "type": "object",
                    "properties": {"n": {"type": ["integer", "null"]}, "s": {"type": "string"}},
                },
            },
        }
    ]
    text = "{{ range .Messages }}{{ end }}{{ range .Tools }}{{ range $k, $v := .Function.Parameters.Properties }}{{ $k }}: {{ toTypeScriptType $v }};{{ end }}{{ end }}"
    assert render_prompt(text, [U1], tools=tools) == "n: number | null;s: string;"


def test_think_values() -> None:
    text = "{{ .Think }}/{{ .ThinkLevel }}/{{ .IsThinkSet }}{{ range .Messages }}{{ end }}"
    assert render_prompt(text, [U1]) == "false//false"
    assert render_prompt(text, [U1], think=True) == "true/medium/true"
    assert render_prompt(text, [U1], think="high") == "true/high/true"
    assert render_prompt(text, [U1], think=False) == "false//true"


def test_images_are_tagged() -> None:
    msgs = [
        {"role": "user", "content": "look [img] here", "images": ["a"]},
        {"role": "user", "content": "and", "images": ["b", "c"]},
    ]
    out = render_prompt("{{ range .Messages }}{{ .Content }}|{{ end }}", msgs)
    assert out == "look [img-0] here\n\n[img-1][img-2]and|"


def test_current_date_function() -> None:
    def today() -> datetime.date:
        return datetime.date(2025, 3, 1)

    out = render_prompt(
        "{{ currentDate }} {{ yesterdayDate }}{{ range .Messages }}{{ end }}", [U1], today=today
    )
    assert out == "2025-03-01 2025-02-28"


def test_unknown_function_is_a_parse_error() -> None:
    problems = check_template("{{ range .Messages }}{{ foo .Content }}{{ end }}")
    assert problems[0].message == 'template: :1: function "foo" not defined'


def test_references_are_lowercased_identifiers_including_variables() -> None:
    text = "{{ range $m := .Messages }}{{ if eq $m.Role .ToolName }}{{ end }}{{ end }}"
    assert template_references(text) == {"messages", "$m", "role", "toolname"}


def test_template_call_without_pipeline_is_rejected_like_ollama() -> None:
    text = '{{ define "x" }}X{{ end }}{{ range .Messages }}{{ end }}\n{{ template "x" }}'
    problems = check_template(text)
    assert [(p.line, p.col, p.message) for p in problems] == [
        (2, 13, "undefined template specified")
    ]
