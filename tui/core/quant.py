"""Quantization arithmetic: bits per weight, KV cache, memory needed, fit levels and speed ceilings.

Everything here is a pure function of numbers the caller supplies (architecture dimensions, free
memory, a bandwidth), so it is cheap to test by hand. Where the dimensions come from a file on disk
(``gguf_info``) the weights' size is exact; the catalog's sizes are estimates and say so.

Units: bytes and bytes per second throughout; ``bpw`` is bits per weight.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------- dims


@dataclass(frozen=True, slots=True)
class ArchDims:
    """The architecture numbers that memory and speed depend on.

    ``head_dim_k``/``head_dim_v`` are GGUF's ``attention.key_length``/``value_length`` (equal for
    nearly every model). ``sliding_layers`` has one flag per layer, True where the layer attends
    only to the last ``sliding_window`` tokens (gemma3: five of every six layers); empty means no
    layer slides. ``n_active_params`` is the parameters read per token (MoE: shared weights plus
    ``expert_used_count`` experts); 0 means "same as ``n_params``". ``causal`` is False for
    encoder-only embedding models, which keep no KV cache.
    """

    arch: str
    n_layers: int
    n_embd: int
    n_heads: int
    n_kv_heads: int
    head_dim_k: int
    head_dim_v: int
    context_length: int
    vocab_size: int
    n_params: int
    n_active_params: int = 0
    expert_count: int = 0
    expert_used_count: int = 0
    sliding_window: int = 0
    sliding_layers: tuple[bool, ...] = ()
    kv_heads_per_layer: tuple[int, ...] = ()
    """Per-layer KV head counts where a model varies them (OpenELM); empty means uniform."""
    causal: bool = True
    source: str = "catalog"
    """Where the numbers came from: ``gguf``, ``ollama``, ``onnx`` or ``catalog``."""

    @property
    def active_params(self) -> int:
        """Parameters read per generated token (all of them for a dense model)."""
        return self.n_active_params or self.n_params

    @property
    def is_moe(self) -> bool:
        return self.expert_count > 1

    @property
    def n_sliding_layers(self) -> int:
        return sum(self.sliding_layers) if self.sliding_window > 0 else 0


# llama.cpp hard-codes the sliding-window layout of some architectures instead of writing it to the
# GGUF (src/llama-model.cpp, `hparams.set_swa_pattern(n)`); these are those values.
KNOWN_SWA_PATTERNS: dict[str, int] = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4}


def swa_flags_from_pattern(n_layers: int, pattern: int) -> tuple[bool, ...]:
    """Per-layer sliding flags for llama.cpp's integer ``sliding_window_pattern``.

    With pattern ``n`` the last layer of every group of ``n`` is full attention and the others
    slide (gemma3, n=6: layers 0-4 slide, layer 5 is full, ...). ``n == 0`` means every layer
    slides and ``n == 1`` none, as in llama.cpp's ``set_swa_pattern``.
    """
    if pattern <= 0:
        return (True,) * n_layers
    return tuple(i % pattern < pattern - 1 for i in range(n_layers))


# --------------------------------------------------------------------------------- bits per weight

# Whole-file averages for mixed GGUF variants (some tensors of a "Q4_K_M" file are Q6_K, so it is
# heavier than its main type). Measured by llama.cpp's quantize tool on Llama-3.1-8B
# (tools/quantize/README.md); Q3_K_M, IQ3_M, IQ3_XS and IQ2_M are not in that table and come from
# gollama's estimator. Used only for variants that are not on disk.
FILE_TYPE_BPW: dict[str, float] = {
    "Q2_K": 3.16,
    "Q3_K_S": 3.64,
    "Q3_K_M": 3.91,
    "Q3_K_L": 4.30,
    "Q4_K_S": 4.67,
    "Q4_K_M": 4.89,
    "Q5_K_S": 5.57,
    "Q5_K_M": 5.70,
    "Q6_K": 6.56,
    "Q8_0": 8.50,
    "F16": 16.0,
    "BF16": 16.0,
    "F32": 32.0,
    "IQ4_XS": 4.46,
    "IQ3_M": 3.7,
    "IQ3_XS": 3.3,
    "IQ2_M": 2.7,
}

# How GGUF file-type names and Ollama tags spell the same thing.
_ALIASES: dict[str, str] = {"FP16": "F16", "FP32": "F32", "Q4_K": "Q4_K_M", "Q3_K": "Q3_K_M"}

ONNX_PRECISIONS = ("int4", "int8", "fp16", "fp32")


def ggml_type_bpw(type_name: str) -> float:
    """Bits per weight of one ggml block type (``Q4_K`` → 4.5), from ``gguf.GGML_QUANT_SIZES``.

    Raises:
        KeyError: ``type_name`` is not a ggml type.
    """
    import gguf

    qtype = gguf.GGMLQuantizationType[type_name.upper()]
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    return type_size * 8 / block_size


def onnx_int4_bpw(block_size: int = 32, scale_bits: int = 16, zero_point_bits: int = 0) -> float:
    """Bits per weight of ONNX ``MatMulNBits`` 4-bit weights.

    Each block of ``block_size`` weights stores 4-bit values plus one scale (fp16 by default) and,
    for asymmetric quantization, a 4-bit zero point: block 32 symmetric gives 4 + 16/32 = 4.5.
    """
    return 4 + (scale_bits + zero_point_bits) / block_size


def normalize_quant(name: str) -> str:
    """Canonical quantization name: ``q4_K_M`` → ``Q4_K_M``, ``fp16`` → ``F16``, ``int4`` stays.

    ``fp16``/``fp32`` mean the same in Ollama tags and ONNX folders, so both become ``F16``/``F32``.
    """
    raw = name.strip()
    if raw.lower() in ("int4", "int8"):
        return raw.lower()
    up = raw.upper().removeprefix("MOSTLY_").removeprefix("ALL_")
    return _ALIASES.get(up, up)


def bits_per_weight(quant: str) -> float:
    """Average bits per weight of a whole file quantized as ``quant`` (a fallback estimate).

    Mixed GGUF variants use :data:`FILE_TYPE_BPW`; single block types (``Q4_0``, ``IQ2_XXS``,
    ``MXFP4``) come from ``gguf.GGML_QUANT_SIZES``; ONNX precisions are int4 (block 32 + fp16
    scale), int8, fp16 and fp32.

    Raises:
        ValueError: the name is not a known quantization.
    """
    q = normalize_quant(quant)
    onnx = {"int4": onnx_int4_bpw(), "int8": 8.0}
    if q in onnx:
        return onnx[q]
    if q in FILE_TYPE_BPW:
        return FILE_TYPE_BPW[q]
    try:
        return ggml_type_bpw(q)
    except KeyError:
        raise ValueError(f"{quant!r} is not a quantization type this tool knows") from None


# --------------------------------------------------------------------------------------- KV cache

KV_BYTES_PER_ELEMENT: dict[str, float] = {
    "f16": 2.0,
    "q8_0": 34 / 32,  # ggml Q8_0 block: 32 int8 + one fp16 scale = 34 bytes
    "q4_0": 18 / 32,  # ggml Q4_0 block: 32 nibbles + one fp16 scale = 18 bytes
}
"""Bytes per cached element for Ollama's ``OLLAMA_KV_CACHE_TYPE`` values."""


