"""Reading one endpoint of a host: bounded HTTP GETs and the parsers of what each server answers.

Every fetch has a total deadline (not only httpx's per-phase timeouts: a server that drips bytes
cannot hold a poll), a size cap, and fails with :class:`ScrapeError` whose message names the URL
and the cause in one line. The parsers are pure functions of the body, tested on the servers'
real shapes:

* Ollama ``/api/ps`` (``name``, ``size``, ``size_vram``, ``context_length``, ``expires_at``) and
  ``/api/tags`` (Ollama has no ``/metrics``, ollama#3144);
* ``/v1/models`` of any OpenAI-compatible server;
* vLLM's ``/metrics`` (``vllm/v1/metrics/loggers.py``: ``vllm:num_requests_running``,
  ``vllm:num_requests_waiting``, ``vllm:kv_cache_usage_perc``, counters ``vllm:prompt_tokens`` and
  ``vllm:generation_tokens``, labelled ``model_name`` and ``engine``);
* llama.cpp's ``/metrics`` (``llamacpp:*``, the server's ``--metrics``), ``/slots`` and ``/props``;
* node_exporter (``node_cpu_seconds_total``, ``node_memory_*``, ``node_filesystem_*``);
* GPU exporters: dcgm-exporter (``DCGM_FI_DEV_GPU_UTIL``, ``DCGM_FI_DEV_FB_USED``/``FB_FREE``, MiB)
  and nvitop-exporter (``nvitop_gpu_utilization_percent``, ``nvitop_gpu_memory_*_bytes``);
* llama-swap's ``/running``.
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from tui.backends.base import body_summary, one_line
from tui.fleet import http11
from tui.fleet.model import LoadedModel
from tui.fleet.promtext import Metrics, MetricsError, parse_metrics

MAX_BODY = 4 * 1024 * 1024
"""Bytes an answer may have; more is garbage for a status endpoint (and would cost memory)."""

NODE_COLLECTORS = ("cpu", "meminfo", "filesystem")
"""node_exporter collectors asked for (``collect[]``): the host does less work and sends less."""
NODE_PREFIXES = (
    "node_cpu_seconds_total",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_avail_bytes",
)
VLLM_PREFIXES = ("vllm:",)
LLAMACPP_PREFIXES = ("llamacpp:",)
GPU_PREFIXES = ("DCGM_FI_DEV_", "nvitop_gpu_", "nvidia_gpu_", "nvidia_smi_")
VIRTUAL_FS = frozenset(
    {"tmpfs", "ramfs", "devtmpfs", "overlay", "squashfs", "nsfs", "fuse.lxcfs", "autofs", "proc"}
)
"""Filesystems left out of the disk figure (memory-backed, layered or pseudo)."""


class ScrapeError(Exception):
    """One endpoint could not be read; ``str()`` is one line naming the URL and the cause."""


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(exc: BaseException, timeout: float) -> str:
    """The cause of a failed request, in a few words."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, asyncio.IncompleteReadError | ConnectionResetError | BrokenPipeError):
        return "the connection closed mid-answer"
    if isinstance(exc, http11.HttpProtocolError):
        return one_line(str(exc), 80)
    if isinstance(exc, OSError) and not isinstance(exc, httpx.HTTPError):
        return f"cannot connect ({one_line(exc.strerror or str(exc) or type(exc).__name__, 80)})"
    if isinstance(exc, httpx.ConnectError):
        if _refused(exc):
            return "connection refused"
        return f"cannot connect ({one_line(str(exc) or type(exc).__name__, 80)})"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "the connection closed mid-answer"
    if isinstance(exc, httpx.HTTPError | OSError):
        return one_line(str(exc) or type(exc).__name__, 80)
    return one_line(f"{type(exc).__name__}: {exc}", 80)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


