"""Which variants of a model there are, and its real dimensions: the fit resolution.

Shared by ``slmdeck fit`` (:mod:`tui.commands.fit`, a presenter over this) and the Variants
screen. A model is a GGUF file, an ONNX GenAI folder, an installed model (described by its
backend's ``show``: Ollama's ``/api/show``, an ONNX folder's ``genai_config.json``) or a name in
the offline catalog. Installed models are reached through a :class:`ModelDirectory` (the
controller, or the CLI's backends), so nothing here opens a connection of its own; what is read
here is the model files and the catalog, and those calls block (callers on the event loop run
them in a thread, as :func:`resolve_model` does).

Memory and fit arithmetic is :mod:`tui.core.quant`'s; live free memory and bandwidths are
:mod:`tui.monitor`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from tui.backends.base import Capability, ModelDetails, ModelInfo
from tui.core.catalog import Catalog, CatalogEntry, CatalogError, default_catalog
from tui.core.gguf_info import (
    GGUFError,
    ModelFolderError,
    dims_from_ollama_model_info,
    parse_parameter_size,
    read_genai_folder,
    read_gguf,
)
from tui.core.quant import ONNX_PRECISIONS, ArchDims, Variant, bits_per_weight, normalize_quant

DEFAULT_CTX = 4096
"""Ollama's default ``num_ctx``."""


class FitInputError(ValueError):
    """MODEL cannot be resolved: unknown name, missing or unreadable file."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model's dimensions and every variant of it the fit is computed for."""

    name: str
    kind: str
    """``gguf``, ``onnx``, ``catalog`` or whatever an extra source calls itself (``ollama``)."""
    dims: ArchDims
    variants: tuple[Variant, ...]
    notes: tuple[str, ...] = field(default=())
    default_ctx: int = 0
    """The context the engine will really use when no context is asked for (ONNX Runtime GenAI:
    ``search.max_length``); 0 means :data:`DEFAULT_CTX`."""


ModelSource = Callable[[str], "ResolvedModel | None"]
"""A resolver tried before the catalog (e.g. installed Ollama models); None means "not mine".

A source may have a ``problems`` list: why it could not look (quoted when nothing knows the name).
"""


class ModelDirectory(Protocol):
    """Where installed models are listed and described (the controller has these methods)."""

    def all_models(self) -> list[ModelInfo]:
        """Every installed model of every backend."""
        ...

    def supports(self, backend_id: str, capability: Capability) -> bool:
        """Whether ``backend_id`` can do ``capability``."""
        ...

    async def show(self, backend_id: str, name: str) -> ModelDetails:
        """What ``backend_id`` says about ``name``; raises ``BackendError``."""
        ...


# ------------------------------------------------------------------------ files and the catalog


def _looks_like_path(model: str) -> bool:
    # Ollama names may hold slashes too (hf.co/user/repo:Q4_K_M), so only explicit paths count.
    return model.lower().endswith(".gguf") or model.startswith(("/", "./", "../", "~"))


def _onnx_precision(name: str) -> str:
    lowered = name.lower()
    return next((p for p in ONNX_PRECISIONS if p in lowered), "onnx")


def _estimate_onnx_size(
    precision: str, n_params: int, dims: ArchDims, anchor: Variant | None
) -> int:
    """Bytes of an ONNX folder of ``precision`` not installed here.

    Without an installed folder to start from: parameters × bits per weight. With one (``anchor``,
    measured): its size plus the difference in bits of the weights a builder quantizes. The
    embedding table stays in its float type whatever the precision, so on a small model (where it
    is most of the weights) an int8 folder is never estimated below a real int4 one.
    """
    bpw = bits_per_weight(precision)
    if anchor is None:
        return round(n_params * bpw / 8)
    embedding = dims.vocab_size * dims.n_embd
    quantized = max(n_params - embedding, 0)
    delta = quantized * (bpw - bits_per_weight(anchor.quant)) / 8
    return max(round(anchor.file_size + delta), 0)


def _require_weights(folder: Path, weights: int) -> None:
    """A folder with no weights is nothing to fit: never graded "Perfect" for 0 bytes."""
    if weights <= 0:
        raise FitInputError(
            f"{folder} holds no weights (no .onnx or .onnx.data file): nothing to fit; "
            f"slmdeck check {folder} lists what the folder lacks"
        )


