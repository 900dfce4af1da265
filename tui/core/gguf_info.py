"""Real architecture numbers from the files themselves: GGUF headers, Ollama's /api/show, ONNX folders.

``read_gguf`` memory-maps the file and parses every header field, which takes a second or two for a
large vocabulary: callers run it from a worker thread.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tui.core.quant import KNOWN_SWA_PATTERNS, ArchDims, swa_flags_from_pattern
from tui.core.safe_files import NotARegularFile, open_regular, read_regular_text

GGUF_MAGIC = b"GGUF"


class GGUFError(ValueError):
    """The file is missing, not a GGUF file, or cut short; ``str(err)`` says which, in a sentence."""


class ModelFolderError(ValueError):
    """An ONNX GenAI folder lacks a readable ``genai_config.json`` or its numbers."""


@dataclass(frozen=True, slots=True)
class GGUFInfo:
    dims: ArchDims
    weights_bytes: int
    """Exact sum of the tensors' byte sizes."""
    active_weights_bytes: int
    """Bytes read per token: for MoE, shared tensors plus the used experts' share of expert tensors."""
    tensor_types: Counter[str]
    """ggml type name → number of tensors of that type."""
    file_type: str
    """``general.file_type`` as a name (``Q4_K_M``), or the dominant tensor type if absent."""
    n_params: int
    file_size: int
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Scalar header fields and short arrays (long ones such as the vocabulary are left out)."""


_SHORT_ARRAY = 256


def read_gguf(path: str | Path) -> GGUFInfo:
    """Read a GGUF file's header: dimensions, exact weight bytes and tensor types.

    Raises:
        GGUFError: the path is missing or unreadable, not a GGUF file, or truncated.
    """
    p = Path(path)
    try:
        # A FIFO or device is refused before it is opened: its open() or read() could block.
        with open_regular(p) as fh:
            magic = fh.read(4)
            file_size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        raise GGUFError(f"{p} does not exist") from None
    except NotARegularFile as exc:
        if exc.kind == "a folder":
            raise GGUFError(f"{p} is a folder, not a GGUF file") from None
        raise GGUFError(f"{p} is {exc.kind}, not a GGUF file") from None
    except OSError as exc:
        raise GGUFError(f"{p} cannot be read ({exc.strerror or exc})") from None
    if magic != GGUF_MAGIC:
        raise GGUFError(f"{p} is not a GGUF file (it does not start with the GGUF magic bytes)")

    import gguf

    try:
        reader = gguf.GGUFReader(p, "r")
        kv: dict[str, Any] = {}
        for name, fld in reader.fields.items():
            if name.startswith("GGUF."):
                continue
            is_array = bool(fld.types) and fld.types[0] == gguf.GGUFValueType.ARRAY
            if is_array and len(fld.data) > _SHORT_ARRAY:
                continue
            kv[name] = fld.contents()
        tokens = reader.fields.get("tokenizer.ggml.tokens")
        n_tokens = len(tokens.data) if tokens is not None else 0
        tensors = [
            (t.name, t.tensor_type.name, int(t.n_elements), int(t.n_bytes)) for t in reader.tensors
        ]
    except Exception as exc:  # gguf raises bare ValueError/IndexError/struct.error on bad input
        raise GGUFError(
            f"{p} is damaged or truncated and its GGUF header cannot be read ({exc})"
        ) from None
    if not tensors:
        raise GGUFError(f"{p} is a GGUF file without tensors, so it holds no model weights")

    types: Counter[str] = Counter(t[1] for t in tensors)
    weights = sum(t[3] for t in tensors)
    n_params = sum(t[2] for t in tensors)
    expert_used = _int(kv, _arch_key(kv, "expert_used_count"))
    expert_count = _int(kv, _arch_key(kv, "expert_count"))
    active_params, active_bytes = n_params, weights
    if expert_count > 1 and expert_used > 0:
        # Expert tensors hold all experts stacked (llama.cpp names them *_exps); only the used
        # share of them is read per token.
        share = expert_used / expert_count
        exp_params = sum(t[2] for t in tensors if "_exps" in t[0])
        exp_bytes = sum(t[3] for t in tensors if "_exps" in t[0])
        active_params = n_params - exp_params + round(exp_params * share)
        active_bytes = weights - exp_bytes + round(exp_bytes * share)
    dims = dims_from_gguf_kv(
        kv, n_params=n_params, n_active_params=active_params, source="gguf", n_tokens=n_tokens
    )
    return GGUFInfo(
        dims=dims,
        weights_bytes=weights,
        active_weights_bytes=active_bytes,
        tensor_types=types,
        file_type=_file_type_name(kv.get("general.file_type"), types),
        n_params=n_params,
        file_size=file_size,
        metadata=kv,
    )


def _file_type_name(value: Any, types: Counter[str]) -> str:
    import gguf

    if isinstance(value, int):
        try:
            name = gguf.LlamaFileType(value).name
        except ValueError:
            name = ""
        if name:
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
    return types.most_common(1)[0][0] if types else ""


# ------------------------------------------------------------------------------------ GGUF keys


def _arch(kv: Mapping[str, Any]) -> str:
    return str(kv.get("general.architecture") or "")


def _arch_key(kv: Mapping[str, Any], suffix: str) -> str:
    return f"{_arch(kv)}.{suffix}"


def _int(kv: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = kv.get(key)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, list | tuple) and value and all(isinstance(x, int | float) for x in value):
        return int(max(value))
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def dims_from_gguf_kv(
    kv: Mapping[str, Any],
    *,
    n_params: int = 0,
    n_active_params: int = 0,
    source: str = "gguf",
    arch: str = "",
    n_tokens: int = 0,
) -> ArchDims:
    """Build :class:`ArchDims` from GGUF key/values (a file's header or Ollama's ``model_info``).

    Missing key/value lengths default to embedding ÷ heads, missing KV heads to the head count (as
    llama.cpp does). Sliding layers come from ``attention.sliding_window_pattern`` when present,
    else from the architecture's hard-coded pattern in llama.cpp; an unknown layout counts every
    layer as full, which over- rather than under-states the KV cache.
    """
    a = arch or _arch(kv)

    def key(s: str) -> str:
        return f"{a}.{s}"

    n_layers = _int(kv, key("block_count"))
    n_embd = _int(kv, key("embedding_length"))
    n_heads = _int(kv, key("attention.head_count"))
    kv_raw = kv.get(key("attention.head_count_kv"))
    per_layer: tuple[int, ...] = ()
    if isinstance(kv_raw, list | tuple) and kv_raw:
        per_layer = tuple(int(x) for x in kv_raw)
        n_kv = max(per_layer)
        if len(set(per_layer)) == 1:
            per_layer = ()
    else:
        n_kv = _int(kv, key("attention.head_count_kv")) or n_heads
    default_hd = n_embd // n_heads if n_heads else 0
    head_k = _int(kv, key("attention.key_length")) or default_hd
    head_v = _int(kv, key("attention.value_length")) or head_k
    window = _int(kv, key("attention.sliding_window"))
    flags: tuple[bool, ...] = ()
    if window > 0 and n_layers > 0:
        pattern = kv.get(key("attention.sliding_window_pattern"))
        if isinstance(pattern, list | tuple) and len(pattern) == n_layers:
            flags = tuple(bool(x) for x in pattern)
        elif isinstance(pattern, int) and not isinstance(pattern, bool):
            flags = swa_flags_from_pattern(n_layers, pattern)
        elif a in KNOWN_SWA_PATTERNS:
            flags = swa_flags_from_pattern(n_layers, KNOWN_SWA_PATTERNS[a])
    vocab = _int(kv, key("vocab_size"))
    if not vocab:
        tokens = kv.get("tokenizer.ggml.tokens")
        vocab = len(tokens) if isinstance(tokens, list | tuple) else n_tokens
    params = n_params or _int(kv, "general.parameter_count")
    causal_raw = kv.get(key("attention.causal"))
    causal = bool(causal_raw) if causal_raw is not None else a not in _ENCODERS
    return ArchDims(
        arch=a,
        n_layers=n_layers,
        n_embd=n_embd,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim_k=head_k,
        head_dim_v=head_v,
        context_length=_int(kv, key("context_length")),
        vocab_size=vocab,
        n_params=params,
        n_active_params=n_active_params if n_active_params and n_active_params != params else 0,
        expert_count=_int(kv, key("expert_count")),
        expert_used_count=_int(kv, key("expert_used_count")),
        sliding_window=window,
        sliding_layers=flags,
        kv_heads_per_layer=per_layer,
        causal=causal,
        source=source,
    )


# Encoder-only architectures: llama.cpp keeps no KV cache for them.
_ENCODERS = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "neo-bert", "t5encoder"}
)


# ----------------------------------------------------------------------------------------- Ollama

_SIZE_RE = re.compile(r"^\s*([\d.]+)\s*([KMBT]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def parse_parameter_size(text: str) -> int:
    """Ollama's ``parameter_size`` (``3.2B``, ``137M``) as a count; 0 when unreadable."""
    m = _SIZE_RE.match(text or "")
    if not m:
        return 0
    return round(float(m.group(1)) * _SCALE[m.group(2).upper()])


