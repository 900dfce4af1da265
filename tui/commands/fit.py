"""``slmdeck fit MODEL``: which variants of a model fit this machine, and how fast they could decode.

MODEL is a GGUF file, an ONNX GenAI folder, an installed model (an ONNX folder in the configured
model dirs by name, or an Ollama model, described by its ``/api/show``) or a catalog name
(``qwen2.5:3b``). Memory is weights + KV cache at ``--ctx`` + the engine's runtime overhead (fitted
to measured RSS by bench/fit_accuracy.py), judged against live free VRAM and RAM; the speed column
is the memory-bandwidth ceiling of decode, not a measurement.

Discrete GPUs are judged against their free VRAM (what other processes leave); a Jetson, an AMD APU
or an Intel iGPU against one unified pool shared by CPU and GPU, never VRAM + RAM twice. What
detection gets wrong is overridden with --memory-gib, --vram-gib and --unified (or the config's
[hardware] table), shown as "set by you".

With --host NAME, the models are that [[hosts]] host's, and so is the memory: its node_exporter's
MemAvailable and its GPU exporter's free VRAM (or [fleet] prometheus's figures of it), read once
with the fleet collector. A host with no exporter, or one that does not answer, is graded against
this machine's memory instead, and the output says so; the flags still win.
"""

# The resolution is tui.core.fit's (shared with the Variants screen) and the readings of this
# machine tui.monitor.resources'; this module parses the arguments, opens the configured backends
# for installed models and prints.

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.catalog import Catalog, default_catalog
from tui.core.fit import (
    DEFAULT_CTX,
    FitInputError,
    ModelSource,
    ResolvedModel,
    resolve_dims,
    resolve_installed,
)
from tui.core.quant import (
    FIT_THRESHOLDS_TEXT,
    KV_BYTES_PER_ELEMENT,
    SET_BY_YOU,
    UNIFIED_TEXT,
    ArchDims,
    MemoryPool,
    VariantFit,
    overhead_for,
    rank_variants,
)
from tui.core.sanitize import sanitize
from tui.core.text import format_params, plural

if TYPE_CHECKING:
    from tui.backends.base import Backend, Capability, ModelDetails, ModelInfo
    from tui.config import Config

EXIT_OK = 0
EXIT_INPUT = 2


# ------------------------------------------------------------------------------ installed models


class _OneBackend:
    """One backend's listed models as a :class:`tui.core.fit.ModelDirectory`."""

    def __init__(self, backend: Backend, models: list[ModelInfo]) -> None:
        self.backend = backend
        self.models = models

    def all_models(self) -> list[ModelInfo]:
        return self.models

    def supports(self, backend_id: str, capability: Capability) -> bool:
        return capability in self.backend.capabilities

    async def show(self, backend_id: str, name: str) -> ModelDetails:
        return await self.backend.show(name)


async def _resolve_on(
    make: Callable[[], Backend], name: str, catalog: Callable[[], Catalog]
) -> ResolvedModel | None:
    backend = make()
    try:
        directory = _OneBackend(backend, await backend.list_models())
        return await resolve_installed(directory, name, catalog=catalog)
    finally:
        await backend.aclose()


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
        from tui.backends.ollama import OllamaBackend

        def make() -> Backend:
            return OllamaBackend(self.host, timeout=15.0, connect_timeout=2.0, proxy=self.proxy)

        try:
            return asyncio.run(_resolve_on(make, name, self.catalog))
        except BackendError as exc:
            self.problems.append(f"installed Ollama models were not checked: {exc}")
            return None


class OnnxSource:
    """Resolves an ONNX GenAI folder installed in the configured model dirs, by its model name."""

    def __init__(
        self,
        model_dirs: Sequence[Path],
        foundry_cache: Path | None = None,
        catalog: Callable[[], Catalog] = default_catalog,
    ) -> None:
        self.model_dirs = list(model_dirs)
        self.foundry_cache = foundry_cache
        self.catalog = catalog
        self.problems: list[str] = []

    def __call__(self, name: str) -> ResolvedModel | None:
        from tui.backends.base import BackendError
        from tui.backends.onnx_genai import OnnxGenAIBackend

        def make() -> Backend:
            return OnnxGenAIBackend(self.model_dirs, foundry_cache=self.foundry_cache)

        try:
            return asyncio.run(_resolve_on(make, name, self.catalog))
        except BackendError as exc:
            self.problems.append(f"installed ONNX models were not checked: {exc}")
            return None


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


