"""``slmdeck fit`` through run(Namespace): catalog names, GGUF files, ONNX folders and failures.

Free RAM and VRAM are read live, so these tests check what does not depend on them: the variants,
their memory arithmetic and the exit codes. ``--bandwidth`` skips the bandwidth measurement.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tests.test_gguf_info import _genai_folder, write_gguf
from tui.commands import fit
from tui.core.catalog import load_catalog
from tui.core.quant import ArchDims, Variant


def _args(model: str, **kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"ctx": 4096, "kv_cache": "f16", "bandwidth": 50.0, "json": False}
    base.update(kw)
    return argparse.Namespace(model=model, **base)


def _json(capsys: pytest.CaptureFixture[str], args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    assert fit.run(args, catalog=load_catalog()) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_register_parses_options() -> None:
    parser = argparse.ArgumentParser(prog="slmdeck")
    fit.register(parser.add_subparsers())
    args = parser.parse_args(["fit", "qwen2.5:3b", "--ctx", "8192", "--kv-cache", "q8_0", "--json"])
    assert (args.model, args.ctx, args.kv_cache, args.json, args.bandwidth) == (
        "qwen2.5:3b",
        8192,
        "q8_0",
        True,
        None,
    )
    assert args.func is fit.run
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "x", "--kv-cache", "q5_1"])


def test_catalog_model_json(capsys: pytest.CaptureFixture[str]) -> None:
    report = _json(capsys, _args("qwen2.5:3b", json=True))
    assert report["model"] == "qwen2.5:3b" and report["kind"] == "catalog"
    assert report["dims"]["n_layers"] == 36 and report["ctx"] == 4096
    variants = report["variants"]
    assert len(variants) == 15
    assert [v["bpw"] for v in variants] == sorted((v["bpw"] for v in variants), reverse=True)
    q4 = next(v for v in variants if v["tag"] == "qwen2.5:3b-instruct-q4_K_M")
    # KV: 2 x 36 layers x 4096 x 2 kv heads x 128 = 75,497,472 elements x 2 bytes = 150,994,944
    assert q4["memory"]["kv_cache"] == 150_994_944
    assert q4["memory"]["weights"] == 1_888_762_500 and q4["size_estimated"] is True
    assert q4["memory"]["total"] == sum(
        q4["memory"][k] for k in ("weights", "kv_cache", "overhead")
    )
    assert sum(v["best"] for v in variants) <= 1
    assert "Perfect" in report["thresholds"]


def test_kv_type_changes_memory(capsys: pytest.CaptureFixture[str]) -> None:
    f16 = _json(capsys, _args("llama3.2:3b", json=True))["variants"][0]["memory"]["kv_cache"]
    q4 = _json(capsys, _args("llama3.2:3b", json=True, kv_cache="q4_0"))["variants"][0]
    assert f16 == 469_762_048 and q4["memory"]["kv_cache"] == 132_120_576


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert fit.run(_args("gemma3:1b"), catalog=load_catalog()) == 0
    out = capsys.readouterr().out
    assert "gemma3:1b (catalog)" in out and "22 sliding layers (window 512)" in out
    header = next(line for line in out.splitlines() if "TAG" in line)
    for column in ("QUANT", "BPW", "SIZE", "MEMORY", "FIT", "WHERE", "TOK/S MAX", "INSTALLED"):
        assert column in header
    assert "gemma3:1b-it-q8_0" in out and "~" in out  # estimated sizes are marked
    assert "not yet calibrated" in out


def test_beyond_trained_context_is_noted(capsys: pytest.CaptureFixture[str]) -> None:
    assert fit.run(_args("qwen2.5:0.5b", ctx=65536), catalog=load_catalog()) == 0
    assert "beyond the model's trained context of 32768" in capsys.readouterr().out


def test_gguf_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_gguf(tmp_path / "small.gguf")
    report = _json(capsys, _args(str(path), json=True, ctx=128))
    assert report["kind"] == "gguf"
    (v,) = report["variants"]
    assert v["tag"] == "small.gguf" and v["quant"] == "Q8_0" and v["installed"] is True
    assert v["file_size"] == 8192 + 4352 + 128 and v["size_estimated"] is False
    assert v["bpw"] == pytest.approx((8192 + 4352 + 128) * 8 / (2048 + 4096 + 64))
    assert v["memory"]["kv_cache"] == 32_768


def test_onnx_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _genai_folder(tmp_path)
    report = _json(capsys, _args(str(folder), json=True))
    (v,) = report["variants"]
    assert report["kind"] == "onnx" and v["quant"] == "int4" and v["file_size"] == 26_000
    assert any("max_length = 4096" in n for n in report["notes"])


def test_unknown_model_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert fit.run(_args("no-such-model:9b"), catalog=load_catalog()) == 2
    captured = capsys.readouterr()
    assert "no-such-model:9b is not in the offline catalog" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(write_gguf(tmp_path / "ok.gguf").read_bytes()[:100])
    assert fit.run(_args(str(broken)), catalog=load_catalog()) == 2
    assert "damaged or truncated" in capsys.readouterr().err
    assert fit.run(_args(str(tmp_path / "missing.gguf")), catalog=load_catalog()) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    assert fit.run(_args(str(empty)), catalog=load_catalog()) == 2
    assert "has no genai_config.json" in capsys.readouterr().err
    assert fit.run(_args("qwen2.5:3b", ctx=0), catalog=load_catalog()) == 2
    assert "--ctx must be a positive number" in capsys.readouterr().err


def test_extra_sources_come_before_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    dims = ArchDims("llama", 2, 64, 4, 2, 16, 16, 128, 32, 1000)

    def installed(name: str) -> fit.ResolvedModel | None:
        if name != "qwen2.5:3b":
            return None
        return fit.ResolvedModel(name, "ollama", dims, (Variant(name, "Q4_K_M", 4.89, 5000, True),))

    assert fit.run(_args("qwen2.5:3b", json=True, ctx=128), extra_sources=[installed]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "ollama" and report["variants"][0]["installed"] is True
    resolved = fit.resolve_dims("qwen2.5:7b", [installed], catalog=load_catalog())
    assert resolved.kind == "catalog"
    marked = fit.resolve_dims("qwen2.5:7b", catalog=load_catalog(), installed_tags=["qwen2.5:7b"])
    assert [v.tag for v in marked.variants if v.installed] == ["qwen2.5:7b-instruct-q4_K_M"]
