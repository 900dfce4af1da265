"""The offline model catalog: families, sizes, Ollama tags, architecture dimensions.

The catalog ships inside the package (``tui/core/catalog.json``) so air-gapped machines have it; a
user file with the same layout is merged over it (a size given there replaces the shipped one,
new families and sizes are added). A variant without a ``size`` in bytes gets parameters × the
whole-file bits per weight of its quantization and is flagged ``size_estimated``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from tui.core.quant import (
    ArchDims,
    Variant,
    bits_per_weight,
    normalize_quant,
    swa_flags_from_pattern,
)
from tui.core.safe_files import read_regular_text


class CatalogError(LookupError):
    """A name is not in the catalog, or a catalog file is malformed; ``str(err)`` says which."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    family: str
    size: str
    dims: ArchDims
    variants: tuple[Variant, ...]
    source: str
    hf_repo: str = ""
    notes: str = ""
    default_tag: str = ""
    """The tag that ``family:size`` pulls."""
    aliases: Mapping[str, str] | None = None
    """Alias tag → the variant tag it points at (``qwen2.5:3b`` → ``qwen2.5:3b-instruct-q4_K_M``)."""

    @property
    def name(self) -> str:
        return f"{self.family}:{self.size}"

    def with_installed(self, tags: Collection[str]) -> CatalogEntry:
        """A copy with ``installed`` set on the variants whose tag (or an alias of it) is in ``tags``."""
        wanted = {_canonical_tag(t) for t in tags}
        alias_hits = {v for a, v in (self.aliases or {}).items() if a in wanted}
        variants = tuple(
            replace(v, installed=v.tag in wanted or v.tag in alias_hits) for v in self.variants
        )
        return replace(self, variants=variants)


def _canonical_tag(name: str) -> str:
    """``registry.ollama.ai/library/qwen2.5:3b`` → ``qwen2.5:3b``; a bare name gets ``:latest``."""
    n = name.strip()
    for prefix in ("registry.ollama.ai/", "library/"):
        n = n.removeprefix(prefix)
    return n if ":" in n else f"{n}:latest"


class Catalog:
    """Entries keyed by ``family:size``; look them up with :meth:`lookup`."""

    def __init__(self, entries: Mapping[str, CatalogEntry]) -> None:
        self._entries = dict(entries)
        self._by_tag: dict[str, CatalogEntry] = {}
        for e in self._entries.values():
            for v in e.variants:
                self._by_tag[v.tag.lower()] = e
            for alias in e.aliases or {}:
                self._by_tag[alias.lower()] = e

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def families(self) -> list[str]:
        return sorted({e.family for e in self._entries.values()})

    def sizes(self, family: str) -> list[str]:
        return [e.size for e in self._entries.values() if e.family == family.lower()]

    def lookup(self, name: str) -> CatalogEntry:
        """The entry for ``family:size``, a full tag, or a family that has a single size.

        Raises:
            CatalogError: unknown name, or a family with several sizes named without one.
        """
        raw = name.strip()
        key = raw.lower()
        for prefix in ("registry.ollama.ai/", "library/"):
            key = key.removeprefix(prefix)
        if key in self._entries:
            return self._entries[key]
        if key in self._by_tag:
            return self._by_tag[key]
        family, _, tag = key.partition(":")
        sizes = self.sizes(family)
        if sizes and (not tag or tag == "latest") and len(sizes) == 1:
            return self._entries[f"{family}:{sizes[0]}"]
        if sizes:
            listed = ", ".join(f"{family}:{s}" for s in sizes)
            if not tag:
                raise CatalogError(
                    f"{raw} has several sizes in the offline catalog; name one of {listed}"
                )
            raise CatalogError(f"{raw} is not in the offline catalog; it knows {listed}")
        raise CatalogError(
            f"{raw} is not in the offline catalog (it knows {', '.join(self.families())})"
        )


# ------------------------------------------------------------------------------------- loading


