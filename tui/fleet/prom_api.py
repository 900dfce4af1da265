"""Reading the whole fleet's figures from an existing Prometheus (``[fleet] prometheus``).

One instant query (``/api/v1/query``) per figure for every host at once, grouped ``by (instance)``,
and ``/api/v1/targets`` to tell which host each instance is and whether Prometheus could scrape it.
An instance belongs to a host when its scrape URL's ``host:port`` is one of the host's endpoints
(node_exporter, GPU exporter, an OpenAI server's root); failing that, when its address is the
address of exactly one host's endpoints (a node_exporter on the same machine as an Ollama).

The queries are the same arithmetic as the direct scrape (:mod:`tui.fleet.collector`), so the two
sources agree: CPU from the idle share of ``node_cpu_seconds_total``, RAM from ``MemAvailable`` over
``MemTotal``, disk over the real filesystems (one per device), and tokens per second as the rate of
the servers' generated-token counters.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from tui.backends.base import one_line
from tui.fleet import scrape
from tui.fleet.hosts import Host

_FS = "|".join(sorted(scrape.VIRTUAL_FS))
_REAL_FS = f'fstype!~"{_FS}"'

WINDOW = "1m"
"""Range of ``rate()``: long enough for four scrapes at Prometheus' default 15 s interval."""


def queries(window: str = WINDOW) -> dict[str, str]:
    """PromQL per figure, each grouped ``by (instance)``."""
    running = "vllm:num_requests_running|llamacpp:requests_processing"
    waiting = "vllm:num_requests_waiting|llamacpp:requests_deferred"
    generated = "vllm:generation_tokens_total|llamacpp:tokens_predicted_total"
    mib = 1024 * 1024
    dcgm_used = "sum by (instance) (DCGM_FI_DEV_FB_USED)"
    dcgm_free = "sum by (instance) (DCGM_FI_DEV_FB_FREE)"
    # FB_RESERVED is newer than the other two: an exporter without it counts none reserved.
    dcgm_reserved = f"(sum by (instance) (DCGM_FI_DEV_FB_RESERVED) or 0 * {dcgm_free})"
    nvitop_used = "sum by (instance) (nvitop_gpu_memory_used_bytes)"
    nvitop_total = "sum by (instance) (nvitop_gpu_memory_total_bytes)"
    vram_used = f"({mib} * {dcgm_used} or {nvitop_used})"
    vram_total = f"({mib} * ({dcgm_used} + {dcgm_free} + {dcgm_reserved}) or {nvitop_total})"
    return {
        "cpu_percent": (
            f'100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{window}])))'
        ),
        "ram_percent": (
            "100 * (1 - max by (instance) (node_memory_MemAvailable_bytes)"
            " / max by (instance) (node_memory_MemTotal_bytes))"
        ),
        "ram_total": "max by (instance) (node_memory_MemTotal_bytes)",
        "ram_available": "max by (instance) (node_memory_MemAvailable_bytes)",
        "disk_percent": (
            "100 * (1 - sum by (instance) (max by (instance, device) "
            f"(node_filesystem_avail_bytes{{{_REAL_FS}}}))"
            " / sum by (instance) (max by (instance, device) "
            f"(node_filesystem_size_bytes{{{_REAL_FS}}})))"
        ),
        "disk_total": (
            "sum by (instance) (max by (instance, device) "
            f"(node_filesystem_size_bytes{{{_REAL_FS}}}))"
        ),
        "gpu_percent": (
            'avg by (instance) ({__name__=~"DCGM_FI_DEV_GPU_UTIL|nvitop_gpu_utilization_percent"})'
        ),
        # The total counts reserved memory, as the direct scrape's does (scrape.parse_gpu).
        "vram_percent": f"100 * {vram_used} / {vram_total}",
        "vram_used": vram_used,
        "vram_total": vram_total,
        "vram_free": f"({mib} * {dcgm_free} or ({nvitop_total} - {nvitop_used}))",
        "requests_running": f'sum by (instance) ({{__name__=~"{running}"}})',
        "requests_waiting": f'sum by (instance) ({{__name__=~"{waiting}"}})',
        "tok_s": f'sum by (instance) (rate({{__name__=~"{generated}"}}[{window}]))',
        "kv_cache_percent": (
            "100 * (max by (instance) (vllm:kv_cache_usage_perc)"
            " or max by (instance) (vllm:gpu_cache_usage_perc))"
        ),
        "decode_tok_s": "max by (instance) (llamacpp:predicted_tokens_seconds)",
        "server_kind": f'count by (instance, __name__) ({{__name__=~"{running}"}})',
    }


ADDITIVE = frozenset({"requests_running", "requests_waiting", "tok_s"})
"""Figures summed over a host's instances (the others come from one exporter)."""

SERVER_FIGURES = frozenset(
    {"requests_running", "requests_waiting", "tok_s", "kv_cache_percent", "decode_tok_s"}
)
"""Figures of one inference server, kept per endpoint too (the Fleet screen's endpoint lines)."""

ENDPOINT_ONLY = frozenset({"kv_cache_percent", "decode_tok_s", "server_kind"})
"""Figures of an endpoint that are not the host's."""

_KINDS = {"vllm:num_requests_running": "vllm", "llamacpp:requests_processing": "llama.cpp"}
"""The server a metric name tells (the direct scrape's :func:`scrape.parse_server_metrics`)."""


def scrape_error(text: str) -> str:
    """Prometheus' ``lastError`` of a target in the words of the direct scrape's reasons: Go's
    ``Get "URL": dial tcp ADDR: connect: connection refused`` → ``connection refused``."""
    cause = re.sub(r'^Get "[^"]*":\s*', "", text.strip())
    low = cause.lower()
    if "connection refused" in low:
        return "connection refused"
    if "context deadline exceeded" in low or "client.timeout" in low:
        return "no answer within Prometheus' scrape timeout"
    if "no such host" in low:
        return "no such host"
    return one_line(cause, 100) or "down"