async def fetch(
    client: httpx.AsyncClient | http11.LightHttp,
    url: str,
    *,
    within: float,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    ok_statuses: frozenset[int] = frozenset({200}),
) -> Answer:
    """GET ``url`` within ``within`` seconds in all.

    Raises:
        ScrapeError: It did not answer, answered too much, or with a status not in
            ``ok_statuses`` (the message names the URL).
    """
    if isinstance(client, http11.LightHttp):
        if not http11.handles(url):
            raise ValueError(f"{url}: not a plain http:// URL (send it with httpx)")
        try:
            async with asyncio.timeout(within):
                status, body, ctype = await client.get(
                    url, headers=headers, params=params, max_body=MAX_BODY
                )
        except http11.BodyTooLarge:
            raise ScrapeError(f"{url}: answer larger than {MAX_BODY // 1048576} MiB") from None
        except Exception as exc:  # every transport failure becomes a reason, never a crash
            raise ScrapeError(f"{url}: {describe(exc, within)}") from exc
        return _judged(url, Answer(status, body, ctype), ok_statuses)
    try:
        async with asyncio.timeout(within):
            async with client.stream(
                "GET", url, headers=headers, params=params, timeout=within
            ) as resp:
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY:
                        raise ScrapeError(f"{url}: answer larger than {MAX_BODY // 1048576} MiB")
                    chunks.append(chunk)
                answer = Answer(
                    resp.status_code, b"".join(chunks), resp.headers.get("content-type", "")
                )
    except ScrapeError:
        raise
    except Exception as exc:  # every transport failure becomes a reason, never a crash
        raise ScrapeError(f"{url}: {describe(exc, within)}") from exc
    return _judged(url, answer, ok_statuses)


def _judged(url: str, answer: Answer, ok_statuses: frozenset[int]) -> Answer:
    """``answer``, or ScrapeError naming ``url`` when its status is not one of ``ok_statuses``."""
    if answer.status not in ok_statuses:
        summary = body_summary(
            answer.text(), status=answer.status, content_type=answer.content_type
        )
        if not summary.startswith("HTTP"):
            from tui.backends.base import status_phrase

            summary = (
                f"{status_phrase(answer.status)}: {summary}"
                if summary
                else status_phrase(answer.status)
            )
        raise ScrapeError(f"{url}: {one_line(summary, 120)}")
    return answer


def json_of(answer: Answer, url: str) -> Any:
    """The JSON of an answer; ScrapeError naming ``url`` when it is not JSON."""
    try:
        return json.loads(answer.body)
    except ValueError as exc:
        summary = body_summary(answer.text()[:2000], content_type=answer.content_type)
        raise ScrapeError(f"{url}: not JSON ({one_line(summary, 80) or 'empty'})") from exc


def metrics_of(answer: Answer, url: str, prefixes: tuple[str, ...]) -> Metrics:
    try:
        return parse_metrics(answer.text(), prefixes)
    except MetricsError as exc:
        raise ScrapeError(f"{url}: {exc}") from exc