def kv_cache_bytes(dims: ArchDims, ctx: int, kv_type: str = "f16") -> int:
    """Bytes of the K and V caches for ``ctx`` tokens.

    Per layer: tokens × kv_heads × (key_length + value_length) × bytes per element, where tokens is
    ``ctx`` or, for a sliding-window layer, ``min(ctx, window)``. With key = value = head_dim this
    is the textbook 2 × layers × ctx × kv_heads × head_dim × bytes. MoE does not change it;
    encoder-only models keep none.

    Raises:
        ValueError: unknown ``kv_type``.
    """
    try:
        per_elem = KV_BYTES_PER_ELEMENT[kv_type.lower()]
    except KeyError:
        known = ", ".join(KV_BYTES_PER_ELEMENT)
        raise ValueError(f"KV cache type {kv_type!r} is not one of {known}") from None
    if not dims.causal or ctx <= 0:
        return 0
    elements = 0
    for layer in range(dims.n_layers):
        kv_heads = (
            dims.kv_heads_per_layer[layer]
            if layer < len(dims.kv_heads_per_layer)
            else dims.n_kv_heads
        )
        slides = (
            dims.sliding_window > 0
            and layer < len(dims.sliding_layers)
            and dims.sliding_layers[layer]
        )
        tokens = min(ctx, dims.sliding_window) if slides else ctx
        elements += tokens * kv_heads * (dims.head_dim_k + dims.head_dim_v)
    return math.ceil(elements * per_elem)


