"""A loopback server that speaks Ollama's REST API, for tests and benchmarks.

Every answer is shaped after Ollama's own source (ollama/ollama at fb30760, v0.33.0-rc2), read, not
copied: ``server/routes.go`` (handlers, ``streamResponse``/``waitForStream``), ``server/create.go``,
``server/images.go`` (pull, ``Model.String()``), ``server/download.go`` (pull progress),
``server/model_list_cache.go`` (/api/tags entries), ``parser/parser.go`` (Modelfile quoting),
``api/types.go`` (field order and ``omitempty``) and ``manifest/layer.go`` (layer statuses).
Byte-level details that clients see are kept:

* JSON is encoded the way Go's ``encoding/json`` does it: compact, struct fields in declaration order,
  map keys sorted, ``<``, ``>`` and ``&`` escaped as ``\\u003c``..., floats in Go's notation.
* ``c.JSON`` answers carry ``application/json; charset=utf-8``; streams are chunked
  ``application/x-ndjson`` with one object per chunk; an error before the first byte of a stream gets a
  real status and ``application/json``; an error after it is a last ``{"error":...}`` line under 200.
* Go's HTTP server switches to chunked encoding for un-sized bodies larger than 2048 bytes.

Stdlib only. Use :func:`start_replay_server` from tests, or run ``python -m tests.ollama_replay`` from the
repository root for benchmarks and manual checks (``--help`` lists the options).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

VERSION = "0.33.0-rc2"
"""What ``/api/version`` reports: the release the replay models (``version.Version`` is set by
``-ldflags -X`` from the tag, ``${GITHUB_REF_NAME#v}``, in .github/workflows/release.yaml)."""
_GO_CHUNKING_THRESHOLD = 2048  # net/http's bufferBeforeChunkingSize
_DIGEST_RE = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")
_NAME_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")
_QUANT_TYPES = {"F32", "F16", "BF16", "Q8_0", "Q4_K_S", "Q4_K_M", "Q4_K"}
_UNQUANTIZED = {"F32", "F16", "BF16"}

# --------------------------------------------------------------------------------------- Go encoding


def _go_float(value: float) -> str:
    """Format a float like Go's ``encoding/json`` (fixed notation unless tiny or huge)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {value}")
    if value == 0:
        return "0"
    mag = abs(value)
    if mag < 1e-6 or mag >= 1e21:
        text = repr(value).replace("e-0", "e-").replace("e+0", "e+")
        if "e" in text and "e-" not in text and "e+" not in text:
            text = text.replace("e", "e+")
        return text.replace(".0e", "e")
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _go_string(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def go_json(value: Any) -> str:
    """Encode ``value`` exactly as Go's ``json.Marshal`` would (dict order is kept as given)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_string(str(k))}:{go_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def rfc3339nano(ns: int, *, utc: bool = False) -> str:
    """Format a Unix time in ns as Go's ``time.Time`` JSON (RFC 3339, trailing zeros trimmed)."""
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(secs, dt.UTC if utc else None)
    if not utc:
        stamp = stamp.astimezone()
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    if utc:
        return text + "Z"
    offset = stamp.strftime("%z")
    return text + (f"{offset[:3]}:{offset[3:]}" if offset not in ("+0000", "") else "Z")


def _map(d: dict[str, Any]) -> dict[str, Any]:
    """A Go map: keys sorted."""
    return dict(sorted(d.items()))


# --------------------------------------------------------------------------------------- model data


@dataclasses.dataclass
class ReplayModel:
    """One model in the replay server's store (what a manifest plus its config and layers hold)."""

    name: str
    """Full name with tag, e.g. ``llama3.2:latest``."""
    digest: str
    """Bare hex sha256 of the manifest, as /api/tags shows it."""
    size: int
    family: str
    parameter_size: str
    quantization_level: str
    format: str = "gguf"
    families: list[str] | None = None
    parent_model: str = ""
    template: str = "{{ .Prompt }}"
    system: str = ""
    license: list[str] = dataclasses.field(default_factory=list)
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    """PARAMETERs as Ollama stores them (JSON values; ``stop`` is a list)."""
    model_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    capabilities: list[str] = dataclasses.field(default_factory=lambda: ["completion"])
    modified_at: str = ""
    layers: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    """(sha256:... digest, size) of every blob the manifest names, model weights first."""
    messages: list[dict[str, str]] = dataclasses.field(default_factory=list)
    requires: str = ""
    """The config's ``requires`` (minimum Ollama version, from a Modelfile's REQUIRES)."""
    tensors: list[dict[str, Any]] | None = None
    """``api.Tensor`` entries of the GGUF; None: made up from ``model_info`` (see
    :func:`default_tensors`)."""

    def __post_init__(self) -> None:
        if self.families is None:
            self.families = [self.family] if self.family else None
        if not self.modified_at:
            self.modified_at = rfc3339nano(time.time_ns())
        if not self.layers:
            self.layers = [(f"sha256:{_fake_digest(self.name, 'model')}", self.size)]

    @property
    def model_layer(self) -> tuple[str, int]:
        return self.layers[0]

    def details(self) -> dict[str, Any]:
        """``api.ModelDetails`` in field order."""
        return {
            "parent_model": self.parent_model,
            "format": self.format,
            "family": self.family,
            "families": self.families,
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }

    def context_length(self) -> int | None:
        value = self.model_info.get(f"{self.family}.context_length")
        return int(value) if isinstance(value, int | float) else None

    def embedding_length(self) -> int | None:
        value = self.model_info.get(f"{self.family}.embedding_length")
        return int(value) if isinstance(value, int | float) else None

    def list_details(self) -> dict[str, Any]:
        """``api.ModelDetails`` as /api/tags fills it: with ``context_length`` and
        ``embedding_length`` (omitempty), read from the GGUF's ``<arch>.context_length`` and
        ``<arch>.embedding_length`` keys (model_list_cache.go buildModelListSummary)."""
        out = self.details()
        if self.context_length():
            out["context_length"] = self.context_length()
        if self.embedding_length():
            out["embedding_length"] = self.embedding_length()
        return out

    def tensor_list(self) -> list[dict[str, Any]]:
        return default_tensors(self) if self.tensors is None else self.tensors

    def parameters_text(self) -> str:
        """The ``parameters`` text of /api/show: ``%-30s %#v`` per value (routes.go GetModelInfo);
        values are JSON-decoded, so numbers are float64s and print like Go's ``%v``."""
        lines = []
        for key, value in self.parameters.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{key:<30} {_go_sharp_v(item)}")
        return "\n".join(lines)

    def modelfile(self) -> str:
        """The Modelfile /api/show generates: ``Model.String()`` (images.go) behind a header,
        each command written by parser.go ``Command.String()``: values through ``quote()``,
        PARAMETERs as ``%v``, MESSAGEs as ``role content``."""
        out = [
            '# Modelfile generated by "ollama show"',
            "# To build a new Modelfile based on this, replace FROM with:",
            f"# FROM {self.name}",
            "",
            f"FROM /root/.ollama/models/blobs/{self.model_layer[0].replace(':', '-')}",
        ]
        if self.template:
            out.append(f"TEMPLATE {modelfile_quote(self.template)}")
        if self.system:
            out.append(f"SYSTEM {modelfile_quote(self.system)}")
        for key, value in self.parameters.items():
            for item in value if isinstance(value, list) else [value]:
                out.append(f"PARAMETER {key} {modelfile_quote(_go_v(item))}")
        for text in self.license:
            out.append(f"LICENSE {modelfile_quote(text)}")
        for msg in self.messages:
            out.append(f"MESSAGE {msg['role']} {modelfile_quote(msg['content'])}")
        return "\n".join(out) + "\n"


def modelfile_quote(text: str) -> str:
    """parser.go ``quote()``: a value with a newline or a leading/trailing space is wrapped in
    ``"..."``, or in ``\"\"\"...\"\"\"`` when it also holds a ``"``; anything else is written bare."""
    if "\n" in text or text.startswith(" ") or text.endswith(" "):
        if '"' in text:
            return f'"""{text}"""'
        return f'"{text}"'
    return text


def _go_g(value: float) -> str:
    """Go's ``%v`` for a float64 (``strconv.FormatFloat(v, 'g', -1, 64)``): the shortest digits,
    in exponent form when the decimal exponent is below -4 or at least 6 (``eprec = 6`` when
    shortest), so ``1e+06`` and ``1e-05`` but ``100000`` and ``0.0001``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exp = Decimal(repr(float(value))).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exp += len("".join(map(str, digit_tuple))) - len(digits)
    point = len(digits) + exp  # digits[:point] . digits[point:]
    e = point - 1
    out = "-" if sign else ""
    if e < -4 or e >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{out}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{out}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return out + digits + "0" * (point - len(digits))
    return f"{out}{digits[:point]}.{digits[point:]}"


def _go_v(value: Any) -> str:
    """Go's ``%v`` for a JSON-decoded value (numbers are float64s)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_g(float(value))
    return str(value)


def _go_sharp_v(value: Any) -> str:
    """Go's ``%#v`` for the JSON values a params layer holds (floats print as with ``%v``)."""
    if isinstance(value, str):
        return (
            _go_string(value)
            .replace("\\u003c", "<")
            .replace("\\u003e", ">")
            .replace("\\u0026", "&")
        )
    return _go_v(value)


def _fake_digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# Tensor types a quantization level gives (most weights, the sensitive ones), as llama.cpp's
# quantizer picks them (attn_v, ffn_down and token_embd get the larger type in the *_M mixes).
_TENSOR_TYPES = {
    "Q4_K_M": ("Q4_K", "Q6_K"),
    "Q4_K_S": ("Q4_K", "Q5_K"),
    "Q5_K_M": ("Q5_K", "Q6_K"),
    "Q4_0": ("Q4_0", "Q6_K"),
}


def default_tensors(m: ReplayModel) -> list[dict[str, Any]]:
    """A plausible ``tensors`` list for /api/show, in GGUF order, from the model's own
    dimensions (``api.Tensor``: name, type, shape, with ``ne[0]`` first as GGUF stores it).
    Empty (and so left out, omitempty) when ``model_info`` lacks the block count."""
    info = m.model_info
    arch = str(info.get("general.architecture") or m.family)

    def key(name: str, default: int = 0) -> int:
        value = info.get(f"{arch}.{name}")
        return int(value) if isinstance(value, int | float) and value else default

    blocks, embd = key("block_count"), key("embedding_length")
    if not blocks or not embd:
        return []
    heads = key("attention.head_count", 1)
    kv_heads = key("attention.head_count_kv", heads)
    head_dim = key("attention.key_length", embd // heads)
    ff = key("feed_forward_length", 4 * embd)
    vocab = key("vocab_size") or len(info.get("tokenizer.ggml.tokens") or []) or 32000
    main, big = _TENSOR_TYPES.get(m.quantization_level, (m.quantization_level,) * 2)

    def t(name: str, kind: str, *shape: int) -> dict[str, Any]:
        return {"name": name, "type": kind, "shape": list(shape)}

    out = [t("token_embd.weight", big, embd, vocab)]
    for i in range(blocks):
        b = f"blk.{i}."
        out += [
            t(b + "attn_k.weight", main, embd, kv_heads * head_dim),
            t(b + "attn_norm.weight", "F32", embd),
            t(b + "attn_output.weight", main, heads * head_dim, embd),
            t(b + "attn_q.weight", main, embd, heads * head_dim),
            t(b + "attn_v.weight", big, embd, kv_heads * head_dim),
            t(b + "ffn_down.weight", big, ff, embd),
            t(b + "ffn_gate.weight", main, embd, ff),
            t(b + "ffn_norm.weight", "F32", embd),
            t(b + "ffn_up.weight", main, embd, ff),
        ]
    out.append(t("output_norm.weight", "F32", embd))
    return out


LLAMA3_TEMPLATE = (
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "Cutting Knowledge Date: December 2023\n\n"
    "{{ if .System }}{{ .System }}{{ end }}<|eot_id|>\n"
    "{{- range $i, $_ := .Messages }}\n"
    "{{- $last := eq (len (slice $.Messages $i)) 1 }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}{{ if $last }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    "{{ end }}{{ end }}"
)
CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)


def seed_models() -> list[ReplayModel]:
    """A few installed models with the data a real Ollama reports for them."""
    return [
        ReplayModel(
            name="llama3.2:latest",
            digest="a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            size=2019393189,
            family="llama",
            parameter_size="3.2B",
            quantization_level="Q4_K_M",
            template=LLAMA3_TEMPLATE,
            license=["LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\nLlama 3.2 Version Release Date: ..."],
            parameters={"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]},
            model_info=_map(
                {
                    "general.architecture": "llama",
                    "general.basename": "Llama-3.2",
                    "general.file_type": 15,
                    "general.finetune": "Instruct",
                    "general.languages": ["en", "de", "fr", "it", "pt"],
                    "general.parameter_count": 3212749888,
                    "general.quantization_version": 2,
                    "general.size_label": "3B",
                    "general.tags": [],
                    "general.type": "model",
                    "llama.attention.head_count": 24,
                    "llama.attention.head_count_kv": 8,
                    "llama.attention.key_length": 128,
                    "llama.attention.layer_norm_rms_epsilon": 1e-05,
                    "llama.attention.value_length": 128,
                    "llama.block_count": 28,
                    "llama.context_length": 131072,
                    "llama.embedding_length": 3072,
                    "llama.feed_forward_length": 8192,
                    "llama.rope.dimension_count": 128,
                    "llama.rope.freq_base": 500000.0,
                    "llama.vocab_size": 128256,
                    "tokenizer.ggml.bos_token_id": 128000,
                    "tokenizer.ggml.eos_token_id": 128009,
                    "tokenizer.ggml.merges": [],
                    "tokenizer.ggml.model": "gpt2",
                    "tokenizer.ggml.pre": "llama-bpe",
                    "tokenizer.ggml.token_type": [],
                    "tokenizer.ggml.tokens": [],
                }
            ),
            capabilities=["completion", "tools"],
            modified_at="2025-05-04T17:37:44.706015396-07:00",
            layers=[
                (
                    "sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff",
                    2019377376,
                ),
                ("sha256:966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396", 1429),
                ("sha256:fcc5a6bec9daf9b561a68827b67ab6088e1dba9d1fa2a50d7bbcc8384e0a265d", 7711),
                ("sha256:a70ff7e570d97baaf4e62ac6e6ad9975e04caa6d900d3742d37698494479e0cd", 6016),
                ("sha256:56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb", 96),
                ("sha256:34bb5ab01051a11372a91f95f3fbbc51173eed8e7f13ec395b9ae9b8bd0e242b", 561),
            ],
        ),
        ReplayModel(
            name="qwen2.5:0.5b",
            digest="a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67",
            size=397821319,
            family="qwen2",
            parameter_size="494.03M",
            quantization_level="Q4_K_M",
            template=CHATML_TEMPLATE,
            system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
            license=["Apache License\nVersion 2.0, January 2004"],
            parameters={"stop": ["<|im_start|>", "<|im_end|>"]},
            model_info=_map(
                {
                    "general.architecture": "qwen2",
                    "general.basename": "Qwen2.5",
                    "general.file_type": 15,
                    "general.finetune": "Instruct",
                    "general.parameter_count": 494032768,
                    "general.quantization_version": 2,
                    "general.size_label": "0.5B",
                    "general.type": "model",
                    "qwen2.attention.head_count": 14,
                    "qwen2.attention.head_count_kv": 2,
                    "qwen2.attention.layer_norm_rms_epsilon": 1e-06,
                    "qwen2.block_count": 24,
                    "qwen2.context_length": 32768,
                    "qwen2.embedding_length": 896,
                    "qwen2.feed_forward_length": 4864,
                    "qwen2.rope.freq_base": 1000000.0,
                    "tokenizer.ggml.model": "gpt2",
                    "tokenizer.ggml.pre": "qwen2",
                    "tokenizer.ggml.tokens": [],
                }
            ),
            capabilities=["completion", "tools"],
            modified_at="2025-04-28T09:12:03.118250712+02:00",
        ),
        ReplayModel(
            name="qwen3:0.6b",
            digest="7df6b6e09427a769808717c0a93cadc4ae99ed4eb8bf5ca557c90846becea435",
            size=522653767,
            family="qwen3",
            parameter_size="751.63M",
            quantization_level="Q4_K_M",
            template=CHATML_TEMPLATE,
            parameters={
                "repeat_penalty": 1,
                "stop": ["<|im_start|>", "<|im_end|>"],
                "temperature": 0.6,
                "top_k": 20,
                "top_p": 0.95,
            },
            model_info=_map(
                {
                    "general.architecture": "qwen3",
                    "general.file_type": 15,
                    "general.parameter_count": 751632384,
                    "qwen3.attention.head_count": 16,
                    "qwen3.attention.head_count_kv": 8,
                    "qwen3.attention.key_length": 128,
                    "qwen3.attention.value_length": 128,
                    "qwen3.block_count": 28,
                    "qwen3.context_length": 40960,
                    "qwen3.embedding_length": 1024,
                    "qwen3.feed_forward_length": 3072,
                }
            ),
            capabilities=["completion", "tools", "thinking"],
            modified_at="2025-06-02T11:40:19.5-07:00",
        ),
        ReplayModel(
            name="nomic-embed-text:latest",
            digest="0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
            size=274302450,
            family="nomic-bert",
            parameter_size="137M",
            quantization_level="F16",
            template="",
            parameters={"num_ctx": 8192},
            model_info=_map(
                {
                    "general.architecture": "nomic-bert",
                    "general.file_type": 1,
                    "general.parameter_count": 136727040,
                    "nomic-bert.attention.head_count": 12,
                    "nomic-bert.block_count": 12,
                    "nomic-bert.context_length": 2048,
                    "nomic-bert.embedding_length": 768,
                }
            ),
            capabilities=["embedding"],
            modified_at="2025-03-11T08:00:00-07:00",
        ),
    ]


def pullable_catalog() -> list[ReplayModel]:
    """Models /api/pull can fetch that are not installed at start."""
    return [
        ReplayModel(
            name="smollm2:135m",
            digest="9077fe9d2ae1a4a8bb7bbbd1a3c1d8b6a3c1c7b5f0d9f0b1d4c8a2a1e2d3c4b5",
            size=270898672,
            family="llama",
            parameter_size="134.52M",
            quantization_level="F16",
            template=CHATML_TEMPLATE,
            parameters={"stop": ["<|im_start|>", "<|im_end|>"]},
            model_info=_map(
                {
                    "general.architecture": "llama",
                    "general.parameter_count": 134515008,
                    "llama.attention.head_count": 9,
                    "llama.attention.head_count_kv": 3,
                    "llama.block_count": 30,
                    "llama.context_length": 8192,
                    "llama.embedding_length": 576,
                }
            ),
        ),
        ReplayModel(
            name="tinyllama:latest",
            digest="2644915ede352ea7bdfaff0bfac0be74c719d5d5202acb63a6fb095b52f394a4",
            size=637700138,
            family="llama",
            parameter_size="1B",
            quantization_level="Q4_0",
            template="<|system|>\n{{ .System }}</s>\n<|user|>\n{{ .Prompt }}</s>\n<|assistant|>\n",
            parameters={"stop": ["<|system|>", "<|user|>", "<|assistant|>", "</s>"]},
            model_info=_map(
                {
                    "general.architecture": "llama",
                    "general.parameter_count": 1100048384,
                    "llama.attention.head_count": 32,
                    "llama.attention.head_count_kv": 4,
                    "llama.block_count": 22,
                    "llama.context_length": 2048,
                    "llama.embedding_length": 2048,
                }
            ),
        ),
    ]


# --------------------------------------------------------------------------------------- replies


def tokenize(text: str) -> list[str]:
    """Split a reply into word-sized tokens that join back to ``text``."""
    return re.findall(r"\s*\S+|\s+", text)


def default_reply(model: str, prompt: str) -> str:
    """The deterministic answer when no reply was configured."""
    return (
        f'Hello! You said: "{prompt}". This is a replayed answer from {model}, '
        "the same every time you ask."
    )


def markdown_reply(tokens: int) -> str:
    """A long, deterministic Markdown reply of about ``tokens`` tokens (prose, code, tables)."""
    blocks = [
        "## Measuring throughput on an edge box\n\n"
        "Small models trade **quality** for *speed*; the numbers below are replayed, "
        "not measured, so treat them as a load pattern rather than a benchmark.\n\n",
        "```python\ndef tokens_per_second(count: int, seconds: float) -> float:\n"
        "    if seconds <= 0:\n        return 0.0\n    return count / seconds\n```\n\n",
        "| model | quant | size | tok/s |\n| --- | --- | ---: | ---: |\n"
        "| llama3.2:3b | Q4_K_M | 2.0 GB | 41.7 |\n| qwen2.5:0.5b | Q4_K_M | 398 MB | 162.3 |\n\n",
        "1. Load the model once and keep it warm.\n2. Stream the reply token by token.\n"
        "3. Report `eval_count / eval_duration` as the rate.\n\n",
        "> Memory bandwidth, not compute, bounds decoding speed for batch size one.\n\n",
    ]
    text = "".join(blocks)
    while len(tokenize(text)) < tokens:
        text += "".join(blocks)
    return "".join(tokenize(text)[:tokens])


# --------------------------------------------------------------------------------------- faults


@dataclasses.dataclass
class Faults:
    """Misbehaviour to inject. Applies to requests whose path is in ``paths`` (all when empty)."""

    die_after_chunks: int | None = None
    """Close the socket after writing this many stream chunks (no terminating chunk)."""
    garbage_after_chunks: int | None = None
    """Write a non-JSON line after this many chunks (non-streaming answers: a non-JSON body)."""
    bad_utf8_after_chunks: int | None = None
    """Write a line that is JSON except for bytes that are not valid UTF-8 (a ``message`` and a
    ``response`` whose text holds ``\\xff\\xfe``) after this many chunks; the stream goes on."""
    delay_first_byte: float = 0.0
    """Seconds to wait before answering anything."""
    error_status: int | None = None
    """Answer with this status and ``{"error": error_message}`` instead of the real answer."""
    error_message: str = "something went wrong"
    error_body: bytes | None = None
    """With ``error_status``: send these bytes (e.g. a proxy's HTML page) instead of the JSON error."""
    error_content_type: str = "text/html; charset=utf-8"
    """The Content-Type of ``error_body``."""
    end_after_chunks: int | None = None
    """End the stream cleanly after this many chunks: the terminating chunk is written and the
    connection stays usable, with no error line, so the last line (``done``/``success``) never
    comes (a proxy or a server that gives up quietly)."""
    drip_interval: float = 0.0
    """Seconds between the bytes of a plain (non-streaming) answer's body: the headers come at once,
    then the body trickles (0: all at once)."""
    replace_body: bytes | None = None
    """Send these bytes instead of a non-streaming 2xx answer's JSON (e.g. valid JSON of the wrong
    shape, to exercise a client's validation)."""
    paths: frozenset[str] = frozenset()
    times: int | None = None
    """How many requests the faults apply to before they clear themselves (None: until cleared)."""

    def applies(self, path: str) -> bool:
        return not self.paths or path in self.paths

    @property
    def active(self) -> bool:
        return (
            self.die_after_chunks is not None
            or self.garbage_after_chunks is not None
            or self.bad_utf8_after_chunks is not None
            or self.delay_first_byte > 0
            or self.error_status is not None
            or self.replace_body is not None
            or self.end_after_chunks is not None
            or self.drip_interval > 0
        )


BAD_UTF8_LINE = (
    b'{"model":"x","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant",'
    b'"content":"bad \xff\xfe bytes"},"response":"bad \xff\xfe bytes","done":false}\n'
)
"""A stream line that is JSON but not UTF-8 (see :attr:`Faults.bad_utf8_after_chunks`)."""


def many_models(count: int, prefix: str = "bulk") -> list[ReplayModel]:
    """``count`` small installed models named ``{prefix}-00000:latest``... (a huge model list)."""
    stamp = rfc3339nano(time.time_ns())
    return [
        ReplayModel(
            name=f"{prefix}-{i:05d}:latest",
            digest=_fake_digest(prefix, str(i)),
            size=1_000_000 + i,
            family="llama",
            parameter_size="1B",
            quantization_level="Q4_K_M",
            modified_at=stamp,
        )
        for i in range(count)
    ]


class RecordedRequest(NamedTuple):
    method: str
    path: str
    body: Any
    """Parsed JSON, ``None`` for no body, or the byte count for a blob upload."""


# --------------------------------------------------------------------------------------- state


@dataclasses.dataclass
class Loaded:
    name: str
    expires_ns: int
    context_length: int


class ReplayState:
    """Everything the server remembers. Thread-safe; tests may read and change it directly."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.models: dict[str, ReplayModel] = {}
        self.catalog: dict[str, ReplayModel] = {}
        self.loaded: dict[str, Loaded] = {}
        self.blobs: dict[str, int] = {}
        """digest (``sha256:...``) -> size."""
        self.blob_heads: dict[str, bytes] = {}
        """First bytes of uploaded blobs, for format checks."""
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[str] = []
        """Paths whose client hung up while a stream was being written."""
        self.disconnected = threading.Condition(self.lock)
        self.reply: str | None = None
        self.replies: dict[str, str] = {}
        """Reply per last user prompt; wins over ``reply``."""
        self.thinking: str = "Let me think about that for a moment."
        self.prompts: list[list[dict[str, Any]]] = []
        """The messages each chat turned into a prompt: the model's SYSTEM (when the request's
        first message is not a system one) and MESSAGEs, then the request's."""
        self.token_rate: float | None = None
        """Tokens per second for chat/generate streams (None: as fast as possible)."""
        self.token_gate: threading.Semaphore | None = None
        """When set, each streamed token (thinking included) waits for one permit of it."""
        self.pull_rate: float | None = None
        """Bytes per second a pull advances (None: at once)."""
        self.pull_tick: float = 0.05
        self.faults = Faults()
        self.version = VERSION
        for model in seed_models():
            self.add_model(model)
        for model in pullable_catalog():
            self.catalog[model.name] = model
        for model in self.models.values():
            for digest, size in model.layers:
                self.blobs[digest] = size

    def add_model(self, model: ReplayModel) -> None:
        with self.lock:
            self.models[normalize_name(model.name)] = model

    def get(self, name: str) -> ReplayModel | None:
        with self.lock:
            return self.models.get(normalize_name(name))

    def reply_for(self, model: str, prompt: str) -> str:
        with self.lock:
            if prompt in self.replies:
                return self.replies[prompt]
            if self.reply is not None:
                return self.reply
        return default_reply(model, prompt)

    def take_faults(self, path: str) -> Faults | None:
        with self.lock:
            faults = self.faults
            if not faults.active or not faults.applies(path):
                return None
            if faults.times is not None:
                faults.times -= 1
                if faults.times <= 0:
                    self.faults = Faults()
            return faults


def normalize_name(name: str) -> str:
    """``llama3.2`` -> ``llama3.2:latest``; default host and namespace dropped; case folded."""
    name = name.strip()
    for prefix in ("registry.ollama.ai/library/", "library/"):
        if name.lower().startswith(prefix):
            name = name[len(prefix) :]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        name += ":latest"
    return name.lower()


def valid_name(name: str) -> bool:
    """A subset of ``model.ParseName(...).IsValid()``: [ns/]model[:tag] with legal characters."""
    if not name:
        return False
    path, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    if tag and not _TAG_RE.match(tag):
        return False
    return all(_NAME_PART_RE.match(part) for part in path.split("/")) and path.count("/") <= 2


def display_name(name: str) -> str:
    """``DisplayShortest``: the name with its tag, default host and namespace dropped, case kept."""
    name = name.strip()
    for prefix in ("registry.ollama.ai/library/", "library/"):
        if name.lower().startswith(prefix):
            name = name[len(prefix) :]
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def parse_keep_alive(value: Any) -> float | None:
    """Seconds from a keep_alive (number of seconds or Go duration string); negative: forever."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    total = 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    for number, unit in re.findall(r"([\d.]+)(ms|us|ns|h|m|s)", text):
        total += float(number) * units[unit]
    return sign * total


class GGUFHead(NamedTuple):
    architecture: str
    file_type: str
    parameter_count: int | None


_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 15: "Q4_K_M", 14: "Q4_K_S"}
_FILE_TYPES.update({17: "Q5_K_M", 18: "Q6_K", 32: "BF16"})


def read_gguf_head(head: bytes) -> GGUFHead | None:
    """Read a few scalar keys from the start of a GGUF file; None if it is not GGUF."""
    if len(head) < 24 or head[:4] != b"GGUF":
        return None
    found: dict[str, Any] = {}
    try:
        (kv_count,) = struct.unpack_from("<Q", head, 16)
        pos = 24
        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
        fmts = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?"}
        fmts.update({10: "Q", 11: "q", 12: "d"})
        for _ in range(min(kv_count, 4096)):
            (klen,) = struct.unpack_from("<Q", head, pos)
            key = head[pos + 8 : pos + 8 + klen].decode()
            pos += 8 + klen
            (vtype,) = struct.unpack_from("<I", head, pos)
            pos += 4
            if vtype == 8:
                (slen,) = struct.unpack_from("<Q", head, pos)
                found[key] = head[pos + 8 : pos + 8 + slen].decode()
                pos += 8 + slen
            elif vtype in sizes:
                (found[key],) = struct.unpack_from("<" + fmts[vtype], head, pos)
                pos += sizes[vtype]
            else:
                break  # arrays: the keys we want come before the tokenizer's
    except (struct.error, UnicodeDecodeError):
        pass
    arch = str(found.get("general.architecture", "llama"))
    ftype = found.get("general.file_type")
    count = found.get("general.parameter_count")
    return GGUFHead(
        arch,
        _FILE_TYPES.get(ftype, "F16") if isinstance(ftype, int) else "F16",
        int(count) if isinstance(count, int) else None,
    )


def human_number(n: int) -> str:
    """``format.HumanNumber``: 3212749888 -> 3.2B, 494032768 -> 494.03M."""
    for div, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if n >= div:
            value = n / div
            if value >= 100:
                return f"{value:.0f}{unit}"
            if value >= 10:
                return f"{value:.1f}{unit}".replace(".0" + unit, unit)
            return f"{value:.2f}".rstrip("0").rstrip(".") + unit
    return str(n)


# --------------------------------------------------------------------------------------- handler


class _ClientGone(Exception):
    """The peer closed the connection while we were writing."""


class _Died(Exception):
    """A fault closed the connection, or ended the stream early, on purpose."""


class _Response:
    """Writes one HTTP answer the way Go's net/http + gin would."""

    def __init__(self, handler: ReplayHandler, faults: Faults | None) -> None:
        self.h = handler
        self.faults = faults
        self.started = False
        self.chunks = 0

    # -- plain answers
    def body(self, status: int, payload: bytes, content_type: str | None) -> None:
        h = self.h
        if self.faults and status < 300 and payload:
            if self.faults.replace_body is not None:
                payload = self.faults.replace_body
            elif self.faults.garbage_after_chunks is not None:
                payload = b"<html>this is not JSON</html>"
        h.send_response(status)
        if content_type is not None and (payload or content_type.startswith("text/")):
            h.send_header("Content-Type", content_type)
        if len(payload) > _GO_CHUNKING_THRESHOLD and h.command != "HEAD":
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            self._write_chunk(payload)
            self._write(b"0\r\n\r\n")
        else:
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if h.command != "HEAD":
                if self.faults and self.faults.drip_interval > 0:
                    self._drip(payload, self.faults.drip_interval)
                else:
                    self._write(payload)
        self.started = True

    def _drip(self, payload: bytes, interval: float) -> None:
        """Write ``payload`` a byte at a time, ``interval`` seconds apart (until the server stops)."""
        for i in range(len(payload)):
            self._write(payload[i : i + 1])
            if self.h.server.stopping.wait(interval):
                self.h.die()
                raise _Died

    def json(
        self, status: int, value: Any, content_type: str = "application/json; charset=utf-8"
    ) -> None:
        self.body(status, go_json(value).encode(), content_type)

    def error(
        self, status: int, message: str, content_type: str = "application/json; charset=utf-8"
    ) -> None:
        self.json(status, {"error": message}, content_type)

    def empty(self, status: int = 200) -> None:
        self.body(status, b"", None)

    # -- streams (gin c.Stream: chunked, flushed per object)
    def stream(self, items: Iterable[Any]) -> None:
        """Write each item as an NDJSON line; an ``_StreamError`` item ends it like streamResponse."""
        try:
            for item in items:
                if isinstance(item, StreamError):
                    if not self.started:
                        self.error(item.status, item.message, "application/json")
                        return
                    self._line(go_json({"error": item.message}).encode() + b"\n")
                    break
                self._line(go_json(item).encode() + b"\n")
            if not self.started:
                self._start_stream()
            self._write(b"0\r\n\r\n")
        except _Died:
            return

    def _start_stream(self) -> None:
        self.h.send_response(200)
        self.h.send_header("Content-Type", "application/x-ndjson")
        self.h.send_header("Transfer-Encoding", "chunked")
        self.h.end_headers()
        self.started = True

    def _line(self, data: bytes) -> None:
        if not self.started:
            self._start_stream()
        f = self.faults
        if f and f.die_after_chunks is not None and self.chunks >= f.die_after_chunks:
            self.h.die()
            raise _Died
        if f and f.end_after_chunks is not None and self.chunks >= f.end_after_chunks:
            self._write(b"0\r\n\r\n")  # a clean end of the chunked body, before the last line
            raise _Died
        if f and f.garbage_after_chunks is not None and self.chunks == f.garbage_after_chunks:
            self._write_chunk(b"this is not json {\n")
        if f and f.bad_utf8_after_chunks is not None and self.chunks == f.bad_utf8_after_chunks:
            self._write_chunk(BAD_UTF8_LINE)
        self._write_chunk(data)
        self.chunks += 1

    def _write_chunk(self, data: bytes) -> None:
        self._write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _write(self, data: bytes) -> None:
        try:
            self.h.wfile.write(data)
            self.h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc


class StreamError(NamedTuple):
    """A ``gin.H{"error": ..., "status": ...}`` sent down a handler's channel."""

    message: str
    status: int = 500


def _no_blob(digest: str, status: int = 500) -> StreamError:
    """create.go opening a blob the server does not have (``sha256:...`` digest)."""
    path = "/root/.ollama/models/blobs/" + digest.replace(":", "-")
    return StreamError(f"open {path}: no such file or directory", status)


class ReplayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Ollama"
    sys_version = ""
    server: ReplayHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    @property
    def state(self) -> ReplayState:
        return self.server.state

    def send_response(self, code: int, message: str | None = None) -> None:
        # Go's net/http sends Date but no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def die(self) -> None:
        """Close the socket abruptly, as a crashed server would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- plumbing
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _iter_body(self) -> Iterator[bytes]:
        """The body in pieces, without holding it all (blob uploads can be gigabytes)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                while size:
                    piece = self.rfile.read(min(size, 1 << 20))
                    if not piece:
                        return
                    size -= len(piece)
                    yield piece
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                piece = self.rfile.read(min(left, 1 << 20))
                if not piece:
                    return
                left -= len(piece)
                yield piece

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        routes: dict[tuple[str, str], Callable[[_Response, Any], None]] = {
            ("GET", "/"): self.h_root,
            ("HEAD", "/"): self.h_root,
            ("GET", "/api/version"): self.h_version,
            ("HEAD", "/api/version"): self.h_version,
            ("GET", "/api/tags"): self.h_tags,
            ("HEAD", "/api/tags"): self.h_tags,
            ("GET", "/api/ps"): self.h_ps,
            ("POST", "/api/show"): self.h_show,
            ("POST", "/api/pull"): self.h_pull,
            ("DELETE", "/api/delete"): self.h_delete,
            ("POST", "/api/copy"): self.h_copy,
            ("POST", "/api/create"): self.h_create,
            ("POST", "/api/chat"): self.h_chat,
            ("POST", "/api/generate"): self.h_generate,
            ("POST", "/api/embed"): self.h_embed,
        }
        blob = path.startswith("/api/blobs/") and self.command in ("HEAD", "POST")
        handler = routes.get((self.command, path))
        if blob:
            body: Any = None
        else:
            raw = self._read_body()
            body = raw
            if raw and path.startswith("/api/"):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
        with self.state.lock:
            self._request_index = len(self.state.requests)
            self.state.requests.append(RecordedRequest(self.command, path, body or None))
        faults = self.state.take_faults(path) if path.startswith("/api/") else None
        resp = _Response(self, faults)
        if faults and faults.delay_first_byte:
            self.server.stopping.wait(faults.delay_first_byte)
        try:
            if faults and faults.error_status is not None:
                if faults.error_body is not None:
                    resp.body(faults.error_status, faults.error_body, faults.error_content_type)
                else:
                    resp.error(faults.error_status, faults.error_message)
                return
            if blob:
                self.h_blob(resp, path[len("/api/blobs/") :])
                return
            if handler is None:
                known = {p for (_, p) in routes}
                if path in known:
                    resp.body(405, b"405 method not allowed", "text/plain")
                else:
                    resp.body(404, b"404 page not found", "text/plain")
                return
            if self.command == "POST" or self.command == "DELETE":
                if body in (b"", None):
                    resp.error(400, "missing request body")
                    return
                if isinstance(body, bytes):
                    resp.error(400, _json_error(body))
                    return
                if not isinstance(body, dict):
                    resp.error(
                        400, "json: cannot unmarshal array into Go value of type api.Request"
                    )
                    return
            handler(resp, body)
        except _ClientGone:
            self.close_connection = True
            with self.state.disconnected:
                self.state.disconnects.append(path)
                self.state.disconnected.notify_all()
        except _Died:
            pass

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = _dispatch

    # -- endpoints
    def h_root(self, resp: _Response, _body: Any) -> None:
        """``GET /`` and ``HEAD /`` (routes.go GenerateRoutes)."""
        resp.body(200, b"Ollama is running", "text/plain; charset=utf-8")

    def h_version(self, resp: _Response, _body: Any) -> None:
        """``/api/version`` (routes.go GenerateRoutes)."""
        resp.json(200, {"version": self.state.version})

    def h_tags(self, resp: _Response, _body: Any) -> None:
        """``/api/tags`` (routes.go ListHandler, model_list_cache.go buildModelListSummary and
        ``ListModelResponse()``; api.ListModelResponse field order): ``details`` carries
        ``context_length``/``embedding_length`` and each entry its ``capabilities`` (both
        omitempty)."""
        with self.state.lock:
            # sortListModelResponses: newest first by whole seconds, a stable sort.
            models = sorted(self.state.models.values(), key=lambda m: -_unix_seconds(m.modified_at))
            out = []
            for m in models:
                entry: dict[str, Any] = {
                    "name": m.name,
                    "model": m.name,
                    "modified_at": m.modified_at,
                    "size": m.size,
                    "digest": m.digest,
                    "details": m.list_details(),
                }
                if m.capabilities:
                    entry["capabilities"] = list(m.capabilities)
                out.append(entry)
        resp.json(200, {"models": out})

    def h_ps(self, resp: _Response, _body: Any) -> None:
        """``/api/ps`` (routes.go PsHandler): loaded models, latest expiry first."""
        now = time.time_ns()
        out = []
        with self.state.lock:
            for key, entry in list(self.state.loaded.items()):
                if entry.expires_ns <= now:
                    del self.state.loaded[key]
                    continue
                m = self.state.models.get(key)
                if m is None:
                    continue
                kv = _kv_cache_bytes(m, entry.context_length)
                details = m.details()
                details["parent_model"] = ""
                out.append(
                    {
                        "name": m.name,
                        "model": m.name,
                        "size": m.size + kv,
                        "digest": m.digest,
                        "details": details,
                        "expires_at": rfc3339nano(entry.expires_ns),
                        "size_vram": m.size + kv,
                        "context_length": entry.context_length,
                        "_expires": entry.expires_ns,
                    }
                )
        out.sort(key=lambda d: -int(d["_expires"] // 1_000_000_000))
        for item in out:
            del item["_expires"]
        resp.json(200, {"models": out})

    def h_show(self, resp: _Response, body: dict[str, Any]) -> None:
        """``POST /api/show`` (routes.go ShowHandler/GetModelInfo/getModelData; api.ShowResponse
        field order, ``tensors`` and ``requires`` included)."""
        name = body.get("model") or body.get("name") or ""
        if not name:
            resp.error(400, "model is required")
            return
        m = self.state.get(name)
        if m is None:
            resp.error(404, f"model '{display_name(name)}' not found")
            return
        out: dict[str, Any] = {}
        if m.license:
            out["license"] = "\n".join(m.license)
        out["modelfile"] = m.modelfile()
        if m.parameters:
            out["parameters"] = m.parameters_text()
        if m.template:
            out["template"] = m.template
        system = body.get("system") or m.system
        if system:
            out["system"] = system
        out["details"] = m.details()
        if m.messages:
            out["messages"] = m.messages
        verbose = bool(body.get("verbose"))
        # getModelData: without verbose, arrays longer than 5 come back empty.
        out["model_info"] = _map(
            {
                k: [] if not verbose and isinstance(v, list) and len(v) > 5 else v
                for k, v in m.model_info.items()
            }
        )
        # GGUF tensors are listed verbose or not (GetModelInfo sets resp.Tensors from
        # getModelData either way; only safetensors models gate them on verbose).
        tensors = m.tensor_list()
        if tensors:
            out["tensors"] = tensors
        if m.capabilities:
            out["capabilities"] = m.capabilities
        out["modified_at"] = m.modified_at
        if m.requires:
            out["requires"] = m.requires
        resp.json(200, out)

    def h_pull(self, resp: _Response, body: dict[str, Any]) -> None:
        """``POST /api/pull`` (routes.go PullHandler, images.go PullModel, download.go)."""
        name = body.get("model") or body.get("name") or ""
        if not valid_name(name):
            resp.error(400, "invalid model name")
            return
        items = self._pull_events(name)
        if body.get("stream") is False:
            self._wait_for_stream(resp, items)
        else:
            resp.stream(items)

    def _pull_events(self, name: str) -> Iterator[Any]:
        state = self.state
        key = normalize_name(name)
        yield {"status": "pulling manifest"}
        with state.lock:
            source = state.models.get(key) or state.catalog.get(key)
        if source is None:
            yield StreamError("pull model manifest: file does not exist")
            return
        source = copy.deepcopy(source)
        existing = state.get(key)
        for digest, size in source.layers:
            status = f"pulling {digest[7:19]}"
            with state.lock:
                have = state.blobs.get(digest) == size
            if have or state.pull_rate is None:
                steps = [size] if have else sorted({size // 4, size // 2, (size * 3) // 4, size})
                for done in steps:
                    yield _progress(status, digest, size, done)
            else:
                done = 0
                step = max(1, int(state.pull_rate * state.pull_tick))
                while done < size:
                    if self.server.stopping.wait(state.pull_tick):
                        return
                    done = min(size, done + step)
                    yield _progress(status, digest, size, done)
            with state.lock:
                state.blobs[digest] = size
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        if existing is not None and {d for d, _ in existing.layers} - {d for d, _ in source.layers}:
            yield {"status": "removing unused layers"}
        source.modified_at = rfc3339nano(time.time_ns())
        state.add_model(source)
        yield {"status": "success"}

    def _wait_for_stream(self, resp: _Response, items: Iterable[Any]) -> None:
        """routes.go waitForStream: only the last progress, or the error with its status."""
        latest: Any = {"status": ""}
        for item in items:
            if isinstance(item, StreamError):
                resp.error(item.status, item.message, "application/json")
                return
            latest = item
        resp.json(200, latest, "application/json")

    def h_delete(self, resp: _Response, body: dict[str, Any]) -> None:
        """``DELETE /api/delete`` (routes.go DeleteHandler): 200 with an empty body."""
        name = body.get("model") or body.get("name") or ""
        if not valid_name(name):
            resp.error(400, f'name "{name}" is invalid')
            return
        with self.state.lock:
            if self.state.models.pop(normalize_name(name), None) is None:
                resp.error(404, f"model '{name}' not found")
                return
            self.state.loaded.pop(normalize_name(name), None)
        resp.empty(200)

    def h_copy(self, resp: _Response, body: dict[str, Any]) -> None:
        """``POST /api/copy`` (routes.go CopyHandler): 200 with an empty body."""
        src, dst = str(body.get("source", "")), str(body.get("destination", ""))
        if not valid_name(src):
            resp.error(400, f"source {_go_string(src)} is invalid")
            return
        if not valid_name(dst):
            resp.error(400, f"destination {_go_string(dst)} is invalid")
            return
        with self.state.lock:
            m = self.state.get(src)
            if m is None:
                resp.error(404, f"model {_go_string(src)} not found")
                return
            new = copy.deepcopy(m)
            new.name = normalize_name(dst)
            new.modified_at = rfc3339nano(time.time_ns())
            self.state.add_model(new)
        resp.empty(200)

    def h_blob(self, resp: _Response, digest: str) -> None:
        """``HEAD``/``POST /api/blobs/:digest`` (routes.go HeadBlobHandler/CreateBlobHandler)."""
        if not _DIGEST_RE.match(digest):
            if self.command == "POST":
                for _ in self._iter_body():
                    pass
            resp.error(400, "invalid digest format")
            return
        key = "sha256:" + digest[7:].lower()
        with self.state.lock:
            present = key in self.state.blobs
        if self.command == "HEAD":
            if present:
                resp.empty(200)
            else:
                resp.error(404, f"blob {_go_string(digest)} not found")
            return
        if present:
            for _ in self._iter_body():
                pass
            resp.empty(200)
            return
        sha = hashlib.sha256()
        size = 0
        head = b""
        for piece in self._iter_body():
            sha.update(piece)
            size += len(piece)
            if len(head) < 1 << 16:
                head += piece[: (1 << 16) - len(head)]
        got = "sha256:" + sha.hexdigest()
        with self.state.lock:
            index = self._request_index
            self.state.requests[index] = self.state.requests[index]._replace(body=size)
        if got != digest.replace("-", ":", 1):
            resp.error(400, f'digest mismatch, expected "{digest}", got "{got}"')
            return
        with self.state.lock:
            self.state.blobs[got] = size
            self.state.blob_heads[got] = head
        resp.empty(201)

    def h_create(self, resp: _Response, body: dict[str, Any]) -> None:
        """``POST /api/create`` (create.go CreateHandler/createModel, manifest/layer.go statuses)."""
        name = body.get("model") or body.get("name") or ""
        files = body.get("files") or {}
        for fname, digest in files.items():
            if fname.startswith("/") or ".." in fname.split("/"):
                resp.error(400, "file path must be relative")
                return
            if not digest:
                resp.error(400, "invalid digest format")
                return
        for digest in (body.get("adapters") or {}).values():
            if not digest:
                resp.error(400, "invalid digest format")
                return
        if not valid_name(name):
            resp.error(400, "invalid model name")
            return
        items = self._create_events(normalize_name(name), body)
        if body.get("stream") is False:
            self._wait_for_stream(resp, items)
        else:
            resp.stream(items)

    def _create_events(self, name: str, body: dict[str, Any]) -> Iterator[Any]:
        state = self.state
        quantize = str(body.get("quantize") or body.get("quantization") or "").upper()
        files: dict[str, str] = body.get("files") or {}
        if body.get("from"):
            base = state.get(str(body["from"]))
            if base is None:
                pulled = yield from self._pull_events(str(body["from"]))
                base = state.get(str(body["from"]))
                if base is None:
                    return pulled
            new = copy.deepcopy(base)
            new.parent_model = base.name
            layer_status = [f"using existing layer {d}" for d, _ in base.layers[:1]]
        elif files:
            layer_status = []
            heads = []
            for fname in sorted(files):
                digest, size, head_bytes = self._stored_blob(files[fname])
                yield {"status": "parsing GGUF"}
                if size is None:
                    yield _no_blob(digest)
                    return
                head = read_gguf_head(head_bytes) if head_bytes[:4] == b"GGUF" else None
                if head is None:
                    yield StreamError("supplied file was not in GGUF format", 400)
                    return
                heads.append((digest, size, head))
                layer_status.append(f"using existing layer {digest}")
            digest, size, head = heads[0]
            count = head.parameter_count or size // 2
            new = ReplayModel(
                name=name,
                digest="",
                size=sum(s for _, s, _ in heads),
                family=head.architecture,
                parameter_size=human_number(count),
                quantization_level=head.file_type,
                layers=[(d, s) for d, s, _ in heads],
                model_info=_map(
                    {"general.architecture": head.architecture, "general.parameter_count": count}
                ),
                capabilities=["completion"],
            )
        else:
            yield StreamError("neither 'from' or 'files' was specified", 400)
            return
        if body.get("adapters"):
            adapter = yield from self._adapter_events(dict(body["adapters"]))
            if adapter is None:
                return None
            new.layers.append(adapter)
            layer_status.append(f"using existing layer {adapter[0]}")
        new.name = name
        if quantize:
            if quantize not in _QUANT_TYPES:
                yield StreamError(
                    f"unsupported quantization type {quantize} - supported types are "
                    "F32, F16, Q4_K_S, Q4_K_M, Q8_0"
                )
                return
            if new.quantization_level not in _UNQUANTIZED:
                yield StreamError("quantization is only supported for F16, BF16 and F32 models")
                return
            target = "Q4_K_M" if quantize == "Q4_K" else quantize
            total = new.model_layer[1]
            status = f"quantizing {new.quantization_level} model to {target}"
            for done in (total // 4, total // 2, total):
                yield _progress(status, "0000000000000000000", total, done)
            yield {"status": "verifying conversion"}
            ratio = {"Q8_0": 8.5, "Q4_K_S": 4.67, "Q4_K_M": 4.89}.get(target, 16.0) / 16.0
            q_size = max(1, int(total * ratio))
            q_digest = "sha256:" + _fake_digest(name, target)
            new.layers[0] = (q_digest, q_size)
            new.quantization_level = target
            layer_status[0] = f"creating new layer {q_digest}"
            with state.lock:
                state.blobs[q_digest] = q_size
        for field in ("template", "system"):
            if body.get(field) is not None:
                setattr(new, field, str(body[field]))
                layer_status.append(self._layer_status(str(body[field])))
        if body.get("license") is not None:
            lic = body["license"]
            new.license = [lic] if isinstance(lic, str) else list(lic)
            layer_status.append(self._layer_status("\n".join(new.license)))
        if body.get("parameters"):
            new.parameters = dict(body["parameters"])
            layer_status.append(self._layer_status(go_json(_map(new.parameters))))
        if body.get("requires"):
            new.requires = str(body["requires"])  # else the base's (create.go CreateHandler)
        if body.get("messages"):
            new.messages = [
                {"role": m.get("role", ""), "content": m.get("content", "")}
                for m in body["messages"]
            ]
            layer_status.append(self._layer_status(go_json(new.messages)))
        yield from ({"status": s} for s in layer_status)
        yield {"status": "writing manifest"}
        new.size = sum(s for _, s in new.layers)
        new.digest = _fake_digest(name, go_json([d for d, _ in new.layers]), str(time.time_ns()))
        new.modified_at = rfc3339nano(time.time_ns())
        state.add_model(new)
        yield {"status": "success"}
        return None

    def _adapter_events(
        self, adapters: dict[str, str]
    ) -> Generator[Any, None, tuple[str, int] | None]:
        """The adapter step of create.go (``convertModelFromFiles(r.Adapters, ..., true)``, then
        ``ggufLayersWithMediaType``); returns the adapter's layer, or None after an error.

        Every adapter error is tagged 400: a real 400 before anything was streamed, a last
        ``{"error": ...}`` line after. Safetensors adapters (``converting adapter``, a conversion
        against the base model's tensors) are not replayed.
        """
        fname, digest = next(iter(adapters.items()))
        digest, size, head_bytes = self._stored_blob(digest)
        if fname.endswith(".safetensors"):
            yield StreamError("the replay server does not convert safetensors adapters", 400)
            return None
        if not fname.endswith(".gguf") and head_bytes[:4] != b"GGUF":
            yield StreamError("unknown type", 400)  # detectModelTypeFromFiles found nothing
            return None
        if len(adapters) > 1:
            yield StreamError("only one adapter is currently supported", 400)
            return None
        yield {"status": "parsing GGUF"}
        if size is None:
            yield _no_blob(digest, 400)
            return None
        if head_bytes[:4] != b"GGUF":
            yield StreamError("supplied file was not in GGUF format", 400)
            return None
        return digest, size

    def _stored_blob(self, digest: str) -> tuple[str, int | None, bytes]:
        """A create request's digest (``sha256:`` or ``sha256-``) as stored, the blob's size
        (None when the server does not have it) and its first bytes."""
        digest = digest.replace("-", ":", 1)
        with self.state.lock:
            size = self.state.blobs.get(digest)
            head = self.state.blob_heads.get(digest, b"GGUF" if size else b"")
        return digest, size, head

    def _layer_status(self, content: str) -> str:
        digest = "sha256:" + hashlib.sha256(content.encode()).hexdigest()
        with self.state.lock:
            existed = digest in self.state.blobs
            self.state.blobs[digest] = len(content.encode())
        return f"{'using existing' if existed else 'creating new'} layer {digest}"

    # -- inference
    def _load(self, m: ReplayModel, body: dict[str, Any]) -> None:
        keep = parse_keep_alive(body.get("keep_alive"))
        keep = 300.0 if keep is None else keep
        now = time.time_ns()
        expires = now + int(keep * 1e9) if keep >= 0 else now + int(1e9 * 3600 * 24 * 365 * 290)
        options = body.get("options") or {}
        ctx = int(options.get("num_ctx") or m.parameters.get("num_ctx") or 4096)
        with self.state.lock:
            self.state.loaded[normalize_name(m.name)] = Loaded(m.name, expires, ctx)

    def _unload(self, m: ReplayModel) -> None:
        with self.state.lock:
            self.state.loaded.pop(normalize_name(m.name), None)

    def _inference_model(self, resp: _Response, body: dict[str, Any]) -> ReplayModel | None:
        name = str(body.get("model") or "")
        if not name:
            resp.error(400, "model is required")
            return None
        m = self.state.get(name)
        if m is None:
            resp.error(404, f"model '{name}' not found")
            return None
        return m

    def _think(self, resp: _Response, body: dict[str, Any], m: ReplayModel) -> bool | None:
        """Whether to think, as Chat/GenerateHandler decide it; None after answering an error.

        ``think`` is a bool or ``"high"|"medium"|"low"|"max"`` (api.ThinkValue.UnmarshalJSON).
        A model with the ``thinking`` capability thinks when the request leaves ``think`` out
        (``req.Think = &api.ThinkValue{Value: true}``); any other model asked to think gets 400.
        """
        think = body.get("think")
        if think is None:
            return "thinking" in m.capabilities
        on = think is not False
        if on and "thinking" not in m.capabilities:
            resp.error(400, f"{_go_string(str(body['model']))} does not support thinking")
            return None
        return on

    def h_chat(self, resp: _Response, body: dict[str, Any]) -> None:
        """``POST /api/chat`` (routes.go ChatHandler; api.ChatResponse field order).

        Thinking is on by default for a thinking model (see :meth:`_think`); the model's SYSTEM
        goes first when the request's first message is not a system one, after it the model's
        MESSAGEs, then the request's (``msgs := append(m.Messages, req.Messages...)``).
        """
        if (bad := _think_error(body.get("think"))) is not None:
            resp.error(400, bad)  # a binding error, before anything else
            return
        top = body.get("top_logprobs") or 0
        if not 0 <= int(top) <= 20:
            resp.error(400, "top_logprobs must be between 0 and 20")
            return
        m = self._inference_model(resp, body)
        if m is None:
            return
        name = str(body["model"])
        messages = body.get("messages") or []
        keep = parse_keep_alive(body.get("keep_alive"))
        if not messages and keep == 0:
            self._unload(m)
            resp.json(200, _chat_obj(name, "", "", done_reason="unload"))
            return
        think = self._think(resp, body, m)
        if think is None:
            return
        if "completion" not in m.capabilities:
            resp.error(400, f"{_go_string(name)} does not support chat")
            return
        if body.get("tools") and "tools" not in m.capabilities:
            resp.error(400, f"registry.ollama.ai/library/{m.name} does not support tools")
            return
        self._load(m, body)
        if not messages:
            resp.json(200, _chat_obj(name, "", "", done_reason="load"))
            return
        prompt = next(
            (str(x.get("content", "")) for x in reversed(messages) if x.get("role") == "user"), ""
        )
        msgs = [dict(x) for x in m.messages] + [dict(x) for x in messages]
        if messages[0].get("role") != "system" and m.system:
            msgs.insert(0, {"role": "system", "content": m.system})
        with self.state.lock:
            self.state.prompts.append(msgs)
        prompt_tokens = sum(len(tokenize(str(x.get("content") or ""))) for x in msgs) + 10
        gen = self._generate(m, name, prompt, body, prompt_tokens, chat=True, think=think)
        if body.get("stream") is False:
            content, thinking, last = "", "", {}
            for obj in gen:
                content += obj["message"]["content"]
                thinking += obj["message"].get("thinking", "")
                last = obj
            last["message"] = {"role": "assistant", "content": content}
            if thinking:
                last["message"]["thinking"] = thinking
            resp.json(200, last)
        else:
            resp.stream(gen)

    def h_generate(self, resp: _Response, body: dict[str, Any]) -> None:
        """``POST /api/generate`` (routes.go GenerateHandler; api.GenerateResponse field order);
        thinking defaults as in chat (:meth:`_think`)."""
        if (bad := _think_error(body.get("think"))) is not None:
            resp.error(400, bad)
            return
        m = self._inference_model(resp, body)
        if m is None:
            return
        name = str(body["model"])
        prompt = str(body.get("prompt") or "")
        keep = parse_keep_alive(body.get("keep_alive"))
        if not prompt and keep == 0:
            self._unload(m)
            resp.json(200, _gen_obj(name, "", "", done_reason="unload"))
            return
        think = self._think(resp, body, m)
        if think is None:
            return
        if "completion" not in m.capabilities:
            resp.error(400, f"{_go_string(name)} does not support generate")
            return
        self._load(m, body)
        if not prompt:
            resp.json(200, _gen_obj(name, "", "", done_reason="load"))
            return
        gen = self._generate(
            m, name, prompt, body, len(tokenize(prompt)) + 10, chat=False, think=think
        )
        if body.get("stream") is False:
            text, thinking, last = "", "", {}
            for obj in gen:
                text += obj["response"]
                thinking += obj.get("thinking", "")
                last = obj
            last["response"] = text
            if thinking:
                last["thinking"] = thinking
            resp.json(200, _reorder_gen(last))
        else:
            resp.stream(gen)

    def _generate(
        self,
        m: ReplayModel,
        name: str,
        prompt: str,
        body: dict[str, Any],
        prompt_tokens: int,
        *,
        chat: bool,
        think: bool,
    ) -> Iterator[dict[str, Any]]:
        start = time.monotonic_ns()
        state = self.state
        options = body.get("options") or {}
        tokens = tokenize(state.reply_for(m.name, prompt))
        limit = options.get("num_predict")
        reason = "stop"
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            tokens, reason = tokens[:limit], "length"
        think_tokens = tokenize(state.thinking) if think else []
        rate = state.token_rate
        load_ns = 1_334_875
        prompt_ns = 1_000_000 + prompt_tokens * 50_000
        eval_start = time.monotonic_ns()
        make = _chat_obj if chat else _gen_obj
        # Paced against the clock, not by a sleep per token: sleeps overshoot, and 5,000 of them
        # would drift the stream's length by a few tenths of a second from run to run.
        due = time.monotonic()
        for i, tok in enumerate(think_tokens + tokens):
            gate = state.token_gate
            if gate is not None:
                # A test lets tokens through one permit each (release(n)), so it knows exactly
                # how many have been sent, whatever the machine's speed.
                while not gate.acquire(timeout=0.05):
                    if self.server.stopping.is_set():
                        return
            if rate:
                due += 1.0 / rate
                if self.server.stopping.wait(max(0.0, due - time.monotonic())):
                    return
            if i < len(think_tokens):
                yield make(name, "", tok)
            else:
                yield make(name, tok, "")
        end = time.monotonic_ns()
        final = make(name, "", "", done_reason=reason)
        final.update(
            total_duration=max(1, end - start) + load_ns + prompt_ns,
            load_duration=load_ns,
            prompt_eval_count=prompt_tokens,
            prompt_eval_duration=prompt_ns,
            eval_count=len(tokens) + len(think_tokens),
            eval_duration=max(1, end - eval_start),
        )
        if not chat:
            final["context"] = list(range(1, 11))
            final = _reorder_gen(final)
        yield final

    def h_embed(self, resp: _Response, body: dict[str, Any]) -> None:
        """``POST /api/embed`` (routes.go EmbedHandler; api.EmbedResponse)."""
        m = self._inference_model(resp, body)
        if m is None:
            return
        raw = body.get("input")
        if raw is None or raw == "":
            inputs: list[str] = []
        elif isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw, list) and all(isinstance(x, str) for x in raw):
            inputs = raw
        else:
            resp.error(400, "invalid input type")
            return
        dims = int(m.model_info.get(f"{m.family}.embedding_length", 768))
        if body.get("dimensions"):
            dims = min(dims, int(body["dimensions"]))
        self._load(m, body)
        vectors = [_embedding(text, dims) for text in inputs]
        out: dict[str, Any] = {"model": str(body["model"]), "embeddings": vectors}
        if inputs:
            out.update(
                total_duration=14_143_917,
                load_duration=1_019_500,
                prompt_eval_count=sum(len(tokenize(t)) for t in inputs),
            )
        resp.json(200, out)


_THINK_LEVELS = ("high", "medium", "low", "max")


def _think_error(value: Any) -> str | None:
    """api.ThinkValue.UnmarshalJSON's error for a request's ``think`` (gin's binding returns it
    as it is, a 400); None when the value is fine (``null`` leaves the pointer nil)."""
    if value is None or isinstance(value, bool) or value in _THINK_LEVELS:
        return None
    levels = '"high", "medium", "low", "max", true, or false'
    if isinstance(value, str):
        return f"invalid think value: {_go_string(value)} (must be {levels})"
    return f"think must be a boolean or string ({levels})"


def _unix_seconds(stamp: str) -> int:
    """Whole Unix seconds of an RFC 3339 time (``time.Time.Unix()``); 0 if it does not parse."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00")
    try:
        return int(dt.datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0


def _json_error(raw: bytes) -> str:
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(raw.strip()):
            return "unexpected EOF"
        ch = raw.decode(errors="replace")[exc.pos]
        return f"invalid character '{ch}' looking for beginning of value"
    return "invalid request"


def _progress(status: str, digest: str, total: int, completed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "digest": digest, "total": total}
    if completed:
        out["completed"] = completed
    return out


def _created() -> str:
    return rfc3339nano(time.time_ns(), utc=True)


def _chat_obj(model: str, content: str, thinking: str, *, done_reason: str = "") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    out: dict[str, Any] = {
        "model": model,
        "created_at": _created(),
        "message": message,
        "done": bool(done_reason),
    }
    if done_reason:
        out["done_reason"] = done_reason
    return out


def _gen_obj(model: str, response: str, thinking: str, *, done_reason: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "created_at": _created(), "response": response}
    if thinking:
        out["thinking"] = thinking
    out["done"] = bool(done_reason)
    if done_reason:
        out["done_reason"] = done_reason
    return out


def _reorder_gen(obj: dict[str, Any]) -> dict[str, Any]:
    """api.GenerateResponse order: ..., response, thinking, done, done_reason, context, metrics."""
    order = ["model", "created_at", "response", "thinking", "done", "done_reason", "context"]
    order += ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration"]
    order += ["eval_count", "eval_duration"]
    return {k: obj[k] for k in order if k in obj}


def _embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit vector from the text's hash."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = []
    for i in range(dims):
        b = seed[i % 32] ^ (i * 131 % 256)
        raw.append((b - 127.5) / 127.5)
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


def _kv_cache_bytes(m: ReplayModel, ctx: int) -> int:
    info = m.model_info
    layers = int(info.get(f"{m.family}.block_count", 0) or 0)
    heads_kv = int(info.get(f"{m.family}.attention.head_count_kv", 0) or 0)
    heads = int(info.get(f"{m.family}.attention.head_count", 0) or 1)
    embd = int(info.get(f"{m.family}.embedding_length", 0) or 0)
    head_dim = int(
        info.get(f"{m.family}.attention.key_length", 0) or (embd // heads if heads else 0)
    )
    return layers * ctx * heads_kv * head_dim * 2 * 2


# --------------------------------------------------------------------------------------- server


class ReplayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ReplayState, *, verbose: bool = False):
        self.state = state
        self.verbose = verbose
        self.stopping = threading.Event()
        super().__init__(address, ReplayHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a cancelled pull, a stopped chat, a fault) is no error of the
        replay's; anything else is printed as socketserver does."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ReplayServer:
    """A running replay server; use as a context manager (see :func:`start_replay_server`)."""

    def __init__(self, httpd: ReplayHTTPServer) -> None:
        self.httpd = httpd
        self.state = httpd.state
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name="ollama-replay", daemon=True
        )

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``, the form ``OLLAMA_HOST`` takes."""
        host, port = self.httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    def set_reply(self, text: str | None, *, prompt: str | None = None) -> None:
        """Make chat/generate answer ``text`` (for ``prompt`` only when given; None resets)."""
        with self.state.lock:
            if prompt is None:
                self.state.reply = text
            elif text is None:
                self.state.replies.pop(prompt, None)
            else:
                self.state.replies[prompt] = text

    def set_faults(self, **fields: Any) -> Faults:
        """Replace the injected faults, e.g. ``set_faults(die_after_chunks=2, paths={"/api/chat"})``."""
        if "paths" in fields:
            fields["paths"] = frozenset(fields["paths"])
        with self.state.lock:
            self.state.faults = Faults(**fields)
            return self.state.faults

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults = Faults()

    def wait_for_disconnect(self, path: str, timeout: float = 10.0) -> bool:
        """Block until a client hung up mid-stream on ``path``; False on timeout."""
        with self.state.disconnected:
            return self.state.disconnected.wait_for(
                lambda: path in self.state.disconnects, timeout=timeout
            )

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_replay_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    reply: str | None = None,
    token_rate: float | None = None,
    pull_rate: float | None = None,
    faults: Faults | None = None,
    verbose: bool = False,
) -> ReplayServer:
    """Start a replay server in a background thread.

    Args:
        host: Address to bind; loopback by default.
        port: Port to bind; 0 picks a free one (read it from ``.url`` / ``.host_port``).
        reply: Text every chat/generate answers with (default: a sentence quoting the prompt).
        token_rate: Tokens per second for streamed replies (None: no delay).
        pull_rate: Bytes per second a pull advances (None: at once).
        faults: Misbehaviour to inject from the start.
        verbose: Log each request to stderr.

    Returns:
        The running server; use it as a context manager so it stops.
    """
    state = ReplayState()
    state.reply = reply
    state.token_rate = token_rate
    state.pull_rate = pull_rate
    if faults is not None:
        state.faults = faults
    httpd = ReplayHTTPServer((host, port), state, verbose=verbose)
    return ReplayServer(httpd).start()


def main(argv: list[str] | None = None) -> int:
    """Command line: serve until interrupted."""
    ap = argparse.ArgumentParser(prog="python -m tests.ollama_replay", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--rate", type=float, default=None, help="tokens per second when streaming")
    ap.add_argument("--reply-file", help="file whose text every chat/generate answers with")
    ap.add_argument("--tokens", type=int, help="answer with generated Markdown of N tokens")
    ap.add_argument("--pull-rate", type=float, default=None, help="bytes per second for pulls")
    ap.add_argument("--die-after", type=int, help="close the socket after N stream chunks")
    ap.add_argument("--garbage-after", type=int, help="send a non-JSON line after N chunks")
    ap.add_argument(
        "--end-after", type=int, help="end streams cleanly after N chunks (no done/success)"
    )
    ap.add_argument("--drip", type=float, default=0.0, help="seconds between bytes of plain bodies")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before the first byte")
    ap.add_argument("--error-status", type=int, help="answer every request with this status")
    ap.add_argument("--error-message", default="something went wrong")
    ap.add_argument("--fault-path", action="append", default=[], help="limit faults to a path")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    reply = None
    if args.reply_file:
        with open(args.reply_file, encoding="utf-8") as fh:
            reply = fh.read()
    elif args.tokens:
        reply = markdown_reply(args.tokens)
    faults = Faults(
        die_after_chunks=args.die_after,
        garbage_after_chunks=args.garbage_after,
        end_after_chunks=args.end_after,
        drip_interval=args.drip,
        delay_first_byte=args.delay,
        error_status=args.error_status,
        error_message=args.error_message,
        paths=frozenset(args.fault_path),
    )
    server = start_replay_server(
        host=args.host,
        port=args.port,
        reply=reply,
        token_rate=args.rate,
        pull_rate=args.pull_rate,
        faults=faults,
        verbose=args.verbose,
    )
    print(f"Ollama replay server on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
