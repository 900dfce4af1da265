"""Quantization arithmetic checked against numbers worked out by hand (the working is in comments)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tui.core.quant import (
    DEFAULT_OVERHEAD,
    GOOD_HEADROOM,
    LLAMACPP_OVERHEAD,
    ORT_GENAI_OVERHEAD,
    PERFECT_HEADROOM,
    ArchDims,
    FitLevel,
    OverheadModel,
    Placement,
    Variant,
    bits_per_weight,
    decode_tokps_ceiling,
    fit_level,
    ggml_type_bpw,
    kv_cache_bytes,
    memory_estimate,
    normalize_quant,
    onnx_int4_bpw,
    overhead_for,
    rank_variants,
    swa_flags_from_pattern,
)

# Llama-3.2-3B (config.json): 28 layers, hidden 3072, 24 heads, 8 KV heads, head_dim 128.
LLAMA32_3B = ArchDims(
    arch="llama",
    n_layers=28,
    n_embd=3072,
    n_heads=24,
    n_kv_heads=8,
    head_dim_k=128,
    head_dim_v=128,
    context_length=131072,
    vocab_size=128256,
    n_params=3_210_000_000,
)
# Qwen2.5-7B: 28 layers, hidden 3584, 28 heads, 4 KV heads (GQA 7:1), head_dim 128.
QWEN25_7B = ArchDims(
    arch="qwen2",
    n_layers=28,
    n_embd=3584,
    n_heads=28,
    n_kv_heads=4,
    head_dim_k=128,
    head_dim_v=128,
    context_length=32768,
    vocab_size=152064,
    n_params=7_610_000_000,
)
# Mixtral-8x7B style MoE: 32 layers, hidden 4096, 32 heads, 8 KV heads, 8 experts of which 2 used.
MIXTRAL = ArchDims(
    arch="llama",
    n_layers=32,
    n_embd=4096,
    n_heads=32,
    n_kv_heads=8,
    head_dim_k=128,
    head_dim_v=128,
    context_length=32768,
    vocab_size=32000,
    n_params=40_000_000_000,
    n_active_params=10_000_000_000,
    expert_count=8,
    expert_used_count=2,
)
# gemma-3-1b: 26 layers, 4 heads, 1 KV head, head_dim 256, window 512, pattern 6.
GEMMA3_1B = ArchDims(
    arch="gemma3",
    n_layers=26,
    n_embd=1152,
    n_heads=4,
    n_kv_heads=1,
    head_dim_k=256,
    head_dim_v=256,
    context_length=32768,
    vocab_size=262144,
    n_params=1_000_000_000,
    sliding_window=512,
    sliding_layers=swa_flags_from_pattern(26, 6),
)


# ------------------------------------------------------------------------------ bits per weight


def test_block_types_come_from_ggml_quant_sizes() -> None:
    assert ggml_type_bpw("Q4_0") == 4.5  # 18 bytes per 32 weights: 18*8/32
    assert ggml_type_bpw("Q4_K") == 4.5  # 144 bytes per 256: 144*8/256
    assert ggml_type_bpw("Q6_K") == 6.5625  # 210*8/256
    assert ggml_type_bpw("Q8_0") == 8.5  # 34*8/32
    assert ggml_type_bpw("IQ2_XXS") == 2.0625  # 66*8/256
    assert ggml_type_bpw("F16") == 16
    assert ggml_type_bpw("F32") == 32


def test_whole_file_averages_and_names() -> None:
    assert bits_per_weight("Q4_K_M") == 4.89
    assert bits_per_weight("q4_K_M") == 4.89  # Ollama's tag spelling
    assert bits_per_weight("MOSTLY_Q5_K_M") == 5.70  # gguf.LlamaFileType spelling
    assert bits_per_weight("fp16") == 16
    assert bits_per_weight("Q4_0") == 4.5  # not in the whole-file table: block type
    assert bits_per_weight("MXFP4") == 4.25  # 17 bytes per 32
    assert normalize_quant("fp16") == "F16"
    assert normalize_quant("INT4") == "int4"
    with pytest.raises(ValueError, match="not a quantization type"):
        bits_per_weight("Q9_Z")


def test_onnx_precisions() -> None:
    assert bits_per_weight("int4") == 4.5  # 4 bits + one fp16 scale per 32: 4 + 16/32
    assert onnx_int4_bpw(block_size=128, scale_bits=16, zero_point_bits=4) == 4 + 20 / 128
    assert bits_per_weight("int8") == 8
    assert bits_per_weight("fp32") == 32


# ----------------------------------------------------------------------------------- KV cache


def test_kv_cache_llama32_3b() -> None:
    # 2 (K and V) x 28 layers x 4096 tokens x 8 kv heads x 128 dims = 234,881,024 elements
    elements = 2 * 28 * 4096 * 8 * 128
    assert elements == 234_881_024
    assert kv_cache_bytes(LLAMA32_3B, 4096, "f16") == 469_762_048  # x 2 bytes = 448 MiB
    assert kv_cache_bytes(LLAMA32_3B, 4096, "q8_0") == 249_561_088  # x 34/32
    assert kv_cache_bytes(LLAMA32_3B, 4096, "q4_0") == 132_120_576  # x 18/32


def test_kv_cache_qwen25_7b_gqa() -> None:
    # 2 x 28 x 32768 x 4 x 128 = 939,524,096 elements x 2 bytes = 1,879,048,192 (1.75 GiB)
    assert kv_cache_bytes(QWEN25_7B, 32768) == 1_879_048_192
    # Without GQA (28 kv heads) it would be 7 times as much.
    mha = replace(QWEN25_7B, n_kv_heads=28)
    assert kv_cache_bytes(mha, 32768) == 7 * 1_879_048_192


def test_kv_cache_moe_is_like_dense() -> None:
    # 2 x 32 x 4096 x 8 x 128 x 2 bytes = 536,870,912 (512 MiB); experts do not matter.
    assert kv_cache_bytes(MIXTRAL, 4096) == 536_870_912
    dense = replace(MIXTRAL, expert_count=0, expert_used_count=0, n_active_params=0)
    assert kv_cache_bytes(dense, 4096) == kv_cache_bytes(MIXTRAL, 4096)


def test_kv_cache_sliding_window_gemma3() -> None:
    flags = swa_flags_from_pattern(26, 6)
    assert flags[:6] == (True, True, True, True, True, False)
    assert flags.count(False) == 4  # layers 5, 11, 17, 23 are full attention
    # full: 4 layers x 32768 tokens x 1 head x (256 + 256) = 67,108,864 elements
    # sliding: 22 layers x 512 tokens x 1 x 512 = 5,767,168 elements; total x 2 bytes
    assert kv_cache_bytes(GEMMA3_1B, 32768) == (67_108_864 + 5_767_168) * 2 == 145_752_064
    # Below the window every layer holds the whole context: 26 x 256 x 512 x 2.
    assert kv_cache_bytes(GEMMA3_1B, 256) == 6_815_744
    # Without the window it would be 26 x 32768 x 512 x 2.
    no_swa = replace(GEMMA3_1B, sliding_window=0)
    assert kv_cache_bytes(no_swa, 32768) == 872_415_232


def test_swa_pattern_edge_values() -> None:
    assert swa_flags_from_pattern(3, 0) == (True, True, True)
    assert swa_flags_from_pattern(3, 1) == (False, False, False)
    assert swa_flags_from_pattern(4, 2) == (True, False, True, False)


def test_kv_cache_per_layer_heads_and_unequal_kv_lengths() -> None:
    dims = replace(LLAMA32_3B, n_layers=2, kv_heads_per_layer=(2, 4), head_dim_v=64)
    # layer 0: 10 tokens x 2 heads x (128 + 64); layer 1: 10 x 4 x 192 -> 11,520 elements x 2
    assert kv_cache_bytes(dims, 10) == (10 * 2 * 192 + 10 * 4 * 192) * 2


def test_encoder_has_no_kv_cache_and_bad_type_is_refused() -> None:
    assert kv_cache_bytes(replace(LLAMA32_3B, causal=False), 2048) == 0
    with pytest.raises(ValueError, match="not one of f16, q8_0, q4_0"):
        kv_cache_bytes(LLAMA32_3B, 2048, "q5_1")


# ------------------------------------------------------------------------------- memory estimate


def test_memory_estimate_terms() -> None:
    over = OverheadModel(
        "test", base_bytes=100, batch=512, vocab_bytes=10, logits_factor=1.5, scores_factor=2
    )
    est = memory_estimate(2_000_000_000, LLAMA32_3B, 4096, "f16", over)
    vocab = 128256 * 10  # 1,282,560: tokenizer tables
    logits = 394_002_432  # 1.5 x 512 tokens x 128,256 vocab x 4 bytes = 1.5 x 262,668,288
    assert logits == 1.5 * 512 * 128256 * 4
    scores = 2 * 512 * 512 * 24 * 4  # 50,331,648: scores of one 512-token prompt batch
    assert est.weights == 2_000_000_000
    assert est.kv_cache == 469_762_048  # 2 x 28 x 4096 x 8 x 128 x 2
    assert est.overhead == 100 + vocab + logits + scores == 445_616_740
    assert est.total == 2_000_000_000 + 469_762_048 + 445_616_740
    # A context shorter than the batch bounds the prompt by the context.
    short = memory_estimate(0, LLAMA32_3B, 256, "f16", over)
    assert short.overhead == 100 + vocab + 1.5 * 256 * 128256 * 4 + 2 * 256 * 256 * 24 * 4
    # A share of the weights (an engine's prepacked copy) counts too.
    packed = OverheadModel("test", base_bytes=0, weights_fraction=0.25)
    assert memory_estimate(1_000, LLAMA32_3B, 16, "f16", packed).overhead == 250


def test_memory_estimate_dense_gqa_moe() -> None:
    zero = OverheadModel("none", base_bytes=0)
    # Dense (MHA) 7B-like: 32 layers x 32 kv heads x 128 x 2048 tokens x 2 (K, V) x 2 bytes.
    dense = replace(QWEN25_7B, n_layers=32, n_heads=32, n_kv_heads=32)
    est = memory_estimate(4_000_000_000, dense, 2048, "f16", zero)
    assert est.kv_cache == 2 * 32 * 2048 * 32 * 128 * 2 == 1_073_741_824
    assert est.total == 4_000_000_000 + 1_073_741_824
    # GQA: the same with 4 kv heads is an eighth of it.
    gqa = replace(dense, n_kv_heads=4)
    assert memory_estimate(0, gqa, 2048, "f16", zero).kv_cache == 2 * 32 * 2048 * 4 * 128 * 2
    # MoE: all experts' weights must be resident, the cache is a dense model's.
    moe = memory_estimate(24_000_000_000, MIXTRAL, 8192, "q8_0", zero)
    assert moe.kv_cache == 2 * 32 * 8192 * 8 * 128 * 34 // 32 == 570_425_344
    assert moe.total == 24_000_000_000 + 570_425_344


def test_engine_overhead_models() -> None:
    # llama.cpp (calibrated): 6.8 MiB + 357 B x vocab + 2.5 x 512 x 512 x heads x 4 bytes.
    llama = memory_estimate(0, LLAMA32_3B, 4096, "f16", LLAMACPP_OVERHEAD)
    assert llama.overhead == round(round(6.8 * 1024**2) + 357 * 128256 + 2.5 * 512 * 512 * 24 * 4)
    assert LLAMACPP_OVERHEAD.calibrated and DEFAULT_OVERHEAD is LLAMACPP_OVERHEAD
    # ONNX Runtime GenAI keeps an fp32 cache whatever kv_type says: 4 bytes, not 2.
    onnx = replace(LLAMA32_3B, source="onnx")
    assert overhead_for(onnx) is ORT_GENAI_OVERHEAD
    assert overhead_for(LLAMA32_3B) is LLAMACPP_OVERHEAD
    ort = memory_estimate(1_000_000, onnx, 1024, "q4_0")
    assert ort.kv_cache == 2 * 28 * 1024 * 8 * 128 * 4 == 234_881_024
    # 42 MiB + 0.147 x weights + 1.36 x 512 prompt tokens x vocab x 4 bytes of logits.
    assert ort.overhead == round(42 * 1024**2 + 0.147 * 1_000_000 + 1.36 * 512 * 128256 * 4)
    # rank_variants picks the same engine model when given none.
    (row,) = rank_variants([Variant("m", "int4", 4.5, 1_000_000)], onnx, 1024, "f16", 0, 10**12, 0)
    assert row.memory == ort


# ------------------------------------------------------------------------------------ fit levels


def test_fit_on_gpu() -> None:
    assert PERFECT_HEADROOM == 0.20 and GOOD_HEADROOM == 0.10
    r = fit_level(7_000, free_vram=10_000, free_ram=50_000)
    assert (r.level, r.where, r.headroom_bytes) == (FitLevel.PERFECT, Placement.GPU, 3_000)
    assert r.headroom == pytest.approx(0.3)
    assert fit_level(8_000, 10_000, 0).level is FitLevel.PERFECT  # exactly 20 % left
    assert fit_level(8_500, 10_000, 0).level is FitLevel.GOOD  # 15 % left
    assert fit_level(9_500, 10_000, 0).level is FitLevel.MARGINAL  # 5 % left
    assert fit_level(10_000, 10_000, 0).where is Placement.GPU  # exact fit, still Marginal


def test_fit_offload_and_too_tight() -> None:
    # 12,000 > 10,000 VRAM: split over 30,000 of VRAM + RAM, 60 % left -> capped at Good.
    r = fit_level(12_000, free_vram=10_000, free_ram=20_000)
    assert (r.level, r.where) == (FitLevel.GOOD, Placement.OFFLOAD)
    assert r.headroom == pytest.approx(0.6)
    # 26,000 of 30,000: 13 % left -> Marginal.
    assert fit_level(26_000, 10_000, 20_000).level is FitLevel.MARGINAL
    r = fit_level(31_000, 10_000, 20_000)
    assert (r.level, r.where, r.headroom_bytes) == (FitLevel.TOO_TIGHT, Placement.NONE, -1_000)


def test_fit_cpu_only() -> None:
    r = fit_level(7_900, free_vram=0, free_ram=10_000)
    assert (r.level, r.where) == (FitLevel.PERFECT, Placement.CPU)
    assert fit_level(8_900, 0, 10_000).level is FitLevel.GOOD
    assert fit_level(9_950, 0, 10_000).level is FitLevel.MARGINAL
    assert fit_level(10_001, 0, 10_000).level is FitLevel.TOO_TIGHT
    assert fit_level(1, 0, 0).level is FitLevel.TOO_TIGHT


# ---------------------------------------------------------------------------------------- speed


def test_decode_ceiling() -> None:
    # 100 GB/s over 7 GB of weights + 1 GB of KV read per token = 12.5 tokens/s at most.
    assert decode_tokps_ceiling(7_000_000_000, 1_000_000_000, 100e9) == 12.5
    assert decode_tokps_ceiling(7_000_000_000, 0, 0) == 0.0


def test_moe_ceiling_reads_only_active_experts() -> None:
    zero = OverheadModel("none", base_bytes=0)
    v = Variant("mixtral:q4", "Q4_K_M", 4.0, 20_000_000_000)
    (row,) = rank_variants([v], MIXTRAL, 4096, "f16", 0, 10**12, 100e9, overhead=zero)
    # active share 10e9 / 40e9 of 20 GB = 5 GB; + 536,870,912 KV -> 100e9 / 5,536,870,912
    assert row.tokps_ceiling == pytest.approx(100e9 / 5_536_870_912)
    dense = replace(MIXTRAL, n_active_params=0)
    (row_dense,) = rank_variants([v], dense, 4096, "f16", 0, 10**12, 100e9, overhead=zero)
    assert row_dense.tokps_ceiling == pytest.approx(100e9 / 20_536_870_912)


def test_gpu_bandwidth_used_for_gpu_placement() -> None:
    zero = OverheadModel("none", base_bytes=0)
    tiny = replace(LLAMA32_3B, causal=False, vocab_size=0)
    v = Variant("m", "Q8_0", 8.5, 1_000)
    (gpu,) = rank_variants([v], tiny, 10, "f16", 10_000, 0, 1e6, gpu_bandwidth=1e9, overhead=zero)
    assert gpu.fit.where is Placement.GPU and gpu.tokps_ceiling == pytest.approx(1e6)
    # Offload: 4,000 of 5,000 bytes on the GPU: 4,000/1e9 + 1,000/1e6 seconds per token.
    v2 = Variant("m2", "F16", 16, 5_000)
    (off,) = rank_variants(
        [v2], tiny, 10, "f16", 4_000, 100_000, 1e6, gpu_bandwidth=1e9, overhead=zero
    )
    assert off.fit.where is Placement.OFFLOAD
    assert off.tokps_ceiling == pytest.approx(1 / (4_000 / 1e9 + 1_000 / 1e6))


# ------------------------------------------------------------------------------------- ranking


def _variants() -> list[Variant]:
    return [
        Variant("m:q4_K_M", "Q4_K_M", 4.89, 2_000),
        Variant("m:fp16", "F16", 16.0, 6_500),
        Variant("m:q8_0", "Q8_0", 8.5, 3_500),
    ]


def test_rank_flags_best_quality_that_fits_comfortably() -> None:
    zero = OverheadModel("none", base_bytes=0)
    enc = replace(LLAMA32_3B, causal=False, vocab_size=0)  # memory = weights only
    rows = rank_variants(_variants(), enc, 4096, "f16", 0, 3_800, 1e9, overhead=zero)
    assert [r.variant.tag for r in rows] == ["m:fp16", "m:q8_0", "m:q4_K_M"]
    levels = [r.fit.level for r in rows]
    assert levels == [FitLevel.TOO_TIGHT, FitLevel.MARGINAL, FitLevel.PERFECT]
    # q8_0 fits with 8 % left (Marginal); the best pick is q4_K_M, which fits with 47 % left.
    assert [r.best for r in rows] == [False, False, True]
    assert rows[0].tokps_ceiling == 0.0


def test_rank_falls_back_to_marginal_then_none() -> None:
    zero = OverheadModel("none", base_bytes=0)
    enc = replace(LLAMA32_3B, causal=False, vocab_size=0)
    rows = rank_variants(_variants(), enc, 4096, "f16", 0, 2_100, 1e9, overhead=zero)
    assert [r.best for r in rows] == [False, False, True]
    assert rows[2].fit.level is FitLevel.MARGINAL
    rows = rank_variants(_variants(), enc, 4096, "f16", 0, 1_000, 1e9, overhead=zero)
    assert not any(r.best for r in rows)
