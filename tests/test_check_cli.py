"""``slmdeck check``: compiler-style output and exit codes, on real files."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tui.commands import check

GOLDEN = Path(__file__).parent / "golden"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="slmdeck")
    check.register(parser.add_subparsers())
    args = parser.parse_args(["check", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_files_exit_zero_silently(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        str(GOLDEN / "modelfiles" / "mario.Modelfile"),
        str(GOLDEN / "foundry" / "llama-3.2.inference_model.json"),
    )
    assert (code, out, err) == (0, "", "")


def test_errors_print_path_line_col(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "Modelfile"
    bad.write_text("FROM x\nPARAMETER temperature hot\nPARAMETER mirostat 1\n")
    code, out, _err = run(capsys, str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"{bad}:2:23: error: invalid float value [hot]",
        f"{bad}:3:11: warning: parameter mirostat is deprecated; Ollama ignores it",
    ]


def test_warnings_alone_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    course = tmp_path / "inference_model.json"
    course.write_text('{"Name": "x", "PromptTemplate": null, "Extra": 1}')
    code, out, _err = run(capsys, str(course))
    assert code == 0
    assert out == f"{course}:1:39: warning: $.Extra: unknown key; the runtime ignores it\n"


def test_json_error_position(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "m.json"
    f.write_text('{\n  "Name": "x",\n}\n')
    code, out, _err = run(capsys, str(f))
    assert code == 1
    assert out.startswith(f"{f}:3:1: error: invalid JSON:")


def test_kind_from_name_and_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert check.kind_from_name("x/Modelfile") == "modelfile"
    assert check.kind_from_name("qwen.Modelfile") == "modelfile"
    assert check.kind_from_name("a.modelfile") == "modelfile"
    assert check.kind_from_name("inference_model.json") == "inference-model"
    assert check.kind_from_name("notes.txt") is None
    f = tmp_path / "mario.txt"
    f.write_text("FROM x\nSYSTEM hi\n")
    code, _out, err = run(capsys, str(f))
    assert code == 2 and "use --kind modelfile, inference-model or genai-config" in err
    assert run(capsys, "--kind", "modelfile", str(f))[0] == 0
    code, _out, err = run(capsys, "--kind", "yaml", str(f))
    assert code == 2 and "unknown kind 'yaml'" in err


def test_unreadable_files_exit_two(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "Modelfile"
    bad.write_text("FROM x\nBOGUS\n")
    code, out, err = run(capsys, str(tmp_path / "missing.Modelfile"), str(bad))
    assert code == 2
    assert err == f"{tmp_path / 'missing.Modelfile'}: no such file\n"
    assert out.startswith(f"{bad}:2:1: error: unknown instruction 'BOGUS'")
    code, _out, err = run(capsys, "--kind", "modelfile", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_non_utf8_json_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "inference_model.json"
    f.write_bytes(b'{"Name": "\xff"}')
    code, out, _err = run(capsys, str(f))
    assert code == 1 and out.startswith(f"{f}:1:11: error: not UTF-8 text")


def test_utf16_modelfile(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "Modelfile"
    f.write_bytes("FROM x\nPARAMETER top_k 4\n".encode("utf-16"))
    assert run(capsys, str(f)) == (0, "", "")


def test_bytes_that_are_not_utf8_are_a_warning_at_their_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "Modelfile"
    bad.write_bytes(b"FROM x\nSYSTEM caf\xe9 \xff\n")
    code, out, _err = run(capsys, str(bad))
    assert code == 0  # Ollama accepts it (reads U+FFFD): a warning, not an error
    [line] = out.splitlines()
    assert line.startswith(f"{bad}:2:11: warning: byte 0xE9 is not UTF-8 (and 1 more)")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Modelfile.financial", "modelfile"),
        ("xModelfile", "modelfile"),
        ("models/llama.modelfile", "modelfile"),
        ("genai_config.json", "genai-config"),
        ("Modelfile.txt.bak", "modelfile"),
        ("modelfiles.md", None),
    ],
)
def test_kind_from_real_world_names(name: str, kind: str | None) -> None:
    assert check.kind_from_name(name) == kind


def test_json_kind_from_content(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    genai = tmp_path / "phi.json"
    genai.write_text('{"model": {"type": "phi3", "context_length": 4096}}')
    im = tmp_path / "other.json"
    im.write_text('{"Name": "x", "PromptTemplate": null}')
    assert check.kind_of(str(genai), genai.read_text()) == "genai-config"
    assert check.kind_of(str(im), im.read_text()) == "inference-model"
    assert run(capsys, str(genai), str(im)) == (0, "", "")


def test_genai_config_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "genai_config.json"
    f.write_text(
        '{"model": {"type": "phi3", "context_length": 4096, "decoder": {"hidden_size": 1.5, '
        '"bogus": 1}},\n "search": {"top_k": "40", "temperature": 0.7}}'
    )
    code, out, _err = run(capsys, str(f))
    assert code == 1
    lines = out.splitlines()
    assert any("$.model.decoder.bogus: unknown key" in ln for ln in lines)
    assert any("$.model.decoder.hidden_size: 1.5 is not an integer" in ln for ln in lines)
    assert any(
        ":2:" in ln and "$.search.top_k: must be a number, not a string" in ln for ln in lines
    )


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "phi"
    folder.mkdir()
    (folder / "genai_config.json").write_text(
        '{"model": {"type": "phi3", "context_length": 4096, "decoder": {"filename": "model.onnx"}}}'
    )
    (folder / "inference_model.json").write_text('{"Name": "phi", "PromptTemplate": null}')
    return folder


def test_folder_is_checked_as_the_runtimes_load_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    code, out, _err = run(capsys, str(folder))
    assert code == 1
    assert f"{folder}: error: no tokenizer" in out
    assert f"{folder}: error: model.onnx is named by genai_config.json but is not" in out
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "model.onnx").write_bytes(b"onnx")
    assert run(capsys, str(folder)) == (0, "", "")
    (folder / "inference_model.json").unlink()
    code, out, _err = run(capsys, str(tmp_path))  # one level up: finds the model folder
    assert code == 1 and "no inference_model.json: Foundry Local does not list" in out