# ------------------------------------------------------------------------------------------ Ollama


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as Go writes it (nanoseconds cut to microseconds); None when not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Go writes up to nine fractional digits; Python's parser takes at most six.
    if "." in text:
        head, _, rest = text.partition(".")
        count = len(rest) - len(rest.lstrip("0123456789"))
        digits, zone = rest[:count], rest[count:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Ollama reports a model that never unloads with an expiry centuries away.
    return None if when.year >= 2200 or when.year < 1971 else when


def parse_ollama_ps(data: Any, backend: str = "ollama") -> tuple[LoadedModel, ...]:
    """``/api/ps`` → the loaded models. Raises ScrapeError("...") for a wrong shape."""
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise ScrapeError("not Ollama's /api/ps answer (no 'models' list)")
    out: list[LoadedModel] = []
    for item in data.get("models") or []:
        if not isinstance(item, dict):
            continue
        name = item.get("name") or item.get("model")
        if not isinstance(name, str) or not name:
            continue
        out.append(
            LoadedModel(
                name=one_line(name, 120),
                backend=backend,
                size=_int(item.get("size")),
                size_vram=_int(item.get("size_vram")),
                context_length=_int(item.get("context_length")),
                expires_at=parse_time(item.get("expires_at")),
            )
        )
    return tuple(out)


def parse_ollama_tags(data: Any) -> int:
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise ScrapeError("not Ollama's /api/tags answer (no 'models' list)")
    return len(data.get("models") or [])


def parse_openai_models(data: Any, backend: str = "openai") -> tuple[LoadedModel, ...]:
    """``/v1/models`` → the models served (vLLM's ``max_model_len``, llama.cpp's ``meta.size``
    and ``meta.n_ctx_train`` read when present)."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ScrapeError("not an OpenAI /v1/models answer (no 'data' list)")
    out: list[LoadedModel] = []
    for item in data["data"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            continue
        meta = item["meta"] if isinstance(item.get("meta"), dict) else {}
        out.append(
            LoadedModel(
                name=one_line(item["id"], 120),
                backend=backend,
                size=_int(meta.get("size")),
                context_length=_int(item.get("max_model_len")) or _int(meta.get("n_ctx_train")),
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- inference servers


@dataclass(frozen=True, slots=True)
class ServerReading:
    """What an OpenAI-compatible server's ``/metrics`` (and ``/slots``) say."""

    kind: str
    """``vllm``, ``llama.cpp`` or ``openai`` (no metrics we know)."""
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_percent: float | None = None
    generation_tokens: float | None = None
    """Counter of generated tokens (for a rate between two readings)."""
    prompt_tokens: float | None = None
    decode_tok_s: float | None = None
    slots_busy: int | None = None
    slots_total: int | None = None
    n_ctx: int | None = None


def parse_vllm(m: Metrics) -> ServerReading:
    kv = m.samples("vllm:kv_cache_usage_perc") or m.samples("vllm:gpu_cache_usage_perc")
    return ServerReading(
        kind="vllm",
        requests_running=m.total("vllm:num_requests_running"),
        requests_waiting=m.total("vllm:num_requests_waiting"),
        kv_cache_percent=100.0 * max(v for _, v in kv) if kv else None,
        generation_tokens=m.total("vllm:generation_tokens_total"),
        prompt_tokens=m.total("vllm:prompt_tokens_total"),
    )


def parse_llamacpp(m: Metrics) -> ServerReading:
    return ServerReading(
        kind="llama.cpp",
        requests_running=m.total("llamacpp:requests_processing"),
        requests_waiting=m.total("llamacpp:requests_deferred"),
        generation_tokens=m.total("llamacpp:tokens_predicted_total"),
        prompt_tokens=m.total("llamacpp:prompt_tokens_total"),
        decode_tok_s=m.value("llamacpp:predicted_tokens_seconds"),
    )


def parse_server_metrics(m: Metrics) -> ServerReading:
    """vLLM or llama.cpp, told by the metric names; ``openai`` when neither."""
    names = m.names()
    if any(n.startswith("vllm:") for n in names):
        return parse_vllm(m)
    if any(n.startswith("llamacpp:") for n in names):
        return parse_llamacpp(m)
    return ServerReading(kind="openai")


@dataclass(frozen=True, slots=True)
class SlotsReading:
    busy: int
    total: int
    used_tokens: int
    n_ctx: int

    @property
    def context_percent(self) -> float | None:
        return 100.0 * self.used_tokens / self.n_ctx if self.n_ctx > 0 else None


def parse_slots(data: Any) -> SlotsReading:
    """llama.cpp ``/slots``: a list of ``{id, n_ctx, is_processing, n_past | n_prompt_tokens,
    next_token: [{n_decoded}]}``. Tokens in use are counted for busy slots only (an idle slot's
    cached prompt is reusable, not held)."""
    if not isinstance(data, list):
        raise ScrapeError("not llama.cpp's /slots answer (not a list)")
    busy = used = n_ctx = 0
    for slot in data:
        if not isinstance(slot, dict):
            continue
        n_ctx += _int(slot.get("n_ctx")) or 0
        if slot.get("is_processing") is not True:
            continue
        busy += 1
        past = _int(slot.get("n_past"))
        if past is None:
            decoded = 0
            nxt = slot.get("next_token")
            if isinstance(nxt, list) and nxt and isinstance(nxt[0], dict):
                decoded = _int(nxt[0].get("n_decoded")) or 0
            past = (_int(slot.get("n_prompt_tokens")) or 0) + decoded
        used += max(0, past)
    return SlotsReading(busy=busy, total=len(data), used_tokens=used, n_ctx=n_ctx)


def parse_props_ctx(data: Any) -> int | None:
    """llama.cpp ``/props``: ``default_generation_settings.n_ctx`` (per slot)."""
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    return _int(settings.get("n_ctx")) if isinstance(settings, dict) else None


# --------------------------------------------------------------------------------------- exporters


@dataclass(frozen=True, slots=True)
class NodeReading:
    cpu_idle: float | None = None
    """``node_cpu_seconds_total`` in mode idle, summed over CPUs (as the PromQL figure reads it)."""
    cpu_total: float | None = None
    ram_total: float | None = None
    ram_available: float | None = None
    disk_size: float | None = None
    disk_avail: float | None = None


def parse_node(m: Metrics) -> NodeReading:
    idle = total = 0.0
    seen_cpu = False
    for labels, value in m.samples("node_cpu_seconds_total"):
        seen_cpu = True
        total += value
        if labels.get("mode") == "idle":
            idle += value
    size = avail = 0.0
    seen_fs: set[str] = set()
    for labels, value in m.samples("node_filesystem_size_bytes"):
        device = labels.get("device", "")
        if labels.get("fstype", "") in VIRTUAL_FS or device in seen_fs:
            continue
        avail_value = m.value(
            "node_filesystem_avail_bytes",
            device=device,
            mountpoint=labels.get("mountpoint", ""),
        )
        if avail_value is None:
            continue
        seen_fs.add(device)
        size += value
        avail += avail_value
    ram_available = m.value("node_memory_MemAvailable_bytes")
    return NodeReading(
        cpu_idle=idle if seen_cpu else None,
        cpu_total=total if seen_cpu else None,
        ram_total=m.value("node_memory_MemTotal_bytes"),
        ram_available=ram_available,
        disk_size=size if seen_fs else None,
        disk_avail=avail if seen_fs else None,
    )


@dataclass(frozen=True, slots=True)
class GpuReading:
    util_percent: float | None = None
    """Mean over the GPUs."""
    memory_used: float | None = None
    """Bytes, summed over the GPUs."""
    memory_total: float | None = None
    memory_free: float | None = None
    """Bytes a new process could take (dcgm's ``FB_FREE``: the total less used and reserved)."""


_MIB = 1024 * 1024


def parse_gpu(m: Metrics) -> GpuReading:
    """dcgm-exporter (MiB) or nvitop-exporter (bytes); tolerant of either being partial."""
    utils = [v for _, v in m.samples("DCGM_FI_DEV_GPU_UTIL")] or [
        v for _, v in m.samples("nvitop_gpu_utilization_percent")
    ]
    used = total = free_bytes = None
    if "DCGM_FI_DEV_FB_USED" in m:
        used = (m.total("DCGM_FI_DEV_FB_USED") or 0.0) * _MIB
        free = m.total("DCGM_FI_DEV_FB_FREE")
        reserved = m.total("DCGM_FI_DEV_FB_RESERVED") or 0.0
        if free is not None:
            total = used + (free + reserved) * _MIB
            free_bytes = free * _MIB
    elif "nvitop_gpu_memory_used_bytes" in m:
        used = m.total("nvitop_gpu_memory_used_bytes")
        total = m.total("nvitop_gpu_memory_total_bytes")
        if used is not None and total is not None:
            free_bytes = max(0.0, total - used)
    return GpuReading(
        util_percent=sum(utils) / len(utils) if utils else None,
        memory_used=used,
        memory_total=total,
        memory_free=free_bytes,
    )


@dataclass(frozen=True, slots=True)
class SwapReading:
    running: tuple[str, ...] = field(default=())


def parse_llama_swap(data: Any) -> SwapReading:
    """llama-swap ``/running``: ``{"running": [{"model": ..., "state": ...}]}``."""
    if not isinstance(data, dict) or not isinstance(data.get("running"), list):
        raise ScrapeError("not llama-swap's /running answer (no 'running' list)")
    names = [r.get("model") for r in data["running"] if isinstance(r, dict)]
    return SwapReading(tuple(one_line(n, 120) for n in names if isinstance(n, str) and n))