# ------------------------------------------------------------------------------- memory estimate


@dataclass(frozen=True, slots=True)
class OverheadModel:
    """Runtime memory beyond weights and KV cache, for one engine, fitted to measured RSS.

    ``tokens`` = min(context, ``batch``): the estimate is of a model that has taken a first prompt
    of up to one micro-batch and is generating. The terms, each a real buffer of the engine:

    * ``base_bytes``: the runtime itself once a model is loaded (allocator arenas, thread pools,
      graph objects, shared-library pages first touched by the load);
    * ``vocab_bytes`` per vocabulary entry: tokenizer tables (llama.cpp keeps each token's text,
      score and lookup maps);
    * ``weights_fraction`` × weights: copies the engine makes of its weights (ONNX Runtime
      prepacks ``MatMulNBits`` weights into its own layout);
    * ``logits_factor`` × tokens × vocab × 4: f32 logits of the prompt (ONNX Runtime GenAI computes
      them for every prompt token; llama.cpp only for the last, so its factor is 0);
    * ``scores_factor`` × tokens × tokens × heads × 4: f32 attention scores of the prompt batch
      (llama.cpp without flash attention, the CPU default; ~2 for K·Q and its softmax).

    ``kv_bytes_per_element`` fixes the cache's element size where the engine does not follow
    ``OLLAMA_KV_CACHE_TYPE`` (ONNX Runtime GenAI's CPU models keep an fp32 cache); 0 means the
    caller's ``kv_type``. A context later filled to its end can make llama.cpp without flash
    attention page in up to ``batch`` × context × heads × 4 × 2 bytes more scratch, which it
    reserves up front but touches only as the context grows.
    """

    engine: str
    base_bytes: int
    batch: int = 512
    """llama.cpp's ``n_ubatch`` and Ollama's default ``num_batch``."""
    vocab_bytes: float = 0.0
    weights_fraction: float = 0.0
    logits_factor: float = 0.0
    scores_factor: float = 0.0
    kv_bytes_per_element: float = 0.0
    calibrated: bool = True
    """False for a hand-made model that no measurement backs."""

    def tokens(self, ctx: int) -> int:
        """Tokens of the prompt batch the estimate assumes: min(``ctx``, ``batch``)."""
        return min(ctx, self.batch) if ctx > 0 else self.batch

    def bytes_for(self, dims: ArchDims, ctx: int, weights_bytes: int = 0) -> int:
        """Overhead in bytes for ``dims`` at context ``ctx`` with ``weights_bytes`` of weights."""
        t = self.tokens(ctx)
        logits = self.logits_factor * t * dims.vocab_size * 4
        scores = self.scores_factor * t * t * dims.n_heads * 4
        total = (
            self.base_bytes
            + self.vocab_bytes * dims.vocab_size
            + self.weights_fraction * weights_bytes
            + logits
            + scores
        )
        return round(total)


