"""``slmdeck fit MODEL``: which variants of a model fit this machine, and how fast they could decode.

MODEL is a GGUF file, an ONNX GenAI folder or a catalog name (``qwen2.5:3b``). Memory is weights +
KV cache at ``--ctx`` + runtime overhead, judged against live free VRAM and RAM; the speed column is
the memory-bandwidth ceiling of decode, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui.core.catalog import Catalog, CatalogError, load_catalog
from tui.core.gguf_info import GGUFError, ModelFolderError, read_genai_folder, read_gguf
from tui.core.quant import (
    DEFAULT_OVERHEAD,
    FIT_THRESHOLDS_TEXT,
    KV_BYTES_PER_ELEMENT,
    ONNX_PRECISIONS,
    ArchDims,
    Variant,
    VariantFit,
    measure_memory_bandwidth,
    rank_variants,
)

DEFAULT_CTX = 4096
"""Ollama's default ``num_ctx``."""

EXIT_OK = 0
EXIT_INPUT = 2


class FitInputError(ValueError):
    """MODEL cannot be resolved: unknown name, missing or unreadable file."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    name: str
    kind: str
    """``gguf``, ``onnx``, ``catalog`` or whatever an extra source calls itself (``ollama``)."""
    dims: ArchDims
    variants: tuple[Variant, ...]
    notes: tuple[str, ...] = field(default=())


ModelSource = Callable[[str], "ResolvedModel | None"]
"""A resolver tried before the catalog (e.g. installed Ollama models); None means "not mine"."""


def _looks_like_path(model: str) -> bool:
    # Ollama names may hold slashes too (hf.co/user/repo:Q4_K_M), so only explicit paths count.
    return model.lower().endswith(".gguf") or model.startswith(("/", "./", "../", "~"))


def _onnx_precision(name: str) -> str:
    lowered = name.lower()
    return next((p for p in ONNX_PRECISIONS if p in lowered), "onnx")


def resolve_dims(
    model: str,
    extra_sources: Sequence[ModelSource] = (),
    *,
    catalog: Catalog | None = None,
    installed_tags: Collection[str] = (),
) -> ResolvedModel:
    """Dimensions and variants of ``model``: a local file or folder, an extra source, the catalog.

    A GGUF file gives exact weights; an ONNX folder the sum of its ``.onnx``/``.onnx.data`` files;
    catalog variants carry estimated sizes unless the catalog knows them exactly.

    Raises:
        FitInputError: nothing knows the model, or its file cannot be read.
    """
    path = Path(model).expanduser()
    if path.exists() or _looks_like_path(model):
        if path.is_dir():
            try:
                onnx = read_genai_folder(path)
            except ModelFolderError as exc:
                raise FitInputError(str(exc)) from None
            precision = _onnx_precision(path.name)
            variant = Variant(path.name, precision, 0.0, onnx.weights_bytes, installed=True)
            onnx_notes = (
                f"ONNX Runtime GenAI sizes its KV cache for search.max_length = {onnx.max_length}",
            )
            return ResolvedModel(str(path), "onnx", onnx.dims, (variant,), onnx_notes)
        try:
            info = read_gguf(path)
        except GGUFError as exc:
            raise FitInputError(str(exc)) from None
        bpw = info.weights_bytes * 8 / info.n_params if info.n_params else 0.0
        variant = Variant(path.name, info.file_type, bpw, info.weights_bytes, installed=True)
        return ResolvedModel(str(path), "gguf", info.dims, (variant,))
    for source in extra_sources:
        found = source(model)
        if found is not None:
            return found
    cat = catalog if catalog is not None else _default_catalog()
    try:
        entry = cat.lookup(model)
    except CatalogError as exc:
        raise FitInputError(str(exc)) from None
    if installed_tags:
        entry = entry.with_installed(installed_tags)
    notes = [f"source: {entry.source}"]
    if entry.notes:
        notes.append(entry.notes)
    if any(v.size_estimated for v in entry.variants):
        notes.append("sizes marked ~ are parameters x bits per weight, not measured files")
    return ResolvedModel(entry.name, "catalog", entry.dims, entry.variants, tuple(notes))


def _default_catalog() -> Catalog:
    from tui.config import config_dir

    try:
        return load_catalog(config_dir() / "catalog.json")
    except CatalogError as exc:
        raise FitInputError(str(exc)) from None


# ------------------------------------------------------------------------------- live resources


def free_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def gpu_free_and_bandwidth() -> tuple[int, float]:
    """Free VRAM summed over NVIDIA GPUs and the nominal bandwidth of the first; (0, 0) if none.

    Nominal bandwidth = max memory clock × 2 (double data rate) × bus width, from NVML.
    """
    try:
        import pynvml
    except ImportError:
        return 0, 0.0
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: quietly none
        return 0, 0.0
    try:
        free = 0
        bandwidth = 0.0
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            free += int(pynvml.nvmlDeviceGetMemoryInfo(handle).free)
            if i == 0:
                try:
                    clock_mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
                    bus_bits = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
                    bandwidth = clock_mhz * 1e6 * 2 * bus_bits / 8
                except Exception:
                    bandwidth = 0.0
        return free, bandwidth
    except Exception:
        return 0, 0.0
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _host_bandwidth(args: argparse.Namespace) -> float:
    if args.bandwidth is not None:
        return float(args.bandwidth) * 1e9
    from tui.config import data_dir

    return measure_memory_bandwidth(data_dir() / "bandwidth.json")


# ------------------------------------------------------------------------------------ formatting


def _human(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def _dims_line(d: ArchDims) -> str:
    parts = [
        f"{d.arch or '?'}",
        f"{d.n_layers} layers",
        f"embd {d.n_embd}",
        f"heads {d.n_heads}/{d.n_kv_heads} kv",
        f"head dim {d.head_dim_k}",
        f"context {d.context_length}",
        f"vocab {d.vocab_size}",
    ]
    if d.n_params:
        parts.append(f"{d.n_params / 1e9:.2f}B params")
    if d.is_moe:
        parts.append(f"MoE {d.expert_used_count}/{d.expert_count} experts")
    if d.n_sliding_layers:
        parts.append(f"{d.n_sliding_layers} sliding layers (window {d.sliding_window})")
    if not d.causal:
        parts.append("encoder, no KV cache")
    return ", ".join(parts)


def _table(rows: list[VariantFit]) -> list[str]:
    header = ("", "TAG", "QUANT", "BPW", "SIZE", "MEMORY", "FIT", "WHERE", "TOK/S MAX", "INSTALLED")
    body = []
    for r in rows:
        v = r.variant
        body.append(
            (
                "*" if r.best else "",
                v.tag,
                v.quant,
                f"{v.bpw:.2f}" if v.bpw else "?",
                ("~" if v.size_estimated else "") + _human(v.file_size),
                _human(r.memory.total),
                "Too tight" if r.fit.level == "TooTight" else str(r.fit.level),
                str(r.fit.where),
                f"{r.tokps_ceiling:.1f}" if r.tokps_ceiling else "-",
                "yes" if v.installed else "",
            )
        )
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *body)
    ]


def _report(
    model: ResolvedModel,
    rows: list[VariantFit],
    args: argparse.Namespace,
    vram: int,
    ram: int,
    bandwidth: float,
    gpu_bw: float,
) -> dict[str, Any]:
    return {
        "model": model.name,
        "kind": model.kind,
        "dims": asdict(model.dims),
        "ctx": args.ctx,
        "kv_cache_type": args.kv_cache,
        "free_vram": vram,
        "free_ram": ram,
        "bandwidth_bytes_s": bandwidth,
        "gpu_bandwidth_bytes_s": gpu_bw,
        "thresholds": FIT_THRESHOLDS_TEXT,
        "overhead_calibrated": DEFAULT_OVERHEAD.calibrated,
        "notes": list(model.notes),
        "variants": [
            {
                **asdict(r.variant),
                "memory": asdict(r.memory),
                "fit": r.fit.level.value,
                "where": r.fit.where.value,
                "headroom": r.fit.headroom,
                "tokps_ceiling": r.tokps_ceiling,
                "best": r.best,
            }
            for r in rows
        ],
    }


# ------------------------------------------------------------------------------------------- CLI


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``fit`` to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fit",
        help="which variants of a model fit this machine's free memory",
        description=__doc__,
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="GGUF file, ONNX GenAI folder or catalog name such as qwen2.5:3b",
    )
    parser.add_argument(
        "--ctx", type=int, default=DEFAULT_CTX, help=f"context length (default {DEFAULT_CTX})"
    )
    parser.add_argument(
        "--kv-cache",
        choices=sorted(KV_BYTES_PER_ELEMENT),
        default="f16",
        help="KV cache type, as OLLAMA_KV_CACHE_TYPE (default f16)",
    )
    parser.add_argument(
        "--bandwidth",
        type=float,
        default=None,
        metavar="GB_S",
        help="host memory bandwidth in GB/s instead of measuring it (measured once and cached)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)
    return parser


def run(
    args: argparse.Namespace,
    *,
    extra_sources: Sequence[ModelSource] = (),
    catalog: Catalog | None = None,
) -> int:
    """Print the variants of ``args.model`` with memory, fit and speed ceiling; return the exit code."""
    ctx = int(getattr(args, "ctx", DEFAULT_CTX))
    if ctx <= 0:
        print(f"--ctx must be a positive number of tokens, not {ctx}", file=sys.stderr)
        return EXIT_INPUT
    try:
        model = resolve_dims(args.model, extra_sources, catalog=catalog)
    except FitInputError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INPUT
    vram, gpu_bw = gpu_free_and_bandwidth()
    ram = free_ram()
    bandwidth = _host_bandwidth(args)
    rows = rank_variants(
        model.variants,
        model.dims,
        ctx,
        args.kv_cache,
        vram,
        ram,
        bandwidth,
        gpu_bandwidth=gpu_bw or None,
    )
    if args.json:
        print(json.dumps(_report(model, rows, args, vram, ram, bandwidth, gpu_bw), indent=2))
        return EXIT_OK
    d = model.dims
    print(f"{model.name} ({model.kind}): {_dims_line(d)}")
    if d.context_length and ctx > d.context_length:
        print(f"note: context {ctx} is beyond the model's trained context of {d.context_length}")
    print(
        f"context {ctx}, KV cache {args.kv_cache}; free RAM {_human(ram)}, free VRAM "
        f"{_human(vram) if vram else 'none (no NVIDIA GPU found)'}; memory bandwidth "
        f"{_human(bandwidth)}/s" + (f", GPU {_human(gpu_bw)}/s nominal" if gpu_bw else "")
    )
    print()
    for line in _table(rows):
        print(line)
    print()
    print("* best quality that fits. " + FIT_THRESHOLDS_TEXT + ".")
    print(
        "MEMORY = weights + KV cache + runtime overhead"
        + ("" if DEFAULT_OVERHEAD.calibrated else " (overhead constants not yet calibrated)")
        + "; TOK/S MAX = bandwidth / bytes read per token, a ceiling, not a measurement."
    )
    for note in model.notes:
        print(note)
    return EXIT_OK
