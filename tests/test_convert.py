"""Conversion by rendering: Modelfile TEMPLATE ⇄ PromptTemplate, ``slmdeck convert``, the Editor's
ctrl+t. The reference is always the engine: what Ollama renders for a TEMPLATE."""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import REACHABLE
from tests.waiting import until
from tui.app import make_app
from tui.commands import convert as convert_cmd
from tui.config import Config
from tui.core.chat_formats import FORMATS, new_modelfile
from tui.core.convert import (
    CHECKS,
    convert_document,
    inference_model_to_modelfile,
    modelfile_to_inference_model,
    prompt_template_to_go,
    template_to_prompt_template,
)
from tui.core.inference_model import validate_text
from tui.core.modelfile import parse, render_modelfile, to_create_fields
from tui.core.ollama_prompt import render_prompt
from tui.core.prompt_template import render_prompt as render_pt
from tui.screens.editor import EditorScreen
from tui.widgets.confirm import ConfirmDialog

GOLDEN = Path(__file__).parent / "golden"
SAMPLES = {
    "user": [("user", "Hello, how are you?")],
    "user-assistant-user": [
        ("user", "Hello, how are you?"),
        ("assistant", "I'm doing great. How can I help you today?"),
        ("user", "I'd like to show off how chat templating works!"),
    ],
    "system-user-assistant-user": [
        ("system", "You are a helpful assistant."),
        ("user", "Hello, how are you?"),
        ("assistant", "I'm doing great. How can I help you today?"),
        ("user", "I'd like to show off how chat templating works!"),
    ],
}

# Our own test templates (not Ollama's files): a Llama 3 fine-tune written with Phi-style
# markers, a legacy System/Prompt/Response template, and one in the messages form with a
# per-role switch.
FINE_TUNE = (
    "{{- if .System }}\n\t<|system|>\n\t{{ .System }}\n\t{{- end }}\n"
    "\t<|user|>\n\t{{ .Prompt }}\n\t<|assistant|>\n"
)
LEGACY = (
    "{{ if .System }}### System:\n{{ .System }}\n\n{{ end }}### User:\n{{ .Prompt }}\n\n### Bot:\n"
)
SWITCH = (
    "{{- range $i, $m := .Messages }}"
    '{{- if eq .Role "system" }}<sys>{{ .Content }}</sys>\n'
    '{{- else if eq .Role "user" }}[U] {{ .Content }}\n'
    "{{- else }}[A] {{ .Content }}<eos>\n{{ end }}"
    "{{- end }}[A] "
)
OWN = {"fine-tune": FINE_TUNE, "legacy": LEGACY, "switch": SWITCH}


def ollama(template: str, turns: list[tuple[str, str]]) -> str:
    return render_prompt(template, [{"role": r, "content": c} for r, c in turns])


def today() -> datetime.date:
    return datetime.date(2024, 7, 26)


# -- TEMPLATE -> PromptTemplate ----------------------------------------------------------------


@pytest.mark.parametrize("fid", ["chatml", "llama3", "phi"])
def test_stock_templates_convert_to_their_prompt_template(fid: str) -> None:
    pt, lost = template_to_prompt_template(FORMATS[fid].template)
    assert lost == []
    assert pt == FORMATS[fid].prompt_template


def test_what_a_prompt_template_cannot_say_is_listed() -> None:
    # Gemma folds the system text into the first user turn.
    pt, lost = template_to_prompt_template(FORMATS["gemma"].template)
    assert pt is not None
    assert lost and all(line.startswith("TEMPLATE: for a conversation of system") for line in lost)
    assert render_pt(pt, SAMPLES["user-assistant-user"]) == ollama(
        FORMATS["gemma"].template, SAMPLES["user-assistant-user"]
    )


@pytest.mark.parametrize("name", sorted(OWN))
def test_any_expressible_template_converts_exactly(name: str) -> None:
    pt, lost = template_to_prompt_template(OWN[name])
    assert pt is not None and lost == []
    for turns in [*SAMPLES.values(), *CHECKS.values()]:
        assert render_pt(pt, turns) == ollama(OWN[name], turns)