def host_sources(name: str, config: Config | None = None) -> list[ModelSource] | str:
    """Resolvers for the models installed on ``[[hosts]]`` host ``name``: its Ollama (a remote
    host's ONNX folders are not readable from here); or why there is no such host."""
    from tui.config import load_config
    from tui.fleet.hosts import LOCAL

    cfg = config if config is not None else load_config()
    if name == LOCAL:
        return installed_sources(cfg)
    for host in cfg.hosts:
        if host.name == name:
            return [OllamaSource(host.ollama)] if host.ollama else []
    names = ", ".join(h.name for h in cfg.hosts) or LOCAL
    return f"slmdeck fit: no host named {sanitize(name)} (hosts: {sanitize(names)})"


def _host_bandwidth(args: argparse.Namespace, problems: list[str]) -> float:
    if args.bandwidth is not None:
        return float(args.bandwidth) * 1e9
    from tui.config import data_dir
    from tui.monitor.resources import HOST_BANDWIDTH_FILE, measure_memory_bandwidth

    return measure_memory_bandwidth(data_dir() / HOST_BANDWIDTH_FILE, problems=problems)


# ------------------------------------------------------------------------------------ formatting


def _human(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def _dims_line(d: ArchDims) -> str:
    parts = [
        f"{d.arch or '?'}",
        plural(d.n_layers, "layer"),
        f"embd {d.n_embd}",
        f"heads {d.n_heads}/{d.n_kv_heads} kv",
        f"head dim {d.head_dim_k}",
        f"context {d.context_length}",
        f"vocab {d.vocab_size}",
    ]
    if d.n_params:
        parts.append(f"{format_params(d.n_params)} params")
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
    pool: MemoryPool,
    bandwidth: float,
    gpu_bw: float,
) -> dict[str, Any]:
    return {
        "model": model.name,
        "kind": model.kind,
        "dims": asdict(model.dims),
        "ctx": args.ctx,
        "kv_cache_type": args.kv_cache,
        "free_vram": pool.free_vram,
        "free_ram": pool.free_ram,
        "memory": {
            "unified": pool.unified,
            "shared_pool": pool.shared if pool.unified else None,
            "carve_out_free": pool.carve_out_free,
            "vram_total": pool.vram_total,
            "vram_used_by_others": pool.vram_used,
            "graded_vram": pool.grading()[0],
            "graded_ram": pool.grading()[1],
            "gpus": list(pool.gpus),
            "set_by_you": sorted(pool.set_by_you),
            "notes": list(pool.notes),
        },
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


def _set(pool: MemoryPool, what: str) -> str:
    return f" ({SET_BY_YOU})" if what in pool.set_by_you else ""


def _memory_line(pool: MemoryPool, no_gpu: str = "no GPU found") -> str:
    """What the fit is graded against, in one clause; figures the user gave are marked.

    ``no_gpu``: why there is no VRAM, when there is none.
    """
    names = ", ".join(sanitize(n) for n in pool.gpus)
    on = f" on {names}" if names else ""
    if pool.unified:
        parts = f"{_human(pool.free_ram)} available RAM{_set(pool, 'memory')}"
        if pool.carve_out_free:
            parts += f" + {_human(pool.carve_out_free)} free GPU carve-out"
        return (
            f"unified memory{_set(pool, 'unified')}: {_human(pool.shared)} free ({parts}), "
            f"one pool shared by CPU and GPU{on}"
        )
    ram = f"free RAM {_human(pool.free_ram)}{_set(pool, 'memory')}"
    if not pool.free_vram and not pool.vram_total and "vram" not in pool.set_by_you:
        return f"{ram}, free VRAM none ({no_gpu}){_set(pool, 'unified')}"
    vram = f"free VRAM {_human(pool.free_vram)}{_set(pool, 'vram')}"
    if pool.vram_total and "vram" not in pool.set_by_you:
        vram += f" of {_human(pool.vram_total)}"
        if pool.vram_used:
            vram += f" (other processes hold {_human(pool.vram_used)})"
    return f"{ram}, {vram}{on}{_set(pool, 'unified')}"


def _overrides(args: argparse.Namespace, *, hardware: bool = True) -> dict[str, Any] | str:
    """``[hardware]`` from the config with the flags on top, or why a flag is not valid.

    Config problems in ``[hardware]`` are printed as notes (the detected figure is used).
    ``hardware`` False: the flags only (``[hardware]`` describes this machine, not a host's).
    """
    from tui.config import GIB_RANGES, load_config

    values: dict[str, Any] = {"memory_gib": None, "vram_gib": None, "unified": None}
    if hardware:
        cfg = load_config()
        for problem in cfg.problems:
            if problem.startswith("[hardware]"):
                print(f"note: config: {problem}", file=sys.stderr)
        values = {
            "memory_gib": cfg.hardware_memory_gib,
            "vram_gib": cfg.hardware_vram_gib,
            "unified": cfg.hardware_unified,
        }
    for key in ("memory_gib", "vram_gib"):
        given = getattr(args, key, None)
        if given is None:
            continue
        low, high = GIB_RANGES[("hardware", key)]
        if not (math.isfinite(given) and low <= given <= high):
            flag = "--" + key.replace("_", "-")
            return f"{flag} must be a number of GiB from {low:g} to {high:g}, not {given:g}"
        values[key] = float(given)
    if getattr(args, "unified", None) is not None:
        values["unified"] = bool(args.unified)
    return values


def _host_pool(name: str, flags: dict[str, Any]) -> tuple[MemoryPool | None, str, str]:
    """Host ``name``'s memory with the flags on top: ``(pool, where it comes from, "")``, or
    ``(None, "", why it is not known)``. Not read when the flags give all of it."""
    if flags["memory_gib"] is not None and (
        flags["vram_gib"] is not None or flags["unified"] is True
    ):
        return MemoryPool(free_ram=0).with_overrides(**flags), SET_BY_YOU, ""
    from tui.config import load_config
    from tui.fleet.figures import GPU_UNKNOWN, read_memory

    cfg = load_config()
    found, source = asyncio.run(read_memory(name, cfg.hosts, cfg.fleet))
    if isinstance(found, str):
        return None, "", found
    pool = found.with_overrides(**flags)
    if pool.unified or "vram" in pool.set_by_you:  # the flags said what the exporter could not
        pool = replace(pool, notes=tuple(n for n in pool.notes if GPU_UNKNOWN not in n))
    return pool, source, ""


# ------------------------------------------------------------------------------------------- CLI


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``fit`` to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fit",
        help="which variants of a model fit this machine's (or a host's) free memory",
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
    parser.add_argument(
        "--memory-gib",
        type=float,
        default=None,
        metavar="GIB",
        help="RAM the fit may use, instead of the detected available RAM (unified: the whole pool)",
    )
    parser.add_argument(
        "--vram-gib",
        type=float,
        default=None,
        metavar="GIB",
        help="free VRAM of the discrete GPU instead of the detected figure (0: CPU only)",
    )
    parser.add_argument(
        "--unified",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CPU and GPU share one memory pool (Jetson, APU, iGPU); --no-unified: they do not",
    )
    parser.add_argument(
        "--host",
        metavar="NAME",
        default=None,
        help="a [[hosts]] host's: its installed models, and its free memory from its "
        "node_exporter and GPU exporter (or [fleet] prometheus); without one, this machine's "
        "memory (--memory-gib and --vram-gib give that host's); bandwidth stays this machine's "
        "unless --bandwidth",
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
    from tui.fleet.hosts import LOCAL

    host = getattr(args, "host", None)
    remote = bool(host) and host != LOCAL
    overrides = _overrides(args, hardware=not remote)
    if isinstance(overrides, str):
        print(overrides, file=sys.stderr)
        return EXIT_INPUT
    if extra_sources is not None:
        sources: Sequence[ModelSource] = extra_sources
    elif host:
        found = host_sources(host)
        if isinstance(found, str):
            print(found, file=sys.stderr)
            return EXIT_INPUT
        sources = found
    else:
        sources = installed_sources()
    try:
        model = resolve_dims(args.model, sources, catalog=catalog)
    except FitInputError as exc:
        # The message may quote a server's error body: never let its escapes reach the terminal.
        print(sanitize(str(exc)), file=sys.stderr)
        return EXIT_INPUT
    ctx = int(given) if given is not None else (model.default_ctx or DEFAULT_CTX)
    args.ctx = ctx
    host_pool: MemoryPool | None = None
    source = "this machine"
    if remote:
        assert host is not None
        host_pool, read_from, why = _host_pool(host, overrides)
        source = read_from or source
        if host_pool is None:
            # One line, then the figures of today: this machine's, with the flags on top.
            print(
                f"note: host {sanitize(host)}'s free memory is not known ({sanitize(why)}); "
                "free memory and bandwidth are this machine's (--memory-gib and --vram-gib "
                "give that host's)",
                file=sys.stderr,
            )
            local = _overrides(args)
            overrides = local if not isinstance(local, str) else overrides
    gpu_bw = 0.0
    if host_pool is not None:
        pool = host_pool
    else:
        from tui.monitor.resources import detect_memory, gpu_free_and_bandwidth

        detected, sampler = detect_memory()
        pool = detected.with_overrides(**overrides)
        gpu_bw = gpu_free_and_bandwidth()[1] if sampler == "nvml" and not pool.unified else 0.0
    problems: list[str] = []
    bandwidth = _host_bandwidth(args, problems)
    for problem in problems:  # a read-only or full data dir costs the cache, not the answer
        print(f"note: {sanitize(problem)}", file=sys.stderr)
    if host_pool is not None and args.bandwidth is None:
        print(
            f"note: the memory is host {sanitize(str(host))}'s ({source}); the bandwidth is "
            "this machine's (--bandwidth gives that host's)",
            file=sys.stderr,
        )
    graded_vram, graded_ram = pool.grading()
    rows = rank_variants(
        model.variants,
        model.dims,
        ctx,
        args.kv_cache,
        graded_vram,
        graded_ram,
        bandwidth,
        gpu_bandwidth=gpu_bw or None,
    )
    if args.json:
        report = _report(model, rows, args, pool, bandwidth, gpu_bw)
        report["host"] = host or LOCAL
        report["memory"]["source"] = source
        print(json.dumps(report, indent=2))
        return EXIT_OK
    d = model.dims
    print(f"{model.name} ({model.kind}): {_dims_line(d)}")
    if d.context_length and ctx > d.context_length:
        print(f"note: context {ctx} is beyond the model's trained context of {d.context_length}")
    memory = _memory_line(pool)
    if host_pool is not None:
        memory = f"host {sanitize(str(host))} ({source}): " + _memory_line(
            pool, "no GPU exporter figures"
        )
    print(
        f"context {ctx}, KV cache {args.kv_cache}; {memory}; memory bandwidth "
        f"{_human(bandwidth)}/s" + (f", GPU {_human(gpu_bw)}/s nominal" if gpu_bw else "")
    )
    print()
    for line in _table(rows):
        print(line)
    print()
    print("* best quality that fits. " + FIT_THRESHOLDS_TEXT + ".")
    if pool.unified:
        print(UNIFIED_TEXT[0].upper() + UNIFIED_TEXT[1:] + ".")
    if pool.set_by_you:
        print(
            f"Figures marked ({SET_BY_YOU}) come from --memory-gib, --vram-gib, --unified or the "
            "config's [hardware] table, not from detection."
        )
    for note in pool.notes:
        print(f"note: {sanitize(note)}")
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