# Calibrated with bench/fit_accuracy.py on 2 CPU cores (llama-cpp-python 0.3.36, flash attention
# off; onnxruntime-genai 0.18.0 with onnxruntime 1.32.0), each load in a fresh process: RSS growth
# after loading, a prompt of one batch (min(ctx - 9, 512) tokens) and 8 decoded tokens; for ONNX
# Runtime plus its memory-mapped weights not yet paged in (the token embedding). Models: the
# committed tiny llama (2 layers, embd 64, vocab 323) and llamas the bench builds with random
# weights as real files: 60M (8 layers, embd 512, 8/4 heads, vocab 32000) and 150M (12 layers, embd
# 768, 12/4 heads, vocab 49152), as f32 and Q8_0 GGUF and ONNX int4, at contexts 256, 2048, 8192.
# Weighted least squares (by 1 / total) of what is left after weights + KV:
#
#   llama.cpp  tiny 9.5 / 17.1 MiB, 60M 22.8 / 36.0, 150M 30.0 / 49.6 (247 / 512-token prompt),
#              the same for f32 and Q8_0 and for contexts 2048 and 8192 (no weights term):
#              6.8 MiB + 357 B per vocab entry + 2.5 x prompt scores.
#   ORT GenAI  tiny 42.2 MiB, 60M 96.7 / 140.6, 150M 136.8 / 203.0 (247 / 512-token prompt):
#              42 MiB + 0.147 x weights + 1.36 x prompt logits.
#
# Estimated vs measured (MiB): llama.cpp tiny@256 9.9 vs 9.9, tiny@8192 19.4 vs 19.6, 60M f32@256
# 245.7 vs 245.8, 150M Q8_0@2048 230.6 vs 226.5 (+1.8 %), 150M f32@8192 725.6 vs 721.9; ORT tiny@256
# 42.7 vs 42.7, 60M@2048 261.5 vs 261.1, 150M@8192 609.6 vs 607.3. 21 of 22 rows are within 2 %;
# 60M Q8_0@256 measures 83.5 when run on its own but 93.7 whenever the whole synthetic set runs
# before it (-11 %, in every repeat): an allocation effect in llama.cpp this model does not follow.
LLAMACPP_OVERHEAD = OverheadModel(
    engine="llama.cpp",
    base_bytes=round(6.8 * 1024**2),
    vocab_bytes=357.0,
    scores_factor=2.5,
)
ORT_GENAI_OVERHEAD = OverheadModel(
    engine="onnxruntime-genai",
    base_bytes=42 * 1024**2,
    weights_fraction=0.147,
    logits_factor=1.36,
    kv_bytes_per_element=4.0,
)
DEFAULT_OVERHEAD = LLAMACPP_OVERHEAD
"""Ollama, llama.cpp servers, GGUF files and catalog variants all run on llama.cpp."""


def overhead_for(dims: ArchDims) -> OverheadModel:
    """The engine overhead model for a model: ONNX Runtime GenAI for ONNX folders, else llama.cpp."""
    return ORT_GENAI_OVERHEAD if dims.source == "onnx" else LLAMACPP_OVERHEAD


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    weights: int
    kv_cache: int
    overhead: int
    total: int


def memory_estimate(
    weights_bytes: int,
    dims: ArchDims,
    ctx: int,
    kv_type: str = "f16",
    overhead: OverheadModel | None = None,
) -> MemoryEstimate:
    """Memory to run a model: weights + KV cache at ``ctx`` + the engine's runtime overhead.

    This one function serves ``slmdeck fit``, the Variants screen and bench/fit_accuracy.py.
    ``overhead`` None picks the engine from ``dims`` (:func:`overhead_for`).
    """
    model = overhead if overhead is not None else overhead_for(dims)
    if model.kv_bytes_per_element:
        kv = kv_cache_bytes(dims, ctx, "f16") * model.kv_bytes_per_element / 2
        kv_bytes = math.ceil(kv)
    else:
        kv_bytes = kv_cache_bytes(dims, ctx, kv_type)
    extra = model.bytes_for(dims, ctx, weights_bytes)
    return MemoryEstimate(weights_bytes, kv_bytes, extra, weights_bytes + kv_bytes + extra)


# ------------------------------------------------------------------------------------- fit levels


class FitLevel(enum.StrEnum):
    PERFECT = "Perfect"
    GOOD = "Good"
    MARGINAL = "Marginal"
    TOO_TIGHT = "TooTight"