def test_a_llama3_fine_tune_with_phi_markers_is_not_taken_for_phi() -> None:
    mf = render_modelfile("./llama3-8B.gguf", template=FINE_TUNE)
    result = modelfile_to_inference_model(mf)
    assert result.data is not None
    pt = result.data["PromptTemplate"]
    assert "<|end|>" not in "".join(pt.values())
    assert not [line for line in result.lost if line.startswith("TEMPLATE")]


def test_llama32_template_lists_what_is_lost() -> None:
    template = (GOLDEN / "templates" / "llama3.2.gotmpl").read_text()
    result = modelfile_to_inference_model(
        render_modelfile("llama3.2", template=template), today=today
    )
    for needle in (".Tools", ".ToolCalls", "role tool"):
        assert any(needle in line for line in result.lost), needle
    assert result.data is not None and result.data["PromptTemplate"] is not None


def test_a_template_that_does_not_run_gives_null() -> None:
    pt, lost = template_to_prompt_template("{{ .Messages | index 7 }}")
    assert pt is None and "does not run" in lost[0]
    result = modelfile_to_inference_model("FROM x\n")
    assert result.data == {"Name": "x", "PromptTemplate": None}


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
    heads = [line.split(":")[0] for line in result.lost]
    assert heads == [
        "FROM ./model.gguf",
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
    assert [d.severity for d in validate_text(result.text)[1]] == ["info"]  # ModelConfig


# -- PromptTemplate -> TEMPLATE ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["llama-3.2", "phi-4-mini-catalog", "course-qwen"])
def test_foundry_templates_become_go_templates_that_render_alike(name: str) -> None:
    data = json.loads((GOLDEN / "foundry" / f"{name}.inference_model.json").read_text())
    result = inference_model_to_modelfile(data, "./w.gguf")
    template = parse(result.text).template
    assert template is not None
    for turns in [*SAMPLES.values(), *CHECKS.values()]:
        assert ollama(template, turns) == render_pt(data["PromptTemplate"], turns)


@pytest.mark.parametrize(
    ("name", "source"), [("llama-3.2", "./llama-3.2.gguf"), ("phi-4-mini-catalog", "phi4-mini")]
)
def test_converted_modelfiles_are_pinned(name: str, source: str) -> None:
    data = json.loads((GOLDEN / "foundry" / f"{name}.inference_model.json").read_text())
    result = inference_model_to_modelfile(data, source)
    assert result.text == (GOLDEN / "converted" / f"{name}.Modelfile").read_text()
    assert result.lost == []


def test_stop_words_and_model_config() -> None:
    data = json.loads((GOLDEN / "foundry" / "course-qwen.inference_model.json").read_text())
    data["ModelConfig"].update({"top_k": 40.0, "do_sample": False, "random_seed": "x"})
    result = inference_model_to_modelfile(data, "qwen2.5:0.5b")
    params = to_create_fields(parse(result.text)).parameters
    assert params == {
        "stop": ["<|im_end|>"],
        "temperature": 0.7,
        "top_p": 0.9,
        "repeat_penalty": 1.1,
        "top_k": 40,
    }
    assert [line.split(":")[0] for line in result.lost] == [
        "ModelConfig.max_length 2048",
        "ModelConfig.do_sample false",
        'ModelConfig.random_seed "x"',
    ]
    llama = json.loads((GOLDEN / "foundry" / "llama-3.2.inference_model.json").read_text())
    assert to_create_fields(parse(inference_model_to_modelfile(llama).text)).parameters == {
        "stop": ["<|eot_id|>"]
    }


def test_null_prompt_template_writes_no_template() -> None:
    result = inference_model_to_modelfile({"Name": "x", "PromptTemplate": None}, "x")
    assert parse(result.text).template is None
    assert result.lost[0].startswith("PromptTemplate is null")


KEY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
ALTERNATING = [("system", "s"), ("user", "u"), ("assistant", "a"), ("tool", "t"), ("user", "v")]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["system", "user", "assistant", "prompt"]),
        KEY_TEXT.map(lambda s: s + "{Content}") | KEY_TEXT,
    )
)
# Found by hypothesis: the renderer split at a NUL it had put for {Content}, so an assistant
# header that was a NUL looked like none.
@example({"prompt": "0{Content}", "system": "{Content}", "assistant": "\x00{Content}"})
def test_any_prompt_template_renders_alike_through_the_go_template(pt: dict[str, str]) -> None:
    template = prompt_template_to_go(pt)
    for turns in [ALTERNATING, *CHECKS.values()]:
        assert ollama(template, turns) == render_pt(pt, turns)


