"""What the fleet looks like: immutable views of each host, as screens and commands read them.

A view is built once per change of its host and shared; everything in it is a tuple or a frozen
dataclass, so a screen can keep one across updates without copying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of a host: its latest value (None: unknown) and the recent ones, oldest first."""

    now: float | None = None
    history: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.now, "history": list(self.history)}


NO_FIGURE = Figure()


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model a server holds in memory (Ollama's ``/api/ps``, a server's ``/v1/models``)."""

    name: str
    backend: str
    """Backend id on its host: ``ollama`` or ``openai:<name>``."""
    size: int | None = None
    """Bytes in memory (RAM + VRAM), when the server says."""
    size_vram: int | None = None
    context_length: int | None = None
    expires_at: datetime | None = None
    """When Ollama unloads it (None: never, or not said)."""

    @property
    def vram_share(self) -> float | None:
        """Fraction of the model in VRAM (0..1), when both sizes are known."""
        if self.size is None or self.size_vram is None or self.size <= 0:
            return None
        return max(0.0, min(1.0, self.size_vram / self.size))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "size": self.size,
            "size_vram": self.size_vram,
            "vram_share": self.vram_share,
            "context_length": self.context_length,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True, slots=True)
class BackendView:
    """One endpoint of a host and its state."""

    id: str
    """``ollama``, ``openai:<name>``, ``node_exporter``, ``gpu_exporter`` or ``llama_swap``."""
    kind: str
    """What answers there: ``ollama``, ``vllm``, ``llama.cpp``, ``openai`` (unknown server),
    ``node_exporter``, ``gpu_exporter``, ``llama_swap``."""
    url: str
    up: bool | None
    """True: answered; False: did not (see ``reason``); None: not polled yet."""
    reason: str = ""
    models: int | None = None
    """Models it offers (Ollama's ``/api/tags``, ``/v1/models``), when known."""
    requests_running: float | None = None
    requests_waiting: float | None = None
    kv_cache_percent: float | None = None
    """KV cache (vLLM) or context (llama.cpp ``/slots``) in use, 0..100."""
    tok_s: float | None = None
    """Generated tokens per second, from the server's counter between two readings."""
    decode_tok_s: float | None = None
    """llama.cpp's own ``predicted_tokens_seconds`` (average decode speed)."""
    slots_busy: int | None = None
    slots_total: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "url": self.url,
            "up": self.up,
            "reason": self.reason,
            "models": self.models,
            "requests_running": self.requests_running,
            "requests_waiting": self.requests_waiting,
            "kv_cache_percent": self.kv_cache_percent,
            "tok_s": self.tok_s,
            "decode_tok_s": self.decode_tok_s,
            "slots_busy": self.slots_busy,
            "slots_total": self.slots_total,
        }


@dataclass(frozen=True, slots=True)
class HostView:
    """Everything known about one host at one moment."""

    name: str
    reachable: bool | None
    """True: something answered; False: nothing did (``reason`` says why); None: not polled yet."""
    reason: str = ""
    """Why it is unreachable, or what part of it is down, in one line (endpoint and cause)."""
    readonly: bool = False
    source: str = "direct"
    """``direct`` (scraped) or ``prometheus``."""
    backends: tuple[BackendView, ...] = ()
    loaded: tuple[LoadedModel, ...] = ()
    cpu_percent: Figure = NO_FIGURE
    ram_percent: Figure = NO_FIGURE
    disk_percent: Figure = NO_FIGURE
    gpu_percent: Figure = NO_FIGURE
    vram_percent: Figure = NO_FIGURE
    requests_running: Figure = NO_FIGURE
    requests_waiting: Figure = NO_FIGURE
    tok_s: Figure = NO_FIGURE
    ram_total: int | None = None
    ram_used: int | None = None
    disk_total: int | None = None
    disk_used: int | None = None
    vram_total: int | None = None
    vram_used: int | None = None
    vram_free: int | None = None
    """VRAM a new process could take (dcgm's ``FB_FREE``; total less used elsewhere)."""
    updated: float | None = None
    """Clock reading of the last poll that changed this view."""
    problems: tuple[str, ...] = field(default=())
    """One line per endpoint that failed (``reason`` joins them)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reachable": self.reachable,
            "reason": self.reason,
            "readonly": self.readonly,
            "source": self.source,
            "backends": [b.to_dict() for b in self.backends],
            "loaded": [m.to_dict() for m in self.loaded],
            "cpu_percent": self.cpu_percent.to_dict(),
            "ram_percent": self.ram_percent.to_dict(),
            "disk_percent": self.disk_percent.to_dict(),
            "gpu_percent": self.gpu_percent.to_dict(),
            "vram_percent": self.vram_percent.to_dict(),
            "requests_running": self.requests_running.to_dict(),
            "requests_waiting": self.requests_waiting.to_dict(),
            "tok_s": self.tok_s.to_dict(),
            "ram_total": self.ram_total,
            "ram_used": self.ram_used,
            "disk_total": self.disk_total,
            "disk_used": self.disk_used,
            "vram_total": self.vram_total,
            "vram_used": self.vram_used,
            "vram_free": self.vram_free,
            "problems": list(self.problems),
        }