class Placement(enum.StrEnum):
    GPU = "GPU"
    CPU = "CPU"
    OFFLOAD = "GPU+CPU offload"
    NONE = "-"


PERFECT_HEADROOM = 0.20
"""Perfect: fits entirely in free VRAM (or, with no GPU, free RAM) leaving ≥ 20 % of it free."""
GOOD_HEADROOM = 0.10
"""Good: fits in one place leaving ≥ 10 % free, or split GPU+CPU leaving ≥ 20 % of both free."""
# Marginal: fits, with less headroom than Good asks. TooTight: more than free VRAM + RAM.

FIT_THRESHOLDS_TEXT = (
    f"Perfect: fits in free VRAM (no GPU: free RAM) with ≥{PERFECT_HEADROOM:.0%} left; "
    f"Good: ≥{GOOD_HEADROOM:.0%} left, or split GPU+CPU with ≥{PERFECT_HEADROOM:.0%} left; "
    "Marginal: fits with less; Too tight: does not fit in free VRAM + RAM"
)
"""One line for the UI to show next to fit levels."""

FIT_THRESHOLDS_SHORT = (
    f"Perfect ≥{PERFECT_HEADROOM:.0%} free left · Good ≥{GOOD_HEADROOM:.0%}, or GPU+CPU with "
    f"≥{PERFECT_HEADROOM:.0%} · Marginal: fits · Too tight: not even in VRAM + RAM"
)
"""The same, short enough for two lines at 80 columns (the Variants screen's legend)."""


@dataclass(frozen=True, slots=True)
class FitResult:
    level: FitLevel
    where: Placement
    headroom: float
    """Fraction of the memory used for the decision that stays free (negative: the shortfall)."""
    headroom_bytes: int


def _level(headroom: float) -> FitLevel:
    if headroom >= PERFECT_HEADROOM:
        return FitLevel.PERFECT
    if headroom >= GOOD_HEADROOM:
        return FitLevel.GOOD
    return FitLevel.MARGINAL


def fit_level(need: int, free_vram: int, free_ram: int) -> FitResult:
    """How well ``need`` bytes fit in live free memory, GPU first.

    All in free VRAM → GPU, graded by VRAM headroom. No GPU (``free_vram`` 0) → CPU, graded by RAM
    headroom. A GPU that is too small → layers split between VRAM and RAM (as Ollama does), graded
    by the headroom of both together but never better than Good, since the split is slower.
    """
    free_vram = max(free_vram, 0)
    free_ram = max(free_ram, 0)
    if free_vram > 0 and need <= free_vram:
        room = free_vram - need
        return FitResult(_level(room / free_vram), Placement.GPU, room / free_vram, room)
    if free_vram <= 0:
        room = free_ram - need
        if free_ram > 0 and room >= 0:
            return FitResult(_level(room / free_ram), Placement.CPU, room / free_ram, room)
        frac = room / free_ram if free_ram > 0 else -1.0
        return FitResult(FitLevel.TOO_TIGHT, Placement.NONE, frac, room)
    pool = free_vram + free_ram
    room = pool - need
    if room < 0:
        return FitResult(FitLevel.TOO_TIGHT, Placement.NONE, room / pool, room)
    frac = room / pool
    level = FitLevel.GOOD if frac >= PERFECT_HEADROOM else FitLevel.MARGINAL
    return FitResult(level, Placement.OFFLOAD, frac, room)


# ---------------------------------------------------------------------------------- memory pools

GIB = 1024**3

UNIFIED_TEXT = (
    "unified memory: CPU and GPU share one pool (available RAM, plus a GPU carve-out kept apart "
    "from RAM), graded as the GPU's; RAM and VRAM are not added twice"
)
"""One line for the UI to show when the fit is graded against unified memory."""

SET_BY_YOU = "set by you"
"""How a figure the user gave (``[hardware]`` or a ``slmdeck fit`` flag) is labelled."""