def _from_path(path: Path) -> ResolvedModel:
    if path.is_dir():
        try:
            onnx = read_genai_folder(path)
        except ModelFolderError as exc:
            raise FitInputError(str(exc)) from None
        _require_weights(path, onnx.weights_bytes)
        precision = _onnx_precision(path.name)
        variant = Variant(path.name, precision, 0.0, onnx.weights_bytes, installed=True)
        onnx_notes = (
            f"ONNX Runtime GenAI sizes its KV cache for search.max_length = {onnx.max_length}",
        )
        return ResolvedModel(str(path), "onnx", onnx.dims, (variant,), onnx_notes, onnx.max_length)
    try:
        info = read_gguf(path)
    except GGUFError as exc:
        raise FitInputError(str(exc)) from None
    bpw = info.weights_bytes * 8 / info.n_params if info.n_params else 0.0
    variant = Variant(path.name, info.file_type, bpw, info.weights_bytes, installed=True)
    return ResolvedModel(str(path), "gguf", info.dims, (variant,))


def resolve_dims(
    model: str,
    extra_sources: Sequence[ModelSource] = (),
    *,
    catalog: Catalog | Callable[[], Catalog] | None = None,
    installed_tags: Collection[str] = (),
) -> ResolvedModel:
    """Dimensions and variants of ``model``: a local file or folder, an extra source, the catalog.

    A GGUF file gives exact weights; an ONNX folder the sum of its ``.onnx``/``.onnx.data`` files;
    catalog variants carry estimated sizes unless the catalog knows them exactly. Blocking.

    Args:
        model: A path, or a name for the sources and the catalog.
        extra_sources: Tried in order before the catalog.
        catalog: The catalog, or what loads it when it is needed (default:
            :func:`~tui.core.catalog.default_catalog`).
        installed_tags: Catalog tags to mark installed.

    Raises:
        FitInputError: nothing knows the model, or its file cannot be read.
    """
    path = Path(model).expanduser()
    if path.exists() or _looks_like_path(model):
        return _from_path(path)
    for source in extra_sources:
        found = source(model)
        if found is not None:
            return found
    try:
        cat = catalog if isinstance(catalog, Catalog) else (catalog or default_catalog)()
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


def catalog_entry(
    names: Sequence[str], catalog: Callable[[], Catalog] = default_catalog
) -> CatalogEntry | None:
    """The catalog entry of the first of ``names`` the catalog knows; None if none (or no
    readable catalog). Blocking."""
    try:
        cat = catalog()
    except CatalogError:
        return None
    for name in names:
        try:
            return cat.lookup(name)
        except CatalogError:
            continue
    return None


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
    names: dict[str, str] = {}
    for m in installed:
        target = aliases.get(m.name) or aliases.get(m.name.removesuffix(":latest")) or m.name
        if target not in tags and m is info and m.quantization:
            # An alias the catalog does not list (``llama3.2:latest``): match it by quantization.
            quant = normalize_quant(m.quantization)
            target = next((v.tag for v in entry.variants if v.quant == quant), target)
        if target in tags and m.size:
            exact[target] = m.size
        if target in tags and (target not in names or m is info):
            names[target] = m.name
    variants = tuple(
        replace(
            v,
            file_size=exact.get(v.tag, v.file_size),
            size_estimated=v.size_estimated and v.tag not in exact,
            installed=True,
            installed_as=names[v.tag] if names[v.tag] != v.tag else "",
        )
        if v.tag in names
        else v
        for v in entry.variants
    )
    if any(v.size_estimated for v in variants):
        notes.append("sizes marked ~ are parameters x bits per weight (offline catalog)")
    return ResolvedModel(entry.name, "ollama", dims, variants, tuple(notes))


