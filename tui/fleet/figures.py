"""A remote host's resource figures in the shapes the Monitor screen, the gauge strip and
``slmdeck fit --host`` use.

On a remote host, this machine's CPU and RAM are the wrong figures: the host's own come from its
node_exporter and GPU exporter (or Prometheus), through the fleet collector's :class:`HostView`.
When a host has none, :func:`missing` (and :func:`memory_pool`) says why, so nothing falls back to
local figures silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from tui.core.quant import MemoryPool
from tui.fleet.hosts import FleetSettings, Host
from tui.fleet.model import HostView
from tui.monitor.sample import GpuSample, Sample


def source(view: HostView, host: Host) -> str:
    """Where the figures come from, e.g. ``node_exporter, GPU exporter`` or ``Prometheus``."""
    if view.source == "prometheus":
        return "Prometheus"
    parts = []
    if host.node_exporter:
        parts.append("node_exporter")
    if host.gpu_exporter:
        parts.append("GPU exporter")
    return ", ".join(parts) or "no exporter"


def has_figures(view: HostView | None) -> bool:
    """Whether the view has any CPU, RAM, disk or GPU figure now."""
    if view is None:
        return False
    figures = (
        view.cpu_percent,
        view.ram_percent,
        view.disk_percent,
        view.gpu_percent,
        view.vram_percent,
    )
    return any(f.now is not None for f in figures)


def missing(view: HostView | None, host: Host) -> str:
    """Why the host has no resource figures now, in a few words (empty when it has some)."""
    if has_figures(view):
        return ""
    if view is None:
        return "the fleet is not polled yet"
    if view.source == "prometheus":
        reason = next((p for p in view.problems if p.startswith("prometheus")), "")
        return reason or "Prometheus has no node or GPU series for it"
    if not host.node_exporter and not host.gpu_exporter:
        return "no node_exporter configured"
    down = [
        b.reason or f"{b.id} down"
        for b in view.backends
        if b.kind in ("node_exporter", "gpu_exporter") and b.up is False
    ]
    if down:
        return "; ".join(down)
    if view.reachable is None:
        return "not polled yet"
    return "waiting for a second reading"


def strip_sample(view: HostView | None, like: Sample) -> Sample | None:
    """The host's figures as a :class:`Sample` for the gauge strip (CPU, RAM, GPU memory), with
    ``like``'s tick and time; None unless both CPU and RAM are known."""
    if view is None or view.cpu_percent.now is None or not view.ram_total:
        return None
    if view.ram_used is None:
        return None
    gpus: tuple[GpuSample, ...] = ()
    if view.vram_total or view.gpu_percent.now is not None:
        gpus = (
            GpuSample(
                index=0,
                name="GPU exporter",
                util_percent=view.gpu_percent.now,
                memory_used=view.vram_used,
                memory_total=view.vram_total,
            ),
        )
    return Sample(
        tick=like.tick,
        time=like.time,
        interval=like.interval,
        cpu_percent=view.cpu_percent.now,
        cpu_per_core=(),
        load_avg=None,
        ram_total=view.ram_total,
        ram_used=view.ram_used,
        ram_available=view.ram_total - view.ram_used,
        swap_total=0,
        swap_used=0,
        net_rx_rate=None,
        net_tx_rate=None,
        gpus=gpus,
        gpu_status="" if gpus else "no GPU exporter",
    )


GPU_UNKNOWN = "GPU memory is not known"
"""In :func:`memory_pool`'s note on a host whose GPU memory could not be read."""


def memory_pool(view: HostView | None, host: Host) -> MemoryPool | str:
    """The memory a fit on ``host`` is graded against, from one reading of its exporters: RAM
    available to a new process (node_exporter's ``MemAvailable``) and free VRAM (the GPU
    exporter's, e.g. dcgm's ``FB_FREE``), or, when its RAM is not known, why not in a few words.

    A GPU exporter that is missing or failed leaves the pool CPU-only, with a note saying so
    (:data:`GPU_UNKNOWN` starts it).
    """
    if view is None:
        return "it was not read"
    if view.ram_total is None or view.ram_used is None:
        return _no_ram(view, host)
    notes: list[str] = []
    vram_total = view.vram_total or 0
    vram_used = view.vram_used or 0
    free_vram = 0
    if vram_total:
        free_vram = view.vram_free if view.vram_free is not None else vram_total - vram_used
    else:
        why = _no_gpu(view, host)
        if why:
            notes.append(
                f"host {host.name}'s {GPU_UNKNOWN} ({why}): graded as CPU only "
                "(--vram-gib or --unified say otherwise)"
            )
    return MemoryPool(
        free_ram=max(0, view.ram_total - view.ram_used),
        free_vram=max(0, free_vram),
        vram_total=vram_total,
        vram_used=vram_used,
        notes=tuple(notes),
    )


def memory_source(view: HostView, host: Host) -> str:
    """Where :func:`memory_pool`'s figures come from: ``Prometheus``, ``node_exporter`` or
    ``node_exporter and GPU exporter``."""
    if view.source == "prometheus":
        return "Prometheus"
    return "node_exporter and GPU exporter" if view.vram_total else "node_exporter"


def _down(view: HostView, kind: str) -> str:
    return next((b.reason for b in view.backends if b.id == kind and b.up is False), "")


def _no_ram(view: HostView, host: Host) -> str:
    if view.source == "prometheus":
        prometheus = next((p for p in view.problems if p.startswith("prometheus")), "")
        return (
            prometheus
            or _down(view, "node_exporter")
            or "Prometheus has no node_memory_MemAvailable_bytes or MemTotal series for it"
        )
    if not host.node_exporter:
        return "no node_exporter configured for it"
    return _down(view, "node_exporter") or (
        "its node_exporter has no node_memory_MemAvailable_bytes or MemTotal"
    )


def _no_gpu(view: HostView, host: Host) -> str:
    if view.source == "prometheus":
        return _down(view, "gpu_exporter") or "Prometheus has no GPU memory series for it"
    if not host.gpu_exporter:
        return "no gpu_exporter configured for it"
    return _down(view, "gpu_exporter") or "its GPU exporter has no GPU memory figures"


async def read_memory(
    name: str, hosts: Sequence[Host], settings: FleetSettings
) -> tuple[MemoryPool | str, str]:
    """Read host ``name``'s memory once (its exporters, or ``settings.prometheus``) with the
    fleet collector: ``(pool or why not, where the figures come from)``.

    ``hosts`` is the whole fleet (through Prometheus, a target belongs to a host by its address
    among all of them); only ``name``'s exporters are read.
    """
    from tui.fleet.collector import FleetCollector

    host = next((h for h in hosts if h.name == name), None)
    if host is None:
        return "it is not configured", ""
    async with FleetCollector(hosts, settings) as collector:
        view = await collector.poll_resources(name)
    if view is None:
        return "it was not read", ""
    return memory_pool(view, host), memory_source(view, host)