@dataclass(frozen=True, slots=True)
class MemoryPool:
    """The memory the fit is graded against, as detected (and perhaps overridden by the user).

    A discrete GPU is graded against its **free** VRAM (what the other processes leave), then RAM.
    Unified memory (a Jetson, an AMD APU, an Intel iGPU) is one pool: available RAM plus
    ``carve_out_free``, the part of the GPU's memory the BIOS keeps apart from RAM (an APU's VRAM;
    0 where the GPU's memory figures are RAM itself). Never VRAM + RAM of the same bytes.
    """

    free_ram: int
    """Bytes of RAM available to a new process (the kernel's ``MemAvailable``)."""
    free_vram: int = 0
    """Free VRAM summed over discrete GPUs (0: none)."""
    unified: bool = False
    carve_out_free: int = 0
    """Unified only: free GPU memory that is not part of RAM (an APU's VRAM carve-out)."""
    vram_total: int = 0
    """VRAM size of the discrete GPUs (0: unknown or none)."""
    vram_used: int = 0
    """VRAM other processes hold on the discrete GPUs now (before the model is loaded)."""
    gpus: tuple[str, ...] = ()
    """Names of the GPUs the figures come from."""
    set_by_you: frozenset[str] = frozenset()
    """Which figures the user gave: ``memory``, ``vram``, ``unified``."""
    notes: tuple[str, ...] = ()

    @property
    def shared(self) -> int:
        """Unified only: bytes of the one pool (available RAM + the free carve-out)."""
        return self.free_ram + self.carve_out_free

    def grading(self) -> tuple[int, int]:
        """``(free_vram, free_ram)`` for :func:`fit_level` and :func:`rank_variants`.

        Unified memory is handed over as a GPU with the whole pool and no RAM besides it, so a
        model is placed on the GPU, graded by the pool's headroom, and too tight when it exceeds
        the pool; the pool is never added to itself.
        """
        if self.unified:
            return self.shared, 0
        return self.free_vram, self.free_ram

    def with_overrides(
        self,
        memory_gib: float | None = None,
        vram_gib: float | None = None,
        unified: bool | None = None,
    ) -> MemoryPool:
        """This pool with what the user gave in place of what was detected.

        Args:
            memory_gib: RAM the fit may use, in GiB; on unified memory, the whole shared pool
                (the detected carve-out is then not added).
            vram_gib: Free VRAM of the discrete GPU, in GiB (0: grade as CPU only). Not used on
                unified memory, where it would count the same bytes twice.
            unified: Force one shared pool (``True``) or separate VRAM and RAM (``False``).
        """
        free_ram, free_vram, carve = self.free_ram, self.free_vram, self.carve_out_free
        is_unified = self.unified
        given = set(self.set_by_you)
        notes = list(self.notes)
        if unified is not None:
            if unified != is_unified and not unified and carve:
                free_vram = carve  # an APU graded as a discrete GPU: its carve-out is its VRAM
            is_unified = unified
            given.add("unified")
        if memory_gib is not None:
            free_ram = round(memory_gib * GIB)
            given.add("memory")
            if is_unified:
                carve = 0
        if vram_gib is not None:
            if is_unified:
                notes.append("vram_gib is not used on unified memory: memory_gib is the pool")
            else:
                free_vram = round(vram_gib * GIB)
                given.add("vram")
        return MemoryPool(
            free_ram=free_ram,
            free_vram=0 if is_unified else free_vram,
            unified=is_unified,
            carve_out_free=carve if is_unified else 0,
            vram_total=self.vram_total,
            vram_used=self.vram_used,
            gpus=self.gpus,
            set_by_you=frozenset(given),
            notes=tuple(notes),
        )


# ------------------------------------------------------------------------------------------ speed


def decode_tokps_ceiling(
    active_weight_bytes: int, kv_bytes_read: int, bandwidth_bytes_s: float
) -> float:
    """Upper bound of decode tokens/s: each token reads the active weights and the KV cache once.

    Decode is memory-bound, so tokens/s ≤ bandwidth ÷ bytes read per token. Returns 0.0 when the
    bandwidth is unknown (≤ 0) or nothing is read.
    """
    per_token = active_weight_bytes + kv_bytes_read
    if bandwidth_bytes_s <= 0 or per_token <= 0:
        return 0.0
    return bandwidth_bytes_s / per_token