def _detail(details: Any, name: str) -> Any:
    if details is None:
        return None
    if isinstance(details, Mapping):
        return details.get(name)
    return getattr(details, name, None)


def dims_from_ollama_model_info(model_info: Mapping[str, Any], details: Any = None) -> ArchDims:
    """:class:`ArchDims` from ``/api/show``'s ``model_info`` (GGUF keys) and ``details``.

    ``details`` may be the JSON mapping or ollama-python's object. For MoE models the active
    parameters are estimated as total − unused experts × layers × 3 × embd × expert FFN length
    (three matrices per gated FFN expert), since ``model_info`` carries no per-tensor sizes.
    """
    kv = dict(model_info)
    arch = _arch(kv) or str(_detail(details, "family") or "")
    params = _int(kv, "general.parameter_count") or parse_parameter_size(
        str(_detail(details, "parameter_size") or "")
    )
    dims = dims_from_gguf_kv(kv, n_params=params, source="ollama", arch=arch)
    if dims.is_moe and dims.expert_used_count and dims.n_params:
        ff = _int(kv, f"{arch}.expert_feed_forward_length") or _int(
            kv, f"{arch}.feed_forward_length"
        )
        unused = dims.expert_count - dims.expert_used_count
        active = dims.n_params - dims.n_layers * 3 * dims.n_embd * ff * unused
        if 0 < active < dims.n_params:
            dims = replace(dims, n_active_params=active)
    return dims


