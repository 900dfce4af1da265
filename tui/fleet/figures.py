"""A remote host's resource figures in the shapes the Monitor screen and the gauge strip draw.

On a remote host, this machine's CPU and RAM are the wrong figures: the host's own come from its
node_exporter and GPU exporter (or Prometheus), through the fleet collector's :class:`HostView`.
When a host has none, :func:`missing` says why, so nothing falls back to local figures silently.
"""

from __future__ import annotations

from tui.fleet.hosts import Host
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