# --------------------------------------------------------------------------------------- variants


@dataclass(frozen=True, slots=True)
class Variant:
    """One downloadable or installed form of a model (an Ollama tag, a GGUF file, an ONNX folder)."""

    tag: str
    quant: str
    bpw: float
    """0.0 when unknown."""
    file_size: int
    installed: bool = False
    size_estimated: bool = False
    """True when ``file_size`` is parameters × bits per weight rather than a measured size."""
    installed_as: str = ""
    """The name it is installed under when that differs from the registry tag (``qwen2.5:0.5b``
    for ``qwen2.5:0.5b-instruct-q4_K_M``); chat and delete need that name. Empty: ``tag``."""


@dataclass(frozen=True, slots=True)
class VariantFit:
    variant: Variant
    memory: MemoryEstimate
    fit: FitResult
    tokps_ceiling: float
    """0.0 when no bandwidth was given or the variant does not fit."""
    best: bool = False


@dataclass(frozen=True, slots=True)
class _Budget:
    free_vram: int
    free_ram: int
    bandwidth: float
    gpu_bandwidth: float


def _ceiling(
    v: Variant, dims: ArchDims, mem: MemoryEstimate, fit: FitResult, budget: _Budget
) -> float:
    if fit.level is FitLevel.TOO_TIGHT:
        return 0.0
    active = v.file_size
    if dims.n_params and dims.active_params < dims.n_params:
        active = round(v.file_size * dims.active_params / dims.n_params)
    per_token = active + mem.kv_cache
    if fit.where is Placement.GPU:
        return decode_tokps_ceiling(active, mem.kv_cache, budget.gpu_bandwidth)
    if fit.where is Placement.OFFLOAD and budget.gpu_bandwidth > 0 and budget.bandwidth > 0:
        on_gpu = min(1.0, budget.free_vram / mem.total)
        seconds = per_token * on_gpu / budget.gpu_bandwidth
        seconds += per_token * (1 - on_gpu) / budget.bandwidth
        return 1 / seconds if seconds > 0 else 0.0
    return decode_tokps_ceiling(active, mem.kv_cache, budget.bandwidth)


def rank_variants(
    variants: Iterable[Variant],
    dims: ArchDims,
    ctx: int,
    kv_type: str,
    free_vram: int,
    free_ram: int,
    bandwidth: float,
    *,
    gpu_bandwidth: float | None = None,
    overhead: OverheadModel | None = None,
) -> list[VariantFit]:
    """Memory, fit and speed ceiling of every variant, best quality (highest bpw) first.

    ``best`` marks the highest-quality variant whose fit is Perfect or Good; if none is, the
    highest-quality Marginal one; if nothing fits, none. ``bandwidth`` is host memory bandwidth
    (bytes/s, 0 if unknown); ``gpu_bandwidth`` that of the GPU, used for the part held in VRAM
    (defaults to ``bandwidth``); ``overhead`` None picks the engine's model from ``dims``.
    """
    budget = _Budget(
        free_vram, free_ram, bandwidth, bandwidth if gpu_bandwidth is None else gpu_bandwidth
    )
    ordered = sorted(variants, key=lambda v: (-v.bpw, -v.file_size, v.tag))
    rows: list[VariantFit] = []
    for v in ordered:
        mem = memory_estimate(v.file_size, dims, ctx, kv_type, overhead)
        fit = fit_level(mem.total, free_vram, free_ram)
        rows.append(VariantFit(v, mem, fit, _ceiling(v, dims, mem, fit, budget)))
    best = _pick_best(rows)
    if best is None:
        return rows
    return [
        VariantFit(r.variant, r.memory, r.fit, r.tokps_ceiling, i == best)
        for i, r in enumerate(rows)
    ]


def _pick_best(rows: Sequence[VariantFit]) -> int | None:
    for wanted in ((FitLevel.PERFECT, FitLevel.GOOD), (FitLevel.MARGINAL,)):
        for i, r in enumerate(rows):
            if r.fit.level in wanted:
                return i
    return None