def onnx_resolved(info: ModelInfo, siblings: Sequence[ModelInfo], n_params: int) -> ResolvedModel:
    """Variants of an installed ONNX folder: every installed folder with the same architecture,
    plus the precisions not installed (estimated from the parameter count). Blocking.

    Raises:
        FitInputError: ``info`` has no folder here, or its folder cannot be read.
    """
    if info.path is None:
        raise FitInputError(f"{info.name} has no folder on this machine")
    try:
        main = read_genai_folder(info.path)
    except ModelFolderError as exc:
        raise FitInputError(str(exc)) from None
    _require_weights(Path(info.path), main.weights_bytes)
    dims = replace(main.dims, n_params=n_params)
    shape = (dims.n_layers, dims.n_embd, dims.n_heads, dims.n_kv_heads, dims.vocab_size)
    variants: list[Variant] = []
    seen: set[str] = set()
    for m in [info, *siblings]:
        if m.path is None or m.name in {v.tag for v in variants}:
            continue
        try:
            other = main if m is info else read_genai_folder(m.path)
        except ModelFolderError:
            continue
        d = other.dims
        if not other.weights_bytes:
            continue  # a sibling without weights is no variant to fit
        if (d.n_layers, d.n_embd, d.n_heads, d.n_kv_heads, d.vocab_size) != shape:
            continue
        precision = (m.quantization or "").lower()
        bpw = other.weights_bytes * 8 / n_params if n_params else 0.0
        variants.append(
            Variant(m.name, precision or "onnx", bpw, other.weights_bytes, installed=True)
        )
        seen.add(precision)
    notes = [f"dimensions from {Path(info.path).name}/genai_config.json"]
    if n_params:
        anchor = next((v for v in variants if v.quant in ONNX_PRECISIONS), None)
        for precision in ONNX_PRECISIONS:
            if precision not in seen:
                bpw = bits_per_weight(precision)
                size = _estimate_onnx_size(precision, n_params, dims, anchor)
                variants.append(Variant(precision, precision, bpw, size, size_estimated=True))
        if anchor is not None:
            notes.append(
                f"sizes marked ~ are the installed {anchor.quant} folder's size plus the "
                "difference in bits of the weights a builder quantizes (embeddings are kept)"
            )
        else:
            notes.append("sizes marked ~ are estimated parameters × bits per weight")
    notes.append(f"ONNX Runtime GenAI sizes its KV cache for search.max_length = {main.max_length}")
    return ResolvedModel(
        info.name, "onnx", dims, tuple(variants), tuple(notes), default_ctx=main.max_length
    )


def find_installed(
    models: Sequence[ModelInfo], model: str, backend_id: str = ""
) -> ModelInfo | None:
    """The installed model called ``model`` (or ``model:latest``), on ``backend_id`` if given."""

    def named(name: str) -> ModelInfo | None:
        return next(
            (m for m in models if m.name == name and (not backend_id or m.backend == backend_id)),
            None,
        )

    found = named(model)
    if found is None and ":" not in model:
        found = named(f"{model}:latest")
    return found


async def resolve_installed(
    directory: ModelDirectory,
    model: str,
    backend_id: str = "",
    *,
    catalog: Callable[[], Catalog] = default_catalog,
) -> ResolvedModel | None:
    """Dimensions and variants of ``model`` as installed, from its backend; None when it is not
    installed or its backend cannot describe it.

    Raises:
        FitInputError: The installed model's folder cannot be read.
        BackendError: The backend failed to describe the model.
    """
    models = directory.all_models()
    info = find_installed(models, model, backend_id)
    if info is None:
        return None
    can_show = directory.supports(info.backend, Capability.SHOW)
    if info.path is not None:
        n_params = parse_parameter_size(info.parameter_size)
        if can_show:
            details = await directory.show(info.backend, info.name)
            n_params = int(details.extra.get("parameters_estimated") or n_params)
        same = [m for m in models if m.backend == info.backend and m is not info]
        return await asyncio.to_thread(onnx_resolved, info, same, n_params)
    if not can_show:
        return None
    details = await directory.show(info.backend, info.name)
    if not details.model_info:
        return None
    meta = {"family": info.family, "parameter_size": info.parameter_size}
    dims = dims_from_ollama_model_info(details.model_info, meta)
    # ``llama3.2:latest`` is no catalog tag; its size label (3B) finds the entry.
    base = info.name.partition(":")[0]
    label = str(details.model_info.get("general.size_label") or "").lower()
    candidates = [info.name, *([f"{base}:{label}"] if label else [])]
    entry = await asyncio.to_thread(catalog_entry, candidates, catalog)
    on_backend = [m for m in models if m.backend == info.backend]
    return ollama_resolved(info, dims, on_backend, entry)


async def resolve_model(
    directory: ModelDirectory,
    model: str,
    backend_id: str = "",
    *,
    catalog: Callable[[], Catalog] = default_catalog,
) -> ResolvedModel:
    """Dimensions and variants of ``model`` for the Variants screen.

    An installed model is described by its backend (``show`` or its folder); anything else is a
    file or folder path read directly, or a catalog name, with the installed tags marked.

    Raises:
        FitInputError: nothing knows the model.
        BackendError: the backend failed to describe an installed model.
    """
    found = await resolve_installed(directory, model, backend_id, catalog=catalog)
    if found is not None:
        return found
    tags = [m.name for m in directory.all_models() if m.path is None]
    return await asyncio.to_thread(
        lambda: resolve_dims(model, (), catalog=catalog, installed_tags=tags)
    )
