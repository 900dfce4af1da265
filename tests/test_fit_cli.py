"""``slmdeck fit``: catalog names, GGUF files, ONNX folders, installed models and failures.

Free RAM and VRAM are read live, so these tests check what does not depend on them: the variants,
their memory arithmetic and the exit codes. ``--bandwidth`` skips the bandwidth measurement.
Installed models come from the real backends: Ollama is the loopback replay server, ONNX folders
are the committed tiny model copied into a model dir.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import TINY_ONNX, closed_port
from tests.metrics_server import MetricsServer
from tests.ollama_replay import ReplayServer, start_replay_server
from tests.prometheus_server import NODE_EXPORTER, Process, have, missing_reason
from tests.test_gguf_info import _genai_folder, write_gguf
from tui import cli
from tui.commands import fit
from tui.core.catalog import CatalogError, default_catalog, load_catalog, parse_catalog
from tui.core.fit import ResolvedModel, resolve_dims
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
    assert "llama.cpp overhead (fitted to measured RSS after a prompt of up to 512 tokens)" in out
    assert "not calibrated" not in out


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


def test_onnx_folder_without_weights_is_no_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _genai_folder(tmp_path)
    (folder / "model.onnx").unlink()
    (folder / "model.onnx.data").unlink()
    assert fit.run(_args(str(folder))) == 2
    captured = capsys.readouterr()
    assert "holds no weights" in captured.err and "nothing to fit" in captured.err
    assert "Perfect" not in captured.out


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

    def installed(name: str) -> ResolvedModel | None:
        if name != "qwen2.5:3b":
            return None
        return ResolvedModel(name, "ollama", dims, (Variant(name, "Q4_K_M", 4.89, 5000, True),))

    assert fit.run(_args("qwen2.5:3b", json=True, ctx=128), extra_sources=[installed]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "ollama" and report["variants"][0]["installed"] is True
    resolved = resolve_dims("qwen2.5:7b", [installed], catalog=load_catalog())
    assert resolved.kind == "catalog"
    marked = resolve_dims("qwen2.5:7b", catalog=load_catalog(), installed_tags=["qwen2.5:7b"])
    assert [v.tag for v in marked.variants if v.installed] == ["qwen2.5:7b-instruct-q4_K_M"]


# ------------------------------------------------------------------------------ installed models


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
    with start_replay_server() as srv:
        monkeypatch.setenv("OLLAMA_HOST", srv.host_port)
        yield srv


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert cli.main(["fit", *argv, "--json", "--bandwidth", "50"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_installed_ollama_model_from_show(
    replay: ReplayServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # "llama3.2" is installed as llama3.2:latest; its size label (3B) finds the catalog entry.
    report = _cli_json(capsys, "llama3.2")
    assert report["kind"] == "ollama" and report["model"] == "llama3.2:3b"
    d = report["dims"]
    assert (d["n_layers"], d["n_kv_heads"], d["head_dim_k"], d["source"]) == (28, 8, 128, "ollama")
    assert d["n_params"] == 3212749888  # general.parameter_count from /api/show
    shows = [r.body for r in replay.requests if r.path == "/api/show"]
    assert shows == [{"model": "llama3.2:latest"}]
    installed = [v for v in report["variants"] if v["installed"]]
    assert [v["tag"] for v in installed] == ["llama3.2:3b-instruct-q4_K_M"]
    (q4,) = installed
    assert q4["file_size"] == 2019393189 and q4["size_estimated"] is False  # /api/tags' size
    assert q4["memory"]["kv_cache"] == 2 * 28 * 4096 * 8 * 128 * 2
    assert report["engine"] == "llama.cpp" and report["ctx"] == 4096
    assert any("/api/show" in n for n in report["notes"])


def test_installed_ollama_model_the_catalog_does_not_know(
    replay: ReplayServer, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = fit.OllamaSource(replay.host_port, catalog=lambda: parse_catalog({}))
    args = _args("qwen2.5:0.5b", json=True, ctx=1024)
    assert fit.run(args, extra_sources=[empty], catalog=parse_catalog({})) == 0
    report = json.loads(capsys.readouterr().out)
    (v,) = report["variants"]
    assert v["tag"] == "qwen2.5:0.5b" and v["installed"] and v["quant"] == "Q4_K_M"
    assert v["bpw"] == pytest.approx(397821319 * 8 / 494032768)  # size x 8 / parameters
    # qwen2: 24 layers, 2 kv heads, no key_length: head dim 896 / 14 = 64.
    assert v["memory"]["kv_cache"] == 2 * 24 * 1024 * 2 * 64 * 2
    assert any("only the installed variant" in n for n in report["notes"])


def test_name_not_installed_falls_back_to_the_catalog(
    replay: ReplayServer, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _cli_json(capsys, "qwen2.5:7b")
    assert report["kind"] == "catalog" and not any(v["installed"] for v in report["variants"])
    assert [r.path for r in replay.requests if r.path.startswith("/api/")] == ["/api/tags"]


def test_ollama_down_and_unknown_name_says_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fit", "my-model:1b", "--bandwidth", "50"]) == 2
    err = capsys.readouterr().err
    assert "my-model:1b is not in the offline catalog" in err
    assert "installed Ollama models were not checked" in err and "is not running" in err
    assert "Traceback" not in err


def test_installed_onnx_model_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    shutil.copytree(TINY_ONNX, models / "tiny-llama-onnx-int4")
    monkeypatch.setenv("SLMDECK_MODEL_DIRS", str(models))
    # inference_model.json names it "tiny-llama", as the Models screen lists it.
    report = _cli_json(capsys, "tiny-llama")
    assert report["kind"] == "onnx" and report["engine"] == "onnxruntime-genai"
    assert report["ctx"] == 256  # search.max_length, what GenAI allocates its cache for
    installed = [v for v in report["variants"] if v["installed"]]
    assert [(v["tag"], v["quant"]) for v in installed] == [("tiny-llama", "int4")]
    files = models / "tiny-llama-onnx-int4"
    weights = (files / "model.onnx").stat().st_size + (files / "model.onnx.data").stat().st_size
    assert installed[0]["file_size"] == weights
    # GenAI's CPU cache is fp32: 2 (K, V) x 2 layers x 256 tokens x 2 kv heads x 16 x 4 bytes.
    assert installed[0]["memory"]["kv_cache"] == 2 * 2 * 256 * 2 * 16 * 4 == 131_072
    assert {v["quant"] for v in report["variants"]} == {"int4", "int8", "fp16", "fp32"}
    # More bits never estimate smaller than the installed int4 folder: on this tiny model the
    # float embedding table is most of the weights, and it is kept in every precision.
    size = {v["quant"]: v["file_size"] for v in report["variants"]}
    assert size["int4"] < size["int8"] < size["fp16"] < size["fp32"]
    assert cli.main(["fit", "tiny-llama", "--bandwidth", "50"]) == 0
    assert "--kv-cache does not apply" in capsys.readouterr().out


def test_default_catalog_reads_the_user_file(tmp_path: Path) -> None:
    from tui.config import config_dir

    user = config_dir() / "catalog.json"
    user.parent.mkdir(parents=True, exist_ok=True)
    dims = {"n_layers": 2, "n_embd": 64, "n_heads": 4, "n_kv_heads": 2, "head_dim": 16}
    dims |= {"context_length": 256, "vocab_size": 323, "n_params": 115_000}
    variant = {"tag": "tiny:1m-f32", "quant": "F32", "size": 460_000}
    spec = {"dims": dims, "variants": [variant], "notes": "mine"}
    user.write_text(json.dumps({"families": {"tiny": {"sizes": {"1m": spec}}}}))
    assert default_catalog().lookup("tiny:1m").notes == "mine"
    assert default_catalog().lookup("qwen2.5:3b").dims.n_layers == 36  # shipped ones stay
    user.write_text("{broken")
    with pytest.raises(CatalogError, match="not valid JSON"):
        default_catalog()
    assert fit.run(_args("qwen2.5:3b"), extra_sources=()) == 2


# ------------------------------------------------------------------------------ read-only data dir


def test_read_only_data_dir_costs_the_cache_not_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.readonly import read_only_folder
    from tui.monitor import resources

    monkeypatch.setattr(resources, "BANDWIDTH_SAMPLE_MB", 4)  # a real measurement, but small
    with read_only_folder(tmp_path / "data", {}) as ro:
        monkeypatch.setenv("SLMDECK_DATA_DIR", str(ro.path))
        assert fit.run(_args("qwen2.5:3b", bandwidth=None), catalog=load_catalog()) == 0
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, ro.how
        (note,) = captured.err.splitlines()
        assert note.startswith("note: the bandwidth measurement is not cached: Could not save ")
        assert "bandwidth.json" in note and "memory bandwidth" in captured.out
        assert list(ro.path.iterdir()) == []  # no cache, no temp file
        # JSON stays JSON: the note goes to stderr.
        assert fit.run(_args("qwen2.5:3b", bandwidth=None, json=True), catalog=load_catalog()) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["bandwidth_bytes_s"] > 0
        assert captured.err.startswith("note: the bandwidth measurement is not cached")


# ------------------------------------------------------------------ edge hardware (sysfs trees)

SYSFS = Path(__file__).parent / "fixtures" / "sysfs"
GIB = 1024**3
FP16 = "qwen2.5:3b-instruct-fp16"
Q8 = "qwen2.5:3b-instruct-q8_0"


def _tree(monkeypatch: pytest.MonkeyPatch, tree: str, tmp_path: Path | None = None) -> Path:
    root = SYSFS / tree
    if tmp_path is not None:
        root = Path(shutil.copytree(root, tmp_path / tree))
    monkeypatch.setenv("SLMDECK_SYS_ROOT", str(root))
    return root


def _available(root: Path, kib: int) -> None:
    meminfo = root / "proc" / "meminfo"
    lines = [
        f"MemAvailable:   {kib} kB" if line.startswith("MemAvailable:") else line
        for line in meminfo.read_text().splitlines()
    ]
    meminfo.write_text("\n".join(lines) + "\n")


def _rows(report: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {v["tag"]: v for v in report["variants"]}


def test_unified_tree_grades_one_pool_as_free_memory_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(monkeypatch, "jetson_orin", tmp_path)
    report = _json(capsys, _args("qwen2.5:3b", json=True))
    pool = report["memory"]
    assert pool["unified"] is True and pool["gpus"] == ["NVIDIA Jetson AGX Orin Developer Kit"]
    # One pool, the tree's MemAvailable (24 GiB); nothing left over to count as RAM as well.
    assert (pool["graded_vram"], pool["graded_ram"]) == (24 * GIB, 0)
    fp16 = _rows(report)[FP16]
    need = fp16["memory"]["total"]
    assert need == 6_434_309_453  # weights 6.17 GB + KV 151 MB + overhead (test_quant's figures)
    assert (fp16["fit"], fp16["where"]) == ("Perfect", "GPU")
    assert fp16["headroom"] == pytest.approx((24 * GIB - need) / (24 * GIB))
    # 7 GiB available: (7 GiB - 6.43 GB) / 7 GiB = 14.4 % left → Good.
    _available(root, 7 * 1024 * 1024)
    fp16 = _rows(_json(capsys, _args("qwen2.5:3b", json=True)))[FP16]
    assert fp16["fit"] == "Good" and fp16["headroom"] == pytest.approx(1 - need / (7 * GIB))
    # 5 GiB available: fp16 no longer fits. Counting the pool as VRAM and again as RAM would
    # have offered a 10 GiB split and called it Good.
    _available(root, 5 * 1024 * 1024)
    rows = _rows(_json(capsys, _args("qwen2.5:3b", json=True)))
    assert (rows[FP16]["fit"], rows[FP16]["where"]) == ("TooTight", "-")
    q8 = rows[Q8]
    assert (q8["fit"], q8["where"]) == ("Perfect", "GPU")
    assert q8["headroom"] == pytest.approx(1 - q8["memory"]["total"] / (5 * GIB))


def test_apu_tree_adds_only_the_free_carve_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(monkeypatch, "amd_apu")
    report = _json(capsys, _args("qwen2.5:3b", json=True))
    # 20 GiB available RAM + 256 MiB of the 512 MiB carve-out still free; GTT is RAM: not added.
    assert report["memory"]["graded_vram"] == 20 * GIB + 256 * 1024**2
    assert report["memory"]["carve_out_free"] == 256 * 1024**2
    assert fit.run(_args("qwen2.5:3b"), extra_sources=(), catalog=load_catalog()) == 0
    out = capsys.readouterr().out
    assert "unified memory: 21.74 GB free (21.47 GB available RAM + 268.44 MB free GPU" in out
    assert "Unified memory: CPU and GPU share one pool" in out


def test_discrete_tree_grades_against_free_vram(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(monkeypatch, "amd_dgpu", tmp_path)
    report = _json(capsys, _args("qwen2.5:3b", json=True))
    assert report["free_vram"] == 20 * GIB and report["memory"]["vram_used_by_others"] == 4 * GIB
    assert report["memory"]["vram_total"] == 24 * GIB
    # Another process takes 20 of the 24 GiB: 4 GiB free. fp16 (6.43 GB) now splits GPU+CPU over
    # 4 + 20 GiB, (24 GiB - 6.43 GB) / 24 GiB = 75 % left, capped at Good for a split; against
    # the card's total it would still have read Perfect on the GPU.
    (root / "sys/class/drm/card0/device/mem_info_vram_used").write_text(f"{20 * GIB}\n")
    rows = _rows(_json(capsys, _args("qwen2.5:3b", json=True)))
    need = rows[FP16]["memory"]["total"]
    assert (rows[FP16]["fit"], rows[FP16]["where"]) == ("Good", "GPU+CPU offload")
    assert rows[FP16]["headroom"] == pytest.approx((24 * GIB - need) / (24 * GIB))
    q8 = rows[Q8]  # 3.54 GB of 4 GiB free: 17.6 % left → Good, on the GPU
    assert (q8["fit"], q8["where"]) == ("Good", "GPU")
    assert fit.run(_args("qwen2.5:3b"), extra_sources=(), catalog=load_catalog()) == 0
    out = capsys.readouterr().out
    assert "free VRAM 4.29 GB of 25.77 GB (other processes hold 21.47 GB)" in out


def test_hardware_overrides_from_config_are_set_by_you(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(monkeypatch, "none")
    config = isolated_env / "config" / "config.toml"
    config.write_text("[hardware]\nmemory_gib = 7\nunified = true\n")
    report = _json(capsys, _args("qwen2.5:3b", json=True))
    assert report["memory"]["set_by_you"] == ["memory", "unified"]
    assert (report["memory"]["graded_vram"], report["memory"]["graded_ram"]) == (7 * GIB, 0)
    assert _rows(report)[FP16]["fit"] == "Good"
    assert fit.run(_args("qwen2.5:3b"), extra_sources=(), catalog=load_catalog()) == 0
    out = capsys.readouterr().out
    assert "unified memory (set by you): 7.52 GB free (7.52 GB available RAM (set by you))" in out
    assert "Figures marked (set by you) come from" in out


def test_flags_override_the_config(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(monkeypatch, "jetson_orin")
    (isolated_env / "config" / "config.toml").write_text("[hardware]\nmemory_gib = 7\n")
    report = _json(capsys, _args("qwen2.5:3b", json=True, memory_gib=5.0))
    assert report["memory"]["graded_vram"] == 5 * GIB and _rows(report)[FP16]["fit"] == "TooTight"
    # --no-unified and --vram-gib: the Jetson graded as a 4 GiB card beside 24 GiB of RAM.
    report = _json(capsys, _args("qwen2.5:3b", json=True, unified=False, vram_gib=4.0))
    assert report["memory"]["unified"] is False and report["memory"]["set_by_you"] == [
        "memory",
        "unified",
        "vram",
    ]
    assert (report["free_vram"], report["free_ram"]) == (4 * GIB, 7 * GIB)
    assert (
        fit.run(
            _args("qwen2.5:3b", vram_gib=4.0, unified=False),
            extra_sources=(),
            catalog=load_catalog(),
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "free RAM 7.52 GB (set by you), free VRAM 4.29 GB (set by you)" in out


def test_bad_override_values(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(monkeypatch, "jetson_orin")
    for bad in ({"memory_gib": -1.0}, {"vram_gib": float("nan")}, {"memory_gib": 1e9}):
        assert fit.run(_args("qwen2.5:3b", **bad), extra_sources=(), catalog=load_catalog()) == 2
        captured = capsys.readouterr()
        assert "must be a number of GiB from" in captured.err and captured.out == ""
    (isolated_env / "config" / "config.toml").write_text('[hardware]\nmemory_gib = "lots"\n')
    report = _json(capsys, _args("qwen2.5:3b", json=True))
    assert report["memory"]["set_by_you"] == []  # the detected 24 GiB is used
    assert fit.run(_args("qwen2.5:3b"), extra_sources=(), catalog=load_catalog()) == 0
    err = capsys.readouterr().err
    assert 'note: config: [hardware] memory_gib = "lots" is not a number of GiB' in err


def test_register_parses_hardware_flags() -> None:
    parser = argparse.ArgumentParser(prog="slmdeck")
    fit.register(parser.add_subparsers())
    args = parser.parse_args(["fit", "x", "--memory-gib", "7.5", "--vram-gib", "0", "--unified"])
    assert (args.memory_gib, args.vram_gib, args.unified) == (7.5, 0.0, True)
    args = parser.parse_args(["fit", "x", "--no-unified"])
    assert (args.memory_gib, args.vram_gib, args.unified) == (None, None, False)


# ------------------------------------------------------------------------ another host's memory

MIB = 1024**2
T = TypeVar("T")


def _host_config(text: str) -> None:
    path = Path(os.environ["SLMDECK_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _host_fit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    """``slmdeck fit qwen2.5:3b --json`` with ``argv``: the report and what went to stderr."""
    assert cli.main(["fit", "qwen2.5:3b", "--json", "--bandwidth", "50", *argv]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


@pytest.fixture
def exporters(tmp_path: Path) -> Iterator[tuple[Process, MetricsServer]]:
    """A real node_exporter (this machine's memory) and a dcgm-exporter-shaped GPU exporter
    (16 GiB, 8 used, 7 free, 1 reserved), on loopback."""
    from tests.metrics_server import metrics_server
    from tests.prometheus_server import node_exporter
    from tests.test_fleet_prometheus_screen import DCGM

    with node_exporter(tmp_path / "node") as node, metrics_server("vllm") as gpu:
        with gpu.state.lock:
            gpu.state.raw = DCGM
        yield node, gpu


def _available_between(node: Process, read: Callable[[], T]) -> tuple[T, float, float]:
    """``read()`` between two readings of the exporter's MemAvailable (this machine's, live)."""
    from tests.prometheus_server import gauge

    before = gauge(node, "node_memory_MemAvailable_bytes")
    report = read()
    after = gauge(node, "node_memory_MemAvailable_bytes")
    return report, before, after


def _near(value: float, before: float, after: float, total: float, share: float = 0.01) -> bool:
    """``value`` was read between ``before`` and ``after``, give or take ``share`` of ``total``
    (this machine's memory moves a little meanwhile)."""
    slack = share * total
    return min(before, after) - slack <= value <= max(before, after) + slack


needs_node_exporter = pytest.mark.skipif(
    not have(NODE_EXPORTER), reason=missing_reason(NODE_EXPORTER)
)


@needs_node_exporter
def test_host_is_graded_against_its_exporters_memory(
    exporters: tuple[Process, MetricsServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.prometheus_server import gauge

    node, gpu = exporters
    _tree(monkeypatch, "none")  # this machine would read 12 GiB available and no GPU
    _host_config(
        "[hardware]\nmemory_gib = 3\nunified = true\n"  # this machine's: not the host's
        f'[[hosts]]\nname = "edge"\nnode_exporter = "{node.url}"\ngpu_exporter = "{gpu.url}"\n'
    )
    (report, err), before, after = _available_between(
        node, lambda: _host_fit(capsys, "--host", "edge")
    )
    total = gauge(node, "node_memory_MemTotal_bytes")
    memory = report["memory"]
    assert report["host"] == "edge" and memory["source"] == "node_exporter and GPU exporter"
    assert _near(report["free_ram"], before, after, total), (report["free_ram"], before, after)
    assert memory["set_by_you"] == [] and memory["unified"] is False
    # dcgm's FB_FREE: the reserved GiB is in the total, not free.
    assert report["free_vram"] == memory["graded_vram"] == 7168 * MIB
    assert (memory["vram_total"], memory["vram_used_by_others"]) == (16 * GIB, 8 * GIB)
    assert err == ""
    # The table says whose memory it is, and that the bandwidth (measured, here) is not.
    from tui.monitor import resources

    monkeypatch.setattr(resources, "BANDWIDTH_SAMPLE_MB", 4)  # a real measurement, but small
    assert cli.main(["fit", "qwen2.5:3b", "--host", "edge"]) == 0
    captured = capsys.readouterr()
    assert "; host edge (node_exporter and GPU exporter): free RAM " in captured.out
    assert "free VRAM 7.52 GB of 17.18 GB (other processes hold 8.59 GB); memory bandwidth" in (
        captured.out
    )
    assert captured.err == (
        "note: the memory is host edge's (node_exporter and GPU exporter); the bandwidth is "
        "this machine's (--bandwidth gives that host's)\n"
    )


@needs_node_exporter
def test_flags_still_win_over_the_hosts_exporters(
    exporters: tuple[Process, MetricsServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    node, gpu = exporters
    _tree(monkeypatch, "none")
    _host_config(
        f'[[hosts]]\nname = "edge"\nnode_exporter = "{node.url}"\ngpu_exporter = "{gpu.url}"\n'
        f'[[hosts]]\nname = "jetson"\nnode_exporter = "{node.url}"\n'
    )
    # No GPU exporter: CPU only, and a note; --unified makes its RAM the one pool.
    report, _ = _host_fit(capsys, "--host", "jetson")
    assert report["free_vram"] == 0 and report["memory"]["notes"] == [
        "host jetson's GPU memory is not known (no gpu_exporter configured for it): graded as "
        "CPU only (--vram-gib or --unified say otherwise)"
    ]
    report, _ = _host_fit(capsys, "--host", "jetson", "--unified")
    memory = report["memory"]
    assert memory["unified"] is True and memory["notes"] == []
    assert memory["graded_ram"] == 0 and memory["graded_vram"] == memory["shared_pool"] > 0
    report, _ = _host_fit(capsys, "--host", "edge", "--vram-gib", "2")
    assert report["free_vram"] == 2 * GIB and report["memory"]["set_by_you"] == ["vram"]
    assert report["free_ram"] > 0 and report["memory"]["vram_total"] == 16 * GIB
    report, _ = _host_fit(capsys, "--host", "edge", "--memory-gib", "5", "--unified")
    memory = report["memory"]
    assert (memory["graded_vram"], memory["graded_ram"]) == (5 * GIB, 0)
    assert memory["set_by_you"] == ["memory", "unified"] and memory["source"] == "set by you"
    gpu_reads = [p for p, _ in gpu.state.requests if p == "/metrics"]
    assert len(gpu_reads) == 1  # all given: the host was not read for the second


@needs_node_exporter
def test_host_memory_through_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host known to Prometheus by its address only (no exporter URL in its [[hosts]] entry,
    so nothing but Prometheus could have its memory)."""
    from tests.metrics_server import metrics_server
    from tests.prometheus_server import (
        PROMETHEUS,
        gauge,
        node_exporter,
        prometheus,
        wait_for_samples,
    )
    from tests.test_fleet_prometheus_screen import DCGM

    if not have(PROMETHEUS):
        pytest.skip(missing_reason(PROMETHEUS))
    _tree(monkeypatch, "none")
    with (
        node_exporter(tmp_path / "node", address="127.0.0.2") as node,
        metrics_server("vllm", host="127.0.0.2") as gpu,
        prometheus(tmp_path / "prom", {"node": [node.host_port], "dcgm": [gpu.host_port]}) as p,
    ):
        with gpu.state.lock:
            gpu.state.raw = DCGM
        _host_config(
            f'[fleet]\nprometheus = "{p.url}"\ntimeout = 60\n'
            f'[[hosts]]\nname = "edge"\nollama = "http://127.0.0.2:{closed_port()}"\n'
        )
        wait_for_samples(p, 'up{job="node"} == 1', 1)
        wait_for_samples(p, "DCGM_FI_DEV_FB_FREE", 2)
        (report, err), before, after = _available_between(
            node, lambda: _host_fit(capsys, "--host", "edge")
        )
        total = gauge(node, "node_memory_MemTotal_bytes")
    memory = report["memory"]
    assert memory["source"] == "Prometheus" and err == ""
    # Prometheus' last scrape, a second or so old: this machine's memory moves a little.
    assert _near(report["free_ram"], before, after, total, share=0.03)
    assert report["free_vram"] == 7168 * MIB and memory["vram_total"] == 16 * GIB
    # Prometheus down: one line, and this machine's memory.
    _host_config(
        f'[fleet]\nprometheus = "http://127.0.0.1:{closed_port()}"\n'
        '[[hosts]]\nname = "edge"\nollama = "http://127.0.0.2:9"\n'
    )
    report, err = _host_fit(capsys, "--host", "edge")
    assert report["memory"]["source"] == "this machine" and report["free_ram"] == 12 * GIB
    (line,) = err.splitlines()
    assert line.startswith("note: host edge's free memory is not known (prometheus http://")
    assert "connection refused); free memory and bandwidth are this machine's" in line


def test_host_without_exporter_or_with_a_dead_one_falls_back_to_this_machine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _tree(monkeypatch, "none")  # 12 GiB available here
    dead = f"http://127.0.0.1:{closed_port()}"
    _host_config(
        "[hardware]\nvram_gib = 1\n"  # this machine's: applies when its memory is used
        '[[hosts]]\nname = "bare"\nollama = "http://127.0.0.1:9"\n'
        f'[[hosts]]\nname = "dead"\nnode_exporter = "{dead}"\n'
    )
    for host, why in (
        ("bare", "no node_exporter configured for it"),
        ("dead", f"node_exporter {dead}/metrics: connection refused"),
    ):
        report, err = _host_fit(capsys, "--host", host)
        assert err == (
            f"note: host {host}'s free memory is not known ({why}); free memory and bandwidth "
            "are this machine's (--memory-gib and --vram-gib give that host's)\n"
        )
        assert report["memory"]["source"] == "this machine" and report["host"] == host
        assert report["free_ram"] == 12 * GIB and report["free_vram"] == 1 * GIB
        assert report["memory"]["set_by_you"] == ["vram"]