@dataclass(slots=True)
class FleetReading:
    figures: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """host name → figure → value."""
    health: dict[str, dict[str, tuple[bool, str]]] = field(default_factory=dict)
    """host name → endpoint id → (up, reason) as Prometheus' last scrape of it went."""
    endpoints: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    """(host name, endpoint id) → that endpoint's own server figures (:data:`SERVER_FIGURES`)."""
    kinds: dict[tuple[str, str], str] = field(default_factory=dict)
    """(host name, endpoint id) → ``vllm`` or ``llama.cpp``, told by its metric names."""
    unmatched: list[str] = field(default_factory=list)
    """Instances that belong to no configured host."""


def _netloc(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ""
    return f"{(parts.hostname or '').lower()}:{port}"


class PrometheusSource:
    """The fleet as one Prometheus sees it."""

    def __init__(self, url: str, hosts: Sequence[Host], *, window: str = WINDOW) -> None:
        self.url = url.rstrip("/")
        self.queries = queries(window)
        self._by_netloc: dict[str, tuple[str, str]] = {}
        by_address: dict[str, set[str]] = {}
        for host in hosts:
            for ep_id, ep_url in host.endpoints():
                if ep_id.startswith("openai:"):
                    server = next(s for s in host.openai if f"openai:{s.name}" == ep_id)
                    ep_url = server.root
                loc = _netloc(ep_url)
                if loc:
                    self._by_netloc.setdefault(loc, (host.name, ep_id))
                    by_address.setdefault(loc.rsplit(":", 1)[0], set()).add(host.name)
        self._by_address = {a: next(iter(n)) for a, n in by_address.items() if len(n) == 1}

    def host_of(self, scrape_url: str, instance: str = "") -> tuple[str, str] | None:
        """``(host, endpoint id)`` of a target; the id is ``""`` when only the address matched."""
        for loc in (_netloc(scrape_url), _netloc(f"http://{instance}") if instance else ""):
            if loc and loc in self._by_netloc:
                return self._by_netloc[loc]
        for candidate in (scrape_url, f"http://{instance}" if instance else ""):
            loc = _netloc(candidate) if candidate else ""
            address = loc.rsplit(":", 1)[0] if loc else ""
            if address in self._by_address:
                return self._by_address[address], ""
        return None

    async def _get(self, client: httpx.AsyncClient, path: str, within: float, **params: str) -> Any:
        url = self.url + path
        answer = await scrape.fetch(client, url, within=within, params=params or None)
        data = scrape.json_of(answer, url)
        if not isinstance(data, dict) or data.get("status") != "success":
            error = data.get("error") if isinstance(data, dict) else None
            raise scrape.ScrapeError(
                f"{url}: {one_line(str(error), 100) if error else 'not a Prometheus API answer'}"
            )
        return data.get("data")

    async def read(self, client: httpx.AsyncClient, *, within: float) -> FleetReading:
        """Every figure of every host, and every target's health.

        Raises:
            ScrapeError: Prometheus did not answer ``/api/v1/targets`` (then nothing is known).
        """
        names = list(self.queries)
        results = await asyncio.gather(
            self._get(client, "/api/v1/targets", within, state="active"),
            *(self._get(client, "/api/v1/query", within, query=self.queries[n]) for n in names),
            return_exceptions=True,
        )
        targets = results[0]
        if isinstance(targets, BaseException):
            if isinstance(targets, scrape.ScrapeError):
                raise targets
            raise scrape.ScrapeError(f"{self.url}: {scrape.describe(targets, within)}")
        reading = FleetReading()
        instance_host: dict[str, tuple[str, str]] = {}
        for target in (targets or {}).get("activeTargets", []) if isinstance(targets, dict) else []:
            if not isinstance(target, dict):
                continue
            labels = target["labels"] if isinstance(target.get("labels"), dict) else {}
            instance = str(labels.get("instance", ""))
            url = str(target.get("scrapeUrl", ""))
            found = self.host_of(url, instance)
            if found is None:
                reading.unmatched.append(one_line(instance or url, 80))
                continue
            host, ep_id = found
            instance_host[instance] = found
            if ep_id:
                up = target.get("health") == "up"
                error = scrape_error(str(target.get("lastError") or target.get("health")))
                reason = "" if up else f"{ep_id} {one_line(url, 100)} (Prometheus): {error}"
                reading.health.setdefault(host, {})[ep_id] = (up, reason)
        for name, result in zip(names, results[1:], strict=True):
            if isinstance(result, BaseException) or not isinstance(result, dict):
                continue  # one failed query leaves that figure unknown, the others stand
            for series in result.get("result", []):
                try:
                    labels = series["metric"]
                    instance = str(labels.get("instance", ""))
                    value = float(series["value"][1])
                except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                    continue
                found = instance_host.get(instance) or self.host_of("", instance)
                if found is None or not math.isfinite(value):
                    continue
                host, ep_id = found
                if name == "server_kind":
                    kind = _KINDS.get(str(labels.get("__name__", "")))
                    if kind and ep_id:
                        reading.kinds[(host, ep_id)] = kind
                    continue
                if ep_id and name in SERVER_FIGURES:
                    reading.endpoints.setdefault((host, ep_id), {})[name] = value
                if name in ENDPOINT_ONLY:
                    continue
                figures = reading.figures.setdefault(host, {})
                if name in ADDITIVE and figures.get(name) is not None:
                    figures[name] = (figures[name] or 0.0) + value
                else:
                    figures[name] = value
        return reading
