"""Ollama's model names: which strings ``ollama create`` accepts as ``FROM`` (or as a new name).

Ported from ollama/ollama ``types/model/name.go`` (``ParseName``, ``IsValid``, ``isValidPart``)
and ``internal/modelref`` (the ``:cloud``/``:local`` source suffix), as used by
``parseAndValidateModelRef`` in ``server/model_resolver.go``. A name is
``[host/][namespace/]model[:tag]``; missing parts take the defaults (``registry.ollama.ai``,
``library``, ``latest``). Every part is 1–80 bytes (the host up to 350) of ASCII letters, digits,
``_``, ``-`` and ``.``, starting with a letter, digit or ``_``; a namespace holds no ``.``; only the
host may hold ``:``. So a name holds no space.

A ``FROM`` value is first tried as a file or folder (relative to the Modelfile); only when that
does not exist is it sent as a name. :func:`looks_like_path` tells which values are meant as paths.

Pure Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MISSING = "!MISSING!"
DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_KINDS = ("host", "namespace", "model", "tag")


@dataclass(frozen=True, slots=True)
class Name:
    """A parsed name, defaults filled in as ``ParseName`` does."""

    host: str
    namespace: str
    model: str
    tag: str


def _cut_promised(s: str, sep: str) -> tuple[str, str, bool]:
    i = s.rfind(sep)
    if i < 0:
        return s, "", False
    return s[:i] or MISSING, s[i + len(sep) :] or MISSING, True


def parse_name(s: str) -> Name:
    """Ollama's ``ParseName``: split ``s`` into its parts and fill in the defaults."""
    host = namespace = tag = ""
    if s.rfind(":") > s.rfind("/"):
        s, tag, _ = _cut_promised(s, ":")
    s, model, promised = _cut_promised(s, "/")
    if not promised:
        model = s
    else:
        s, namespace, promised = _cut_promised(s, "/")
        if not promised:
            namespace = s
        else:
            _scheme, sep, rest = s.partition("://")
            host = rest if sep else s
    return Name(host or DEFAULT_HOST, namespace or DEFAULT_NAMESPACE, model, tag or DEFAULT_TAG)


def _alnum_(c: str) -> bool:
    return c == "_" or ("0" <= c <= "9") or ("A" <= c <= "Z") or ("a" <= c <= "z")


def part_problem(kind: str, s: str) -> str | None:
    """Why ``s`` is not a valid ``kind`` part (``host``, ``namespace``, ``model``, ``tag``)."""
    size = len(s.encode("utf-8", "surrogateescape"))
    longest = 350 if kind == "host" else 80
    if s == MISSING:
        return f"the {kind} is empty"
    if not 1 <= size <= longest:
        return f"the {kind} must be 1 to {longest} bytes long" + (f" ({size})" if size else "")
    for i, c in enumerate(s):
        if i == 0:
            if not _alnum_(c):
                return f"the {kind} {s!r} must start with a letter, a digit or _"
            continue
        if c in "_-":
            continue
        if c == ".":
            if kind == "namespace":
                return f"the namespace {s!r} must not hold a '.'"
            continue
        if c == ":":
            if kind != "host":
                return f"the {kind} {s!r} must not hold a ':'"
            continue
        if not _alnum_(c):
            what = "a space" if c == " " else "a tab" if c == "\t" else repr(c)
            return f"the {kind} {s!r} holds {what}: only letters, digits, _ - . are allowed"
    return None


def _strip_source(raw: str) -> tuple[str, str | None]:
    """``internal/modelref.ParseRef``: drop a ``:cloud``/``:local`` suffix; (base, error)."""

    def suffix(s: str) -> tuple[str, bool]:
        i = s.rfind(":")
        if i >= 0:
            tail = s[i + 1 :].strip()
            low = tail.lower()
            if low in ("cloud", "local"):
                return s[:i], True
            if "/" not in tail and low.endswith("-cloud"):
                return s[: i + 1] + tail[: -len("-cloud")], True
        return s, False

    raw = raw.strip()
    if not raw:
        return raw, "model is required"
    base, explicit = suffix(raw)
    if explicit and suffix(base)[1]:
        return base, "use either :local or :cloud, not both"
    return base, None


def name_problem(raw: str) -> str | None:
    """Why Ollama's server rejects ``raw`` as a model name (``invalid model name``), or None."""
    base, err = _strip_source(raw)
    if err is not None:
        return err
    n = parse_name(base)
    for kind, part in zip(_KINDS, (n.host, n.namespace, n.model, n.tag), strict=True):
        problem = part_problem(kind, part)
        if problem is not None:
            return problem
    return None


_PATHLIKE = re.compile(r"^(?:[./~\\]|[A-Za-z]:[\\/])|\\|\.(?:gguf|safetensors|bin)$", re.IGNORECASE)


def looks_like_path(value: str) -> bool:
    """Whether a ``FROM`` value is written as a file path (``./x.gguf``, ``/abs``, ``C:\\…``)."""
    return bool(_PATHLIKE.search(value.strip()))


__all__ = ["Name", "looks_like_path", "name_problem", "parse_name", "part_problem"]