# -- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["chatml", "llama3", "phi", *sorted(OWN)])
def test_round_trip_renders_the_same_prompt(name: str) -> None:
    template = OWN.get(name) or FORMATS[name].template
    there = convert_document("modelfile", render_modelfile("base", template=template))
    back = convert_document("inference-model", there.text, from_="base")
    template_back = parse(back.text).template
    assert template_back is not None
    for turns in SAMPLES.values():
        assert ollama(template_back, turns) == ollama(template, turns)


# -- slmdeck convert ---------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="slmdeck")
    convert_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["convert", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_converts_and_lists_losses(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "Modelfile.chat"
    src.write_text(new_modelfile("chatml", "qwen2.5:0.5b"))
    code, out, err = run(capsys, str(src))
    assert code == 0
    assert json.loads(out)["PromptTemplate"] == FORMATS["chatml"].prompt_template
    assert err.splitlines()[0].startswith("lost: FROM qwen2.5:0.5b")

    target = tmp_path / "inference_model.json"
    target.write_text("keep me")
    code, out, err = run(capsys, str(src), "-o", str(target))
    assert code == 2 and "use --force" in err and target.read_text() == "keep me"
    code, out, err = run(capsys, str(src), "-o", str(target), "--force")
    assert code == 0 and out == "" and err.splitlines()[-1] == f"wrote {target}"
    assert validate_text(target.read_text())[1] == []

    back = tmp_path / "back.Modelfile"
    code, _out, err = run(capsys, str(target), "-o", str(back), "--from", "qwen2.5:0.5b")
    assert code == 0 and parse(back.read_text()).from_ == "qwen2.5:0.5b"


def test_cli_refuses_what_it_cannot_convert(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    genai = tmp_path / "genai_config.json"
    genai.write_text('{"model": {"type": "phi3"}}')
    assert run(capsys, str(genai))[0] == 2
    broken = tmp_path / "inference_model.json"
    broken.write_text("{")
    code, _out, err = run(capsys, str(broken))
    assert code == 1 and "cannot convert" in err


# -- the Editor --------------------------------------------------------------------------------


async def test_editor_converts_into_a_new_document_after_listing_losses(
    tmp_path: Path,
) -> None:
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[tmp_path / "none"],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    app = make_app(cfg, start_screen="editor")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, EditorScreen)
        await screen.store_ready.wait()
        await screen.load_document(screen.doc, new_modelfile("llama3", "llama3.2"), saved=False)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the losses")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and "PARAMETER stop" in dialog.message
        await pilot.press("y")
        await until(pilot, lambda: screen.doc.kind == "inference-model", "the new document")
        data, diags = validate_text(screen.editor.text)
        assert diags == [] and data is not None
        assert data["PromptTemplate"] == FORMATS["llama3"].prompt_template
        assert screen.dirty and screen.doc.path is None
        # And back: a Modelfile whose TEMPLATE renders the same prompt.
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the losses back")
        await pilot.press("y")
        await until(pilot, lambda: screen.doc.kind == "modelfile", "the Modelfile")
        template = parse(screen.editor.text).template
        assert template is not None
        turns = SAMPLES["system-user-assistant-user"]
        assert ollama(template, turns) == ollama(FORMATS["llama3"].template, turns)
