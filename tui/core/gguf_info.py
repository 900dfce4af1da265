"""Real architecture numbers from the files themselves: GGUF headers, Ollama's /api/show, ONNX folders.

``read_gguf`` reads only the header (key/values and tensor infos) with plain sequential reads, never
the tensor data, and skips long arrays such as the vocabulary without decoding them: a multi-GB
file costs its header's bytes (a few MB for a 150K-token vocabulary). Callers still run it from a
worker thread, since the file may be on a slow disk.
"""

from __future__ import annotations

import json
import os
import re
import struct
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

    try:
        with open_regular(p) as fh:
            header = _read_header(fh, file_size)
    except OSError as exc:
        raise GGUFError(f"{p} cannot be read ({exc.strerror or exc})") from None
    except (_Truncated, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise GGUFError(
            f"{p} is damaged or truncated and its GGUF header cannot be read ({exc})"
        ) from None
    kv, n_tokens, tensors = header.kv, header.n_tokens, header.tensors
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


class _Truncated(Exception):
    """The header ends before the bytes it announces."""


_CHUNK = 1 << 16
"""Bytes asked of the file per read: large enough that a vocabulary is a few dozen reads."""


class _Cursor:
    """Sequential little- or big-endian reads over a file, in chunks, never seeking back."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.offset = 0
        """Bytes of the file consumed so far (the position in the file of the next read)."""
        self.order = "<"

    def take(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"negative length {n}")
        end = self.pos + n
        if end > len(self.buf):
            parts = [self.buf[self.pos :]]
            have = len(parts[0])
            while have < n:
                chunk = self.fh.read(max(_CHUNK, n - have))
                if not chunk:
                    raise _Truncated(f"the header ends at byte {self.offset + have}")
                parts.append(chunk)
                have += len(chunk)
            self.buf, self.pos, end = b"".join(parts), 0, n
        out = self.buf[self.pos : end]
        self.pos = end
        self.offset += n
        return out

    def skip(self, n: int) -> None:
        # Skipped strings are short (tokens); reading them through is cheaper than seeking.
        self.take(n)

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(self.order + fmt, self.take(struct.calcsize(fmt)))[0]

    def u32(self) -> int:
        return int(self.unpack("I"))

    def u64(self) -> int:
        return int(self.unpack("Q"))

    def string(self) -> str:
        return self.take(self.u64()).decode("utf-8", errors="replace")


# GGUF value types (gguf.GGUFValueType): struct format of each scalar.
_STRING, _ARRAY = 8, 9
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}


@dataclass(slots=True)
class _Header:
    kv: dict[str, Any]
    n_tokens: int
    tensors: list[tuple[str, str, int, int]]
    """(name, ggml type name, elements, bytes) of every tensor."""


@dataclass(frozen=True, slots=True)
class _Skipped:
    """A long array left unread; only its length is kept."""

    length: int


def _value(cur: _Cursor, vtype: int, keep: bool) -> Any:
    """The value of type ``vtype`` at the cursor (None for a skipped long array)."""
    if vtype == _STRING:
        return cur.string()
    fmt = _SCALARS.get(vtype)
    if fmt is not None:
        return cur.unpack(fmt)
    if vtype != _ARRAY:
        raise ValueError(f"unknown value type {vtype}")
    sub = cur.u32()
    count = cur.u64()
    if not keep or count > _SHORT_ARRAY:
        _skip_array(cur, sub, count)
        return _Skipped(count)
    return [_value(cur, sub, True) for _ in range(count)]


def _skip_array(cur: _Cursor, sub: int, count: int) -> None:
    fmt = _SCALARS.get(sub)
    if fmt is not None:
        cur.skip(struct.calcsize(fmt) * count)
    elif sub == _STRING:
        for _ in range(count):
            cur.skip(cur.u64())
    elif sub == _ARRAY:
        for _ in range(count):
            _skip_array(cur, cur.u32(), cur.u64())
    else:
        raise ValueError(f"unknown array value type {sub}")


def _read_header(fh: Any, file_size: int) -> _Header:
    """Parse the header of the GGUF file ``fh`` (from its start), reading no tensor data.

    The tensors' declared extents are checked against ``file_size``, so a file cut inside its
    data is still found truncated without reading the data.
    """
    import gguf  # constants only: type names and block sizes

    cur = _Cursor(fh)
    if cur.take(4) != GGUF_MAGIC:
        raise ValueError("GGUF magic invalid")
    raw_version = cur.take(4)
    version = struct.unpack("<I", raw_version)[0]
    if version & 0xFFFF == 0:  # written for the other byte order
        cur.order = ">"
        version = struct.unpack(">I", raw_version)[0]
    if version not in (2, 3):
        raise ValueError(f"GGUF version {version} is not supported (2 and 3 are)")
    n_tensors, n_kv = cur.u64(), cur.u64()
    kv: dict[str, Any] = {}
    n_tokens = 0
    for _ in range(n_kv):
        name = cur.string()
        value = _value(cur, cur.u32(), True)
        if name == "tokenizer.ggml.tokens":
            n_tokens = value.length if isinstance(value, _Skipped) else len(value)
        if not isinstance(value, _Skipped):
            kv[name] = value
    tensors: list[tuple[str, str, int, int]] = []
    data_end = 0
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.u32()
        if n_dims > 8:
            raise ValueError(f"tensor {name} has {n_dims} dimensions")
        n_elements = 1
        for _ in range(n_dims):
            n_elements *= cur.u64()
        raw_type = cur.u32()
        offset = cur.u64()
        try:
            ggml_type = gguf.GGMLQuantizationType(raw_type)
            block, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
        except (ValueError, KeyError):
            raise ValueError(f"tensor {name} has an unknown type {raw_type}") from None
        n_bytes = n_elements * type_size // block
        tensors.append((name, ggml_type.name, n_elements, n_bytes))
        data_end = max(data_end, offset + n_bytes)
    alignment = kv.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"general.alignment {alignment!r} is not a power of two")
    data_start = cur.offset + (-cur.offset % alignment)
    if tensors and data_start + data_end > file_size:
        raise _Truncated(
            f"the tensors need {data_start + data_end} bytes and the file has {file_size}"
        )
    return _Header(kv, n_tokens, tensors)


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