# -------------------------------------------------------------------------------------- ONNX GenAI


@dataclass(frozen=True, slots=True)
class GenAIInfo:
    dims: ArchDims
    weights_bytes: int
    """Sum of the folder's ``.onnx`` and ``.onnx.data`` files."""
    files: tuple[tuple[str, int], ...]
    max_length: int
    """``search.max_length``: ONNX Runtime GenAI sizes its KV cache for this many tokens."""


def _weights_files(folder: Path) -> tuple[tuple[str, int], ...]:
    out = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and (f.name.endswith(".onnx") or f.name.endswith(".onnx.data")):
            out.append((str(f.relative_to(folder)), f.stat().st_size))
    return tuple(out)


def read_genai_folder(path: str | Path) -> GenAIInfo:
    """Dimensions from ``genai_config.json`` and weight bytes from the folder's ONNX files.

    Raises:
        ModelFolderError: no readable ``genai_config.json`` or it lacks the decoder's numbers.
    """
    folder = Path(path)
    cfg_path = folder / "genai_config.json"
    try:
        cfg = json.loads(read_regular_text(cfg_path))
    except FileNotFoundError:
        raise ModelFolderError(
            f"{folder} has no genai_config.json, so it is not an ONNX GenAI model"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{cfg_path} cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ModelFolderError(
            f"{cfg_path} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    model = cfg.get("model") if isinstance(cfg, dict) else None
    decoder = model.get("decoder") if isinstance(model, dict) else None
    if not isinstance(model, dict) or not isinstance(decoder, dict):
        raise ModelFolderError(f"{cfg_path} has no model.decoder section")
    try:
        n_layers = int(decoder["num_hidden_layers"])
        n_heads = int(decoder["num_attention_heads"])
        hidden = int(decoder["hidden_size"])
    except (KeyError, TypeError, ValueError):
        raise ModelFolderError(
            f"{cfg_path} lacks model.decoder.num_hidden_layers, num_attention_heads or hidden_size"
        ) from None
    n_kv = int(decoder.get("num_key_value_heads") or n_heads)
    head = int(decoder.get("head_size") or (hidden // n_heads if n_heads else 0))
    window = 0
    sw = decoder.get("sliding_window")
    if isinstance(sw, dict):
        window = int(sw.get("window_size") or 0)
    elif isinstance(sw, int):
        window = sw
    files = _weights_files(folder)
    search = cfg.get("search") if isinstance(cfg.get("search"), dict) else {}
    context = int(model.get("context_length") or 0)
    dims = ArchDims(
        arch=str(model.get("type") or ""),
        n_layers=n_layers,
        n_embd=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim_k=head,
        head_dim_v=head,
        context_length=context,
        vocab_size=int(model.get("vocab_size") or 0),
        n_params=0,
        sliding_window=window,
        # GenAI applies its window to every layer it is configured for; without a per-layer
        # layout we count all layers as full, which over- rather than under-states the cache.
        sliding_layers=(),
        source="onnx",
    )
    return GenAIInfo(
        dims, sum(s for _, s in files), files, int(search.get("max_length") or context)
    )


def dims_from_genai_config(path: str | Path) -> ArchDims:
    """The :class:`ArchDims` of an ONNX GenAI folder (see :func:`read_genai_folder`)."""
    return read_genai_folder(path).dims