def _shipped() -> dict[str, Any]:
    text = resources.files("tui.core").joinpath("catalog.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    families: dict[str, Any] = {k: dict(v) for k, v in base.get("families", {}).items()}
    extra_families = extra.get("families", {})
    if not isinstance(extra_families, Mapping):
        raise CatalogError("the user catalog's 'families' is not an object")
    for name, fam in extra_families.items():
        if not isinstance(fam, Mapping):
            raise CatalogError(f"the user catalog's family {name!r} is not an object")
        key = str(name).lower()
        merged = dict(families.get(key, {}))
        sizes = dict(merged.get("sizes", {}))
        sizes.update(fam.get("sizes", {}))
        merged.update({k: v for k, v in fam.items() if k != "sizes"})
        merged["sizes"] = sizes
        families[key] = merged
    return {**base, "families": families}


def load_catalog(user_path: str | Path | None = None) -> Catalog:
    """The shipped catalog, with ``user_path`` (if it exists) merged over it.

    Raises:
        CatalogError: the user file is not valid JSON or an entry lacks what it needs.
    """
    data = _shipped()
    if user_path is not None:
        p = Path(user_path)
        if p.exists():
            try:
                extra = json.loads(read_regular_text(p))
            except (OSError, UnicodeDecodeError) as exc:
                raise CatalogError(f"the catalog file {p} cannot be read ({exc})") from None
            except json.JSONDecodeError as exc:
                raise CatalogError(
                    f"the catalog file {p} is not valid JSON (line {exc.lineno}: {exc.msg})"
                ) from None
            if not isinstance(extra, Mapping):
                raise CatalogError(f"the catalog file {p} does not hold a JSON object")
            data = _merge(data, extra)
    return parse_catalog(data)


USER_CATALOG_NAME = "catalog.json"
"""The user's catalog file, in slmdeck's config dir next to ``config.toml``."""


def default_catalog() -> Catalog:
    """The shipped catalog merged with the user's ``catalog.json`` from the config dir.

    Raises:
        CatalogError: the user's file exists but is not a valid catalog.
    """
    from tui.config import config_dir

    return load_catalog(config_dir() / USER_CATALOG_NAME)


def parse_catalog(data: Mapping[str, Any]) -> Catalog:
    """Build a :class:`Catalog` from the JSON layout of ``catalog.json``."""
    entries: dict[str, CatalogEntry] = {}
    for fam_name, fam in dict(data.get("families", {})).items():
        family = str(fam_name).lower()
        for size, spec in dict(fam.get("sizes", {})).items():
            entries[f"{family}:{size}"] = _entry(family, str(size), fam, spec)
    return Catalog(entries)


def _entry(family: str, size: str, fam: Mapping[str, Any], spec: Mapping[str, Any]) -> CatalogEntry:
    where = f"{family}:{size}"
    try:
        d = spec["dims"]
        n_layers = int(d["n_layers"])
        window = int(d.get("sliding_window", 0))
        pattern = d.get("sliding_window_pattern")
        flags = (
            swa_flags_from_pattern(n_layers, int(pattern)) if window and pattern is not None else ()
        )
        head_dim = int(d["head_dim"])
        n_params = int(d["n_params"])
        dims = ArchDims(
            arch=str(spec.get("arch") or fam.get("arch") or family),
            n_layers=n_layers,
            n_embd=int(d["n_embd"]),
            n_heads=int(d["n_heads"]),
            n_kv_heads=int(d["n_kv_heads"]),
            head_dim_k=head_dim,
            head_dim_v=int(d.get("head_dim_v", head_dim)),
            context_length=int(d["context_length"]),
            vocab_size=int(d["vocab_size"]),
            n_params=n_params,
            n_active_params=int(d.get("n_active_params", 0)),
            expert_count=int(d.get("expert_count", 0)),
            expert_used_count=int(d.get("expert_used_count", 0)),
            sliding_window=window,
            sliding_layers=flags,
            causal=bool(d.get("causal", True)),
            source="catalog",
        )
        variants: list[Variant] = []
        aliases: dict[str, str] = {}
        default_tag = ""
        for v in spec["variants"]:
            tag = str(v["tag"])
            quant = normalize_quant(str(v["quant"]))
            bpw = bits_per_weight(quant)
            exact = v.get("size")
            size_bytes = int(exact) if exact else round(n_params * bpw / 8)
            variants.append(Variant(tag, quant, bpw, size_bytes, size_estimated=not exact))
            if tag.lower() == where:
                default_tag = tag
            for alias in v.get("aliases", ()):
                aliases[str(alias)] = tag
                if alias == where:
                    default_tag = tag
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(
            f"the catalog entry {where} is incomplete or malformed ({exc})"
        ) from None
    return CatalogEntry(
        family=family,
        size=size,
        dims=dims,
        variants=tuple(variants),
        source=str(spec.get("source") or fam.get("source") or ""),
        hf_repo=str(spec.get("hf_repo", "")),
        notes=str(spec.get("notes") or fam.get("notes") or ""),
        default_tag=default_tag,
        aliases=aliases,
    )
