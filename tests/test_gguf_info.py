"""Reading real GGUF files (written here with gguf.GGUFWriter, plus the tiny fixture model),
Ollama's model_info and ONNX GenAI folders."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from tui.core.gguf_info import (
    GGUFError,
    ModelFolderError,
    dims_from_genai_config,
    dims_from_ollama_model_info,
    parse_parameter_size,
    read_genai_folder,
    read_gguf,
)
from tui.core.quant import kv_cache_bytes, memory_estimate

FIXTURE = Path(__file__).parent / "fixtures" / "tiny-llama-f32.gguf"


def write_gguf(
    path: Path,
    arch: str = "llama",
    *,
    extra_kv: Mapping[str, Any] | None = None,
    moe: bool = False,
) -> Path:
    """A small but complete GGUF: 2 layers, embd 64, 4 heads, 2 KV heads, mixed tensor types.

    Tensors and their exact byte sizes:
      token_embd.weight  32 x 64 F32       = 2048 elements x 4          = 8192 bytes
      blk.0.attn_q.weight 64 x 64 Q8_0     = 4096 elements / 32 x 34    = 4352 bytes
      blk.0.attn_norm.weight 64 F16        = 64 elements x 2            = 128 bytes
      (moe) blk.0.ffn_up_exps.weight 4 x 16 x 64 F32 = 4096 elements x 4 = 16384 bytes
    """
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(128)
    w.add_vocab_size(32)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_name("unit-test model")
    if moe:
        w.add_expert_count(4)
        w.add_expert_used_count(1)
    for key, value in (extra_kv or {}).items():
        w.add_uint32(key, value)
    w.add_tensor("token_embd.weight", np.zeros((32, 64), dtype=np.float32))
    q8 = gguf.quants.quantize(np.ones((64, 64), dtype=np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float16))
    if moe:
        w.add_tensor("blk.0.ffn_up_exps.weight", np.zeros((4, 16, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_read_written_gguf_exactly(tmp_path: Path) -> None:
    info = read_gguf(write_gguf(tmp_path / "m.gguf"))
    assert info.weights_bytes == 8192 + 4352 + 128
    assert info.n_params == 2048 + 4096 + 64
    assert dict(info.tensor_types) == {"F32": 1, "Q8_0": 1, "F16": 1}
    assert info.file_type == "Q8_0"
    assert info.file_size == (tmp_path / "m.gguf").stat().st_size > info.weights_bytes
    d = info.dims
    assert (d.arch, d.n_layers, d.n_embd, d.n_heads, d.n_kv_heads) == ("llama", 2, 64, 4, 2)
    assert (d.head_dim_k, d.head_dim_v) == (16, 16)  # no key_length key: 64 / 4 heads
    assert (d.context_length, d.vocab_size, d.source) == (128, 32, "gguf")
    assert d.n_params == info.n_params and d.active_params == info.n_params
    assert info.metadata["general.name"] == "unit-test model"
    # KV at 128 tokens: 2 x 2 layers x 128 x 2 kv heads x 16 x 2 bytes = 32,768
    assert kv_cache_bytes(d, 128) == 32_768


def test_moe_active_share(tmp_path: Path) -> None:
    info = read_gguf(write_gguf(tmp_path / "moe.gguf", moe=True))
    assert info.weights_bytes == 8192 + 4352 + 128 + 16384
    # One of four experts is read per token: the expert tensor counts a quarter.
    assert info.active_weights_bytes == 8192 + 4352 + 128 + 16384 // 4
    assert info.dims.n_active_params == 2048 + 4096 + 64 + 4096 // 4
    assert (info.dims.expert_count, info.dims.expert_used_count) == (4, 1)


def test_sliding_window_layout(tmp_path: Path) -> None:
    # gemma3 GGUFs carry the window but not the pattern: llama.cpp's hard-coded 6 applies.
    g = read_gguf(
        write_gguf(tmp_path / "g.gguf", "gemma3", extra_kv={"gemma3.attention.sliding_window": 8})
    )
    assert g.dims.sliding_window == 8 and g.dims.sliding_layers == (True, True)
    # An explicit integer pattern wins: pattern 2 -> layer 0 slides, layer 1 is full.
    kv = {"llama.attention.sliding_window": 8, "llama.attention.sliding_window_pattern": 2}
    lp = read_gguf(write_gguf(tmp_path / "p.gguf", extra_kv=kv))
    assert lp.dims.sliding_layers == (True, False)
    # layer 0: 8 tokens, layer 1: 128 tokens; x 2 kv heads x 32 (k+v) x 2 bytes
    assert kv_cache_bytes(lp.dims, 128) == (8 + 128) * 2 * 32 * 2


def test_vocab_from_token_list(tmp_path: Path) -> None:
    """Without ``llama.vocab_size`` the vocabulary is the token list's length (1000 here)."""
    path = tmp_path / "tok.gguf"
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_embedding_length(8)
    w.add_head_count(2)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"t{i}" for i in range(1000)])
    w.add_tensor("token_embd.weight", np.zeros((1000, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    info = read_gguf(path)
    assert info.dims.vocab_size == 1000
    assert info.dims.n_kv_heads == 2  # no head_count_kv key: same as heads
    assert "tokenizer.ggml.tokens" not in info.metadata  # long arrays stay out of the metadata
    assert info.metadata["tokenizer.ggml.model"] == "llama"


def test_not_a_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello, this is text")
    with pytest.raises(GGUFError, match="is not a GGUF file"):
        read_gguf(bad)
    assert issubclass(GGUFError, ValueError)


def test_truncated_gguf(tmp_path: Path) -> None:
    whole = write_gguf(tmp_path / "whole.gguf").read_bytes()
    for cut in (10, 200, len(whole) - 1000):
        part = tmp_path / f"cut{cut}.gguf"
        part.write_bytes(whole[:cut])
        with pytest.raises(GGUFError, match="damaged or truncated"):
            read_gguf(part)


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="does not exist"):
        read_gguf(tmp_path / "absent.gguf")
    with pytest.raises(GGUFError, match="is a folder"):
        read_gguf(tmp_path)


def test_tiny_fixture_model() -> None:
    """The repository's real tiny llama: 2 layers, embd 64, 4 heads, 2 KV heads, all F32."""
    assert FIXTURE.exists(), f"{FIXTURE} is missing (tests/fixtures holds the tiny llama GGUF)"
    info = read_gguf(FIXTURE)
    d = info.dims
    assert (d.arch, d.n_layers, d.n_embd, d.n_heads, d.n_kv_heads) == ("llama", 2, 64, 4, 2)
    assert d.head_dim_k == 16
    assert set(info.tensor_types) == {"F32"}
    assert info.weights_bytes == 4 * info.n_params  # every weight is a 4-byte float
    assert info.file_type == "F32"
    assert d.vocab_size > 0 and d.context_length > 0


def test_tiny_fixture_estimate_from_its_header() -> None:
    """The estimate of the real tiny GGUF, from the dims its header gives, worked out by hand."""
    info = read_gguf(FIXTURE)
    d = info.dims
    assert (d.vocab_size, d.context_length, d.source) == (323, 256, "gguf")
    est = memory_estimate(info.weights_bytes, d, 256)
    # KV: 2 (K, V) x 2 layers x 256 tokens x 2 kv heads x 16 dims x 2 bytes (f16).
    assert est.kv_cache == 2 * 2 * 256 * 2 * 16 * 2 == 65_536
    # llama.cpp overhead: 6.8 MiB + 357 B x 323 tokens + 2.5 x 256 x 256 prompt scores x 4 heads x 4.
    assert est.overhead == round(round(6.8 * 1024**2) + 357 * 323 + 2.5 * 256 * 256 * 4 * 4)
    assert est.total == info.weights_bytes + 65_536 + est.overhead


# ------------------------------------------------------------------------------------- Ollama


# The shape of /api/show's model_info for llama3.2:3b (GGUF keys; tokens are null unless verbose).
LLAMA32_MODEL_INFO = {
    "general.architecture": "llama",
    "general.parameter_count": 3212749824,
    "general.file_type": 15,
    "llama.block_count": 28,
    "llama.context_length": 131072,
    "llama.embedding_length": 3072,
    "llama.feed_forward_length": 8192,
    "llama.attention.head_count": 24,
    "llama.attention.head_count_kv": 8,
    "llama.attention.key_length": 128,
    "llama.attention.value_length": 128,
    "llama.vocab_size": 128256,
    "tokenizer.ggml.tokens": None,
}


def test_ollama_model_info() -> None:
    details = {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
    d = dims_from_ollama_model_info(LLAMA32_MODEL_INFO, details)
    assert (d.arch, d.n_layers, d.n_embd, d.n_heads, d.n_kv_heads) == ("llama", 28, 3072, 24, 8)
    assert (d.head_dim_k, d.context_length, d.vocab_size) == (128, 131072, 128256)
    assert d.n_params == 3212749824 and d.source == "ollama" and not d.is_moe


def test_ollama_fallbacks_from_details() -> None:
    info = {k: v for k, v in LLAMA32_MODEL_INFO.items() if "parameter_count" not in k}
    del info["llama.attention.key_length"], info["llama.attention.value_length"]
    info.pop("general.architecture")

    class Details:  # ollama-python hands back an object with attributes
        family = "llama"
        parameter_size = "3.2B"

    d = dims_from_ollama_model_info(info, Details())
    assert d.arch == "llama" and d.n_params == 3_200_000_000
    assert d.head_dim_k == 3072 // 24 == 128
    assert parse_parameter_size("137M") == 137_000_000
    assert parse_parameter_size("?") == 0


def test_ollama_moe_active_estimate() -> None:
    # Qwen3-30B-A3B-like: 48 layers, embd 2048, 128 experts of FFN 768, 8 used.
    info = {
        "general.architecture": "qwen3moe",
        "general.parameter_count": 30_532_122_624,
        "qwen3moe.block_count": 48,
        "qwen3moe.embedding_length": 2048,
        "qwen3moe.attention.head_count": 32,
        "qwen3moe.attention.head_count_kv": 4,
        "qwen3moe.attention.key_length": 128,
        "qwen3moe.expert_count": 128,
        "qwen3moe.expert_used_count": 8,
        "qwen3moe.expert_feed_forward_length": 768,
        "qwen3moe.context_length": 40960,
    }
    d = dims_from_ollama_model_info(info)
    # unused: 48 layers x 3 matrices x 2048 x 768 x 120 experts = 27,179,089,920
    assert d.n_active_params == 30_532_122_624 - 27_179_089_920 == 3_353_032_704
    assert d.is_moe and d.expert_used_count == 8


# ------------------------------------------------------------------------------------------ ONNX


def _genai_folder(root: Path) -> Path:
    folder = root / "cpu-int4-rtn-block-32"
    folder.mkdir()
    config = {
        "model": {
            "type": "phi3",
            "context_length": 131072,
            "vocab_size": 200064,
            "decoder": {
                "filename": "model.onnx",
                "head_size": 128,
                "hidden_size": 3072,
                "num_attention_heads": 24,
                "num_hidden_layers": 32,
                "num_key_value_heads": 8,
            },
        },
        "search": {"max_length": 4096},
    }
    (folder / "genai_config.json").write_text(json.dumps(config))
    (folder / "model.onnx").write_bytes(b"\0" * 1000)
    (folder / "model.onnx.data").write_bytes(b"\0" * 25_000)
    (folder / "tokenizer.json").write_text("{}")  # not weights
    return folder


def test_genai_folder(tmp_path: Path) -> None:
    folder = _genai_folder(tmp_path)
    info = read_genai_folder(folder)
    assert info.weights_bytes == 26_000
    assert [name for name, _ in info.files] == ["model.onnx", "model.onnx.data"]
    assert info.max_length == 4096
    d = dims_from_genai_config(folder)
    assert (d.arch, d.n_layers, d.n_embd, d.n_heads, d.n_kv_heads) == ("phi3", 32, 3072, 24, 8)
    assert (d.head_dim_k, d.context_length, d.vocab_size, d.source) == (128, 131072, 200064, "onnx")


def test_genai_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match=r"has no genai_config\.json"):
        read_genai_folder(tmp_path)
    (tmp_path / "genai_config.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="not valid JSON"):
        read_genai_folder(tmp_path)
    (tmp_path / "genai_config.json").write_text(json.dumps({"model": {"decoder": {}}}))
    with pytest.raises(ModelFolderError, match=r"lacks model\.decoder\.num_hidden_layers"):
        read_genai_folder(tmp_path)


def _header_only_gguf(path: Path, rows: int, vocab: int) -> int:
    """A GGUF whose one F32 tensor of ``rows`` x 4096 is a sparse hole; returns the header size."""
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_embedding_length(4096)
    w.add_head_count(32)
    w.add_token_list([f"token-{i}" for i in range(vocab)])
    w.add_tensor_info("token_embd.weight", (rows, 4096), np.dtype(np.float32), rows * 4096 * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header = path.stat().st_size
    with path.open("r+b") as fh:  # the data section: a hole, instant and taking no disk
        fh.truncate(header + (-header % 32) + rows * 4096 * 4)
    return header


def test_reads_only_the_header_whatever_the_data_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4 GiB model reads as many bytes as a 2 MiB one with the same header (a vocabulary of
    50,000 tokens, skipped without decoding): the tensor data is never read, nor mapped."""
    import tui.core.gguf_info as gi

    read: list[int] = []
    real_open = gi.open_regular

    class Counting:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def read(self, n: int = -1) -> bytes:
            assert n >= 0, "a read of the whole file"
            data = self.fh.read(n)
            read[-1] += len(data)
            return data

        def fileno(self) -> int:
            return int(self.fh.fileno())

        def __enter__(self) -> Counting:
            read.append(0)
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    monkeypatch.setattr(gi, "open_regular", lambda p: Counting(real_open(p)))
    monkeypatch.setattr(gguf, "GGUFReader", None)  # no memory map of the file either
    small, big = tmp_path / "small.gguf", tmp_path / "big.gguf"
    header = _header_only_gguf(small, 64, 50_000)
    assert _header_only_gguf(big, 262_144, 50_000) == header
    assert big.stat().st_size > 4 * 1024**3 > 2 * 1024**2 > small.stat().st_size
    a, b = read_gguf(small), read_gguf(big)
    assert (a.n_params, b.n_params) == (64 * 4096, 262_144 * 4096)
    assert b.weights_bytes == 4 * b.n_params and b.dims.vocab_size == 50_000
    assert b.file_size == big.stat().st_size
    reads_small, reads_big = read[1], read[3]  # [magic, header] per file
    assert reads_small == reads_big
    assert header <= reads_big <= header + gi._CHUNK


def test_cut_inside_the_data_is_truncated(tmp_path: Path) -> None:
    """The data is not read, but a file shorter than its tensors say is still found cut."""
    path = tmp_path / "cut.gguf"
    header = _header_only_gguf(path, 64, 10)
    with path.open("r+b") as fh:
        fh.truncate(header + 100)
    with pytest.raises(GGUFError, match="damaged or truncated"):
        read_gguf(path)
