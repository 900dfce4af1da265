"""``slmdeck fit MODEL``: which variants of a model fit this machine, and how fast they could decode.

MODEL is a GGUF file, an ONNX GenAI folder, an installed model (an ONNX folder in the configured
model dirs by name, or an Ollama model, described by its ``/api/show``) or a catalog name
(``qwen2.5:3b``). Memory is weights + KV cache at ``--ctx`` + the engine's runtime overhead (fitted
to measured RSS by bench/fit_accuracy.py), judged against live free VRAM and RAM; the speed column
is the memory-bandwidth ceiling of decode, not a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.catalog import Catalog, CatalogEntry, CatalogError, default_catalog
from tui.core.gguf_info import (
    GGUFError,
    ModelFolderError,
    dims_from_ollama_model_info,
    read_genai_folder,
    read_gguf,
)
from tui.core.quant import (
    FIT_THRESHOLDS_TEXT,
    KV_BYTES_PER_ELEMENT,
    ONNX_PRECISIONS,
    ArchDims,
    Variant,
    VariantFit,
    bits_per_weight,
    measure_memory_bandwidth,
    normalize_quant,
    overhead_for,
    rank_variants,
)

if TYPE_CHECKING:
    from tui.backends.base import ModelInfo
    from tui.config import Config

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
    default_ctx: int = 0
    """The context the engine will really use when ``--ctx`` is not given (ONNX Runtime GenAI:
    ``search.max_length``); 0 means :data:`DEFAULT_CTX`."""


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
            return ResolvedModel(
                str(path), "onnx", onnx.dims, (variant,), onnx_notes, onnx.max_length
            )
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
    try:
        cat = catalog if catalog is not None else default_catalog()
        entry = cat.lookup(model)
    except CatalogError as exc:
        problems = [p for s in extra_sources for p in getattr(s, "problems", ())]
        raise FitInputError("; ".join([str(exc), *problems])) from None
    if installed_tags:
        entry = entry.with_installed(installed_tags)
    notes = [f"source: {entry.source}"]
    if entry.notes:
        notes.append(entry.notes)
    if any(v.size_estimated for v in entry.variants):
        notes.append("sizes marked ~ are parameters x bits per weight, not measured files")
    return ResolvedModel(entry.name, "catalog", entry.dims, entry.variants, tuple(notes))


# ------------------------------------------------------------------------------ installed models


def fill_gaps(real: ArchDims, catalog: ArchDims) -> ArchDims:
    """``real`` with its zero fields (an /api/show without vocab size, say) taken from the catalog."""
    gaps = {
        name: getattr(catalog, name)
        for name in ("vocab_size", "n_params", "context_length", "head_dim_k", "head_dim_v")
        if not getattr(real, name) and getattr(catalog, name)
    }
    return replace(real, **gaps) if gaps else real


def installed_variant(info: ModelInfo, n_params: int) -> Variant:
    """An installed model as a variant: its real size, bits per weight from its parameters."""
    quant = normalize_quant(info.quantization) if info.quantization else "?"
    bpw = info.size * 8 / n_params if n_params and info.size else 0.0
    return Variant(info.name, quant, bpw, info.size, installed=True)


def ollama_resolved(
    info: ModelInfo,
    dims: ArchDims,
    installed: Sequence[ModelInfo],
    entry: CatalogEntry | None,
) -> ResolvedModel:
    """Variants of an installed Ollama model: the catalog entry's tags (installed ones with their
    real size) or, for a model the catalog does not know, the installed model alone."""
    notes = [f"dimensions from {info.backend}'s /api/show"]
    if entry is None:
        notes.append("not in the offline catalog: only the installed variant is known")
        return ResolvedModel(
            info.name, "ollama", dims, (installed_variant(info, dims.n_params),), tuple(notes)
        )
    dims = fill_gaps(dims, entry.dims)
    entry = entry.with_installed([m.name for m in installed])
    aliases = dict(entry.aliases or {})
    tags = {v.tag for v in entry.variants}
    exact: dict[str, int] = {}
    for m in installed:
        target = aliases.get(m.name) or aliases.get(m.name.removesuffix(":latest")) or m.name
        if target not in tags and m is info and m.quantization:
            # An alias the catalog does not list (``llama3.2:latest``): match it by quantization.
            quant = normalize_quant(m.quantization)
            target = next((v.tag for v in entry.variants if v.quant == quant), target)
        if target in tags and m.size:
            exact[target] = m.size
    variants = tuple(
        replace(v, file_size=exact[v.tag], size_estimated=False, installed=True)
        if v.tag in exact
        else v
        for v in entry.variants
    )
    if any(v.size_estimated for v in variants):
        notes.append("sizes marked ~ are parameters x bits per weight (offline catalog)")
    return ResolvedModel(entry.name, "ollama", dims, variants, tuple(notes))


class OllamaSource:
    """Resolves a model installed in Ollama: ``/api/tags`` finds it, ``/api/show`` describes it.

    Returns None for a name Ollama does not have, or when Ollama cannot be reached; then
    :attr:`problems` says why, for the error message if nothing else knows the name either.
    """

    def __init__(
        self,
        host: str | None,
        catalog: Callable[[], Catalog] = default_catalog,
        proxy: str | None = None,
    ) -> None:
        self.host = host
        self.proxy = proxy
        self.catalog = catalog
        self.problems: list[str] = []

    def __call__(self, name: str) -> ResolvedModel | None:
        from tui.backends.base import BackendError

        try:
            return asyncio.run(self._resolve(name))
        except BackendError as exc:
            self.problems.append(f"installed Ollama models were not checked: {exc}")
            return None

    async def _resolve(self, name: str) -> ResolvedModel | None:
        from tui.backends.ollama import OllamaBackend

        backend = OllamaBackend(self.host, timeout=15.0, connect_timeout=2.0, proxy=self.proxy)
        try:
            models = await backend.list_models()
            wanted = {name, f"{name}:latest"} if ":" not in name else {name}
            found = [m for m in models if m.name in wanted]
            if not found:
                return None
            info = found[0]
            details = await backend.show(info.name)
        finally:
            await backend.aclose()
        if not details.model_info:
            return None
        meta = {"family": info.family, "parameter_size": info.parameter_size}
        dims = dims_from_ollama_model_info(details.model_info, meta)
        label = str(details.model_info.get("general.size_label") or "").lower()
        base = info.name.partition(":")[0]
        return ollama_resolved(info, dims, models, self._entry([info.name, f"{base}:{label}"]))

    def _entry(self, names: Sequence[str]) -> CatalogEntry | None:
        # ``llama3.2:latest`` is no catalog tag; its size label (3B) finds the entry.
        try:
            catalog = self.catalog()
        except CatalogError:
            return None
        for name in names:
            try:
                return catalog.lookup(name)
            except CatalogError:
                continue
        return None


class OnnxSource:
    """Resolves an ONNX GenAI folder installed in the configured model dirs, by its model name."""

    def __init__(self, model_dirs: Sequence[Path], foundry_cache: Path | None = None) -> None:
        self.model_dirs = list(model_dirs)
        self.foundry_cache = foundry_cache
        self.problems: list[str] = []

    def __call__(self, name: str) -> ResolvedModel | None:
        from tui.backends.onnx_genai import OnnxGenAIBackend

        backend = OnnxGenAIBackend(self.model_dirs, foundry_cache=self.foundry_cache)
        models = asyncio.run(backend.list_models())
        info = next((m for m in models if m.name == name), None)
        if info is None or info.path is None:
            return None
        try:
            folder = read_genai_folder(info.path)
        except ModelFolderError as exc:
            raise FitInputError(str(exc)) from None
        from tui.backends.onnx_genai import estimate_parameters
        from tui.core.safe_files import read_regular_text

        try:
            config = json.loads(read_regular_text(Path(info.path) / "genai_config.json"))
        except (OSError, ValueError) as exc:
            raise FitInputError(f"{info.path}/genai_config.json cannot be read ({exc})") from None
        n_params = estimate_parameters(config)
        dims = replace(folder.dims, n_params=n_params)
        precision = (info.quantization or "").lower() or "onnx"
        bpw = folder.weights_bytes * 8 / n_params if n_params else 0.0
        variants = [Variant(info.name, precision, bpw, folder.weights_bytes, installed=True)]
        notes = [f"installed ONNX folder {info.path}"]
        if n_params:
            for other in ONNX_PRECISIONS:
                if other != precision:
                    bpw = bits_per_weight(other)
                    size = round(n_params * bpw / 8)
                    variants.append(Variant(other, other, bpw, size, size_estimated=True))
            notes.append("sizes marked ~ are estimated parameters x bits per weight")
        notes.append(
            f"ONNX Runtime GenAI sizes its KV cache for search.max_length = {folder.max_length}"
        )
        return ResolvedModel(
            info.name, "onnx", dims, tuple(variants), tuple(notes), folder.max_length
        )


def installed_sources(config: Config | None = None) -> list[ModelSource]:
    """Resolvers for installed models, from the settings: ONNX model dirs first (local files),
    then Ollama (one loopback or LAN request) when it is enabled."""
    from tui.config import load_config

    cfg = config if config is not None else load_config()
    sources: list[ModelSource] = []
    if cfg.model_dirs or cfg.foundry_cache is not None:
        sources.append(OnnxSource(cfg.model_dirs, cfg.foundry_cache))
    if cfg.ollama_enabled:
        sources.append(OllamaSource(cfg.ollama_host, proxy=cfg.ollama_proxy or None))
    return sources


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
        "engine": overhead_for(model.dims).engine,
        "overhead_calibrated": overhead_for(model.dims).calibrated,
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
        help="GGUF file, ONNX GenAI folder, installed model or catalog name such as qwen2.5:3b",
    )
    parser.add_argument(
        "--ctx",
        type=int,
        default=None,
        help=f"context length (default {DEFAULT_CTX}; an ONNX model's search.max_length)",
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
    extra_sources: Sequence[ModelSource] | None = None,
    catalog: Catalog | None = None,
) -> int:
    """Print the variants of ``args.model`` with memory, fit and speed ceiling; return the exit code.

    ``extra_sources`` None means the installed models of the configured backends
    (:func:`installed_sources`); pass ``()`` for files and the catalog only.
    """
    given = getattr(args, "ctx", None)
    if given is not None and int(given) <= 0:
        print(f"--ctx must be a positive number of tokens, not {given}", file=sys.stderr)
        return EXIT_INPUT
    sources = installed_sources() if extra_sources is None else extra_sources
    try:
        model = resolve_dims(args.model, sources, catalog=catalog)
    except FitInputError as exc:
        from tui.core.sanitize import sanitize

        # The message may quote a server's error body: never let its escapes reach the terminal.
        print(sanitize(str(exc)), file=sys.stderr)
        return EXIT_INPUT
    ctx = int(given) if given is not None else (model.default_ctx or DEFAULT_CTX)
    args.ctx = ctx
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
    engine = overhead_for(d)
    print(
        f"MEMORY = weights + KV cache + {engine.engine} overhead (fitted to measured RSS"
        f" after a prompt of up to {engine.batch} tokens)"
        + ("" if engine.calibrated else ", overhead not calibrated")
        + "; TOK/S MAX = bandwidth / bytes read per token, a ceiling, not a measurement."
    )
    if engine.kv_bytes_per_element:
        print(f"{engine.engine} keeps its own KV cache type here; --kv-cache does not apply.")
    for note in model.notes:
        print(note)
    return EXIT_OK
