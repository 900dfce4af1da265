"""The Monitor screen: gauges with five-minute trends, per-core bars, backend processes, loaded models.

Figures come from the app's sampler (one :class:`~tui.screens.base.MonitorSampled` per sample, sent
to the active screen only, so a hidden Monitor costs nothing). Loaded models are asked of the
backends every few seconds while the screen is shown; ``u`` unloads the highlighted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Header, Static

from tui.controller import HostChanged
from tui.core.sanitize import sanitize
from tui.fleet import figures as host_figures
from tui.fleet.hosts import LOCAL, Host
from tui.fleet.model import HostView
from tui.messages import ControllerEvent, MonitorSampled
from tui.monitor.fmt import NA, format_bytes, format_percent, format_rate
from tui.monitor.sample import Sample, vram_cross_check
from tui.screens.base import DeckScreen
from tui.types import BackendError, Capability, RunningModel
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.gauges import CoreBars, GaugePanel, GaugeRow, format_pair
from tui.widgets.key_bar import KeyBar

History = Callable[[str], tuple[float | None, ...]]

LOADED_MODELS_EVERY = 3.0
"""Seconds between asking the backends which models they hold (while the screen is shown)."""


def _sum_series(
    a: tuple[float | None, ...], b: tuple[float | None, ...]
) -> tuple[float | None, ...]:
    return tuple(None if x is None or y is None else x + y for x, y in zip(a, b, strict=False))


def resource_rows(sample: Sample, history: History) -> list[GaugeRow]:
    """The gauge rows for one sample: CPU, RAM, swap, each GPU (or a quiet "no GPU"), network,
    and the model stores' disks."""
    rows = [
        GaugeRow(
            "CPU",
            sample.cpu_percent,
            format_percent(sample.cpu_percent),
            "load " + " ".join(f"{v:.2f}" for v in sample.load_avg) if sample.load_avg else "",
            history("cpu"),
        ),
        GaugeRow(
            "RAM",
            sample.ram_percent,
            format_percent(sample.ram_percent),
            format_pair(sample.ram_total - sample.ram_available, sample.ram_total),
            history("ram"),
        ),
        GaugeRow(
            "Swap",
            sample.swap_percent if sample.swap_total else None,
            format_percent(sample.swap_percent) if sample.swap_total else "no swap",
            format_pair(sample.swap_used, sample.swap_total) if sample.swap_total else "",
            history("swap") if sample.swap_total else (),
        ),
    ]
    if not sample.gpus:
        rows.append(GaugeRow("GPU", None, sample.gpu_status or "no GPU", quiet=True))
    many = len(sample.gpus) > 1
    for g in sample.gpus:
        n = str(g.index) if many else ""
        name = g.name.removeprefix("NVIDIA ").strip()
        rows.append(
            GaugeRow(
                f"GPU{n}",
                g.util_percent,
                "load n/a"
                if g.util_percent is None and g.note.startswith("load n/a")
                else format_percent(g.util_percent),
                name,
                history(f"gpu{g.index}.util"),
            )
        )
        vram = (
            format_pair(g.memory_used, g.memory_total)
            if g.memory_used is not None and g.memory_total
            else NA
        )
        if g.unified and g.memory_used is not None and g.memory_total:
            # One pool with the CPU (RAM itself, or an APU's carve-out): said first, kept short
            # so it survives 80 columns.
            gib = g.memory_total >= 1024**3
            scale, unit, digits = (1024**3, "G", 1) if gib else (1024**2, "M", 0)
            used, total = g.memory_used / scale, g.memory_total / scale
            vram = f"unified {used:.{digits}f}/{total:.{digits}f}{unit}"
        rows.append(
            GaugeRow(
                f"VRAM{n}",
                g.memory_percent,
                format_percent(g.memory_percent),
                vram,
                history(f"gpu{g.index}.vram"),
            )
        )
        temp = f"{g.temperature_c:.0f} °C" if g.temperature_c is not None else "temp N/A"
        limit = f", limit {g.power_limit_w:.0f} W" if g.power_limit_w else ""
        power_pct = (
            100.0 * g.power_w / g.power_limit_w
            if g.power_w is not None and g.power_limit_w
            else None
        )
        rows.append(
            GaugeRow(
                f"Power{n}",
                power_pct,
                f"{g.power_w:.0f} W" if g.power_w is not None else NA,
                temp + limit,
                history(f"gpu{g.index}.power"),
                scale=g.power_limit_w or None,
            )
        )
    rows.append(
        GaugeRow(
            "Net",
            None,
            f"↓ {format_rate(sample.net_rx_rate)}",
            f"↑ {format_rate(sample.net_tx_rate)}",
            _sum_series(history("net_rx"), history("net_tx")),
            scale=None,
        )
    )
    for d in sample.disks:
        rows.append(
            GaugeRow(
                "Disk",
                d.percent,
                format_percent(d.percent),
                f"{format_bytes(d.free)} free",
                note=sanitize(d.label),
            )
        )
    return rows


def host_rows(view: HostView, host: Host) -> list[GaugeRow]:
    """The gauge rows of a remote host, from its exporters' figures (as the fleet collector read
    them): CPU, RAM, GPU and VRAM, disk; a figure the host does not expose is left out or quiet."""
    rows: list[GaugeRow] = []
    if view.cpu_percent.now is not None or view.cpu_percent.history:
        cpu = view.cpu_percent
        rows.append(GaugeRow("CPU", cpu.now, format_percent(cpu.now), "", cpu.history))
    if view.ram_percent.now is not None or view.ram_percent.history:
        ram = view.ram_percent
        pair = (
            format_pair(view.ram_used, view.ram_total)
            if view.ram_used is not None and view.ram_total
            else ""
        )
        rows.append(GaugeRow("RAM", ram.now, format_percent(ram.now), pair, ram.history))
    gpu, vram = view.gpu_percent, view.vram_percent
    if gpu.now is not None or vram.now is not None or gpu.history or vram.history:
        rows.append(GaugeRow("GPU", gpu.now, format_percent(gpu.now), "", gpu.history))
        pair = (
            format_pair(view.vram_used, view.vram_total)
            if view.vram_used is not None and view.vram_total
            else NA
        )
        rows.append(GaugeRow("VRAM", vram.now, format_percent(vram.now), pair, vram.history))
    elif rows:
        why = "no GPU exporter" if not host.gpu_exporter and view.source != "prometheus" else NA
        rows.append(GaugeRow("GPU", None, why, quiet=True))
    disk = view.disk_percent
    if disk.now is not None:
        free = (
            f"{format_bytes(view.disk_total - view.disk_used)} free"
            if view.disk_total is not None and view.disk_used is not None
            else ""
        )
        rows.append(GaugeRow("Disk", disk.now, format_percent(disk.now), free, disk.history))
    return rows


def until(model: RunningModel, now: float) -> str:
    """How long a model stays loaded, e.g. ``4 min`` (``–`` when it stays until unloaded)."""
    if model.expires_at is None:
        return "–"
    expires = model.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    left = expires.timestamp() - now
    if left > 10 * 365 * 86400:  # Ollama's keep_alive -1 expires in the far future
        return "forever"
    if left <= 0:
        return "now"
    if left < 60:
        return f"{left:.0f} s"
    if left < 3600:
        return f"{left / 60:.0f} min"
    return f"{left / 3600:.1f} h"


Cells = dict[str, tuple[str, ...]]
"""Row key -> the text of each cell, as last written to a table."""
PROCESS_COLUMNS = ("pid", "label", "cpu", "rss")
MODEL_COLUMNS = ("name", "backend", "size", "vram", "ctx", "until")
_RIGHT = frozenset({"pid", "cpu", "rss", "size", "vram", "ctx"})


def _cell(column: str, value: str) -> Text:
    return Text(
        value,
        justify="right" if column in _RIGHT else "left",
        overflow="ellipsis",
        no_wrap=True,
    )


def sync_table(
    table: DataTable[object], columns: tuple[str, ...], rows: Cells, previous: Cells
) -> Cells:
    """Make ``table`` show ``rows``, writing only the cells whose text changed; returns ``rows``.

    A change in which rows there are (or their order) rebuilds the table; otherwise each changed
    cell is updated in place, so an unchanged table costs no repaint.
    """
    if rows == previous:
        return rows
    if list(rows) != list(previous):
        table.clear()
        for key, cells in rows.items():
            table.add_row(*(_cell(c, v) for c, v in zip(columns, cells, strict=True)), key=key)
        return rows
    for key, cells in rows.items():
        for column, old, new in zip(columns, previous[key], cells, strict=True):
            if old != new:
                table.update_cell(key, column, _cell(column, new))
    return rows


def _model_key(model: RunningModel) -> str:
    return f"{model.backend}\x00{model.name}"


class MonitorScreen(DeckScreen):
    """Live resources; figures from the app's sampler, loaded models from the backends."""

    CSS_PATH = "monitor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "u",
            "unload",
            "Unload model",
            id="monitor.unload",
            tooltip="Free the memory of the highlighted loaded model",
        ),
        Binding(
            "l",
            "refresh_models",
            "Loaded models",
            id="monitor.loaded",
            tooltip="Ask the backends again which models they hold",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._poll: Timer | None = None
        self._models: tuple[RunningModel, ...] = ()
        self._offered_unload = False
        self._model_cells: Cells = {}
        self._proc_cells: Cells = {}
        self._title = ""
        self._note_text = ""
        self._remote: bool | None = None
        """Whether the figures shown are a remote host's (None: nothing shown yet)."""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="monitor-body"):
            yield Static("Resources", classes="section-title", id="resources-title")
            yield Static("", id="host-note", markup=False)
            yield GaugePanel(id="gauges")
            yield Static("CPU cores", classes="section-title local-only")
            yield CoreBars(id="cores", classes="local-only")
            yield Static("Backend processes", classes="section-title local-only")
            yield DataTable(
                id="processes", cursor_type="row", zebra_stripes=True, classes="local-only"
            )
            yield Static("Loaded models", classes="section-title")
            yield DataTable(id="loaded", cursor_type="row", zebra_stripes=True)
            yield Static("", id="loaded-note")
        yield GaugeStrip()
        yield KeyBar()

    def on_mount(self) -> None:
        procs = self.query_one("#processes", DataTable)
        procs.add_column("PID", key="pid", width=8)
        procs.add_column("Process", key="label", width=18)
        procs.add_column("CPU", key="cpu", width=8)
        procs.add_column("RSS", key="rss", width=10)
        loaded = self.query_one("#loaded", DataTable)
        # Fixed widths that fit 80 columns (long model names end in an ellipsis).
        loaded.add_column("Model", key="name", width=24)
        loaded.add_column("Backend", key="backend", width=8)
        loaded.add_column("Size", key="size", width=9)
        loaded.add_column("VRAM", key="vram", width=9)
        loaded.add_column("Context", key="ctx", width=7)
        loaded.add_column("Until", key="until", width=7)
        self._note("Asking the backends which models they hold…")
        self._poll = self.set_interval(LOADED_MODELS_EVERY, self.refresh_models, pause=True)

    # ------------------------------------------------------------------ shown / hidden

    @on(MonitorSampled)
    def _sampled(self, message: MonitorSampled) -> None:
        self.show_sample(message.sample)

    def on_screen_resume(self) -> None:
        if self._poll is not None:
            self._poll.resume()
        self.refresh_models()

    def on_screen_suspend(self) -> None:
        # Hidden: no backend polling (and no samples arrive: the app sends them to the active screen).
        if self._poll is not None:
            self._poll.pause()

    # ------------------------------------------------------------------ figures

    def show_sample(self, sample: Sample) -> None:
        """Draw one sample: gauges with trends, per-core bars and the process table; on a remote
        host, that host's figures instead (:meth:`show_host`), never this machine's."""
        if self.deck.controller.current_host != LOCAL:
            self.show_host()
            self._show_models()
            return
        self._set_remote(False)
        monitor = self.deck.controller.monitor
        gauges = self.query_one("#gauges", GaugePanel)
        # Each trend cell covers a fixed stretch: the full width is the monitor's history.
        gauges.span = monitor.history_size
        minutes = monitor.history_size * self.deck.config.monitor_interval / 60
        self._set_title(f"Resources · trends of the last {minutes:.0f} min, peak per cell")
        gauges.set_rows(resource_rows(sample, monitor.history), sample.tick)
        self.query_one("#cores", CoreBars).set_cores(sample.cpu_per_core)
        self._show_processes(sample)
        self._show_models()

    def show_host(self) -> None:
        """Draw the current remote host's figures from the fleet collector's view: its
        node_exporter and GPU exporter (or Prometheus), or why it has none."""
        controller = self.deck.controller
        self._set_remote(True)
        host, view = controller.host(), controller.host_view()
        settings = controller.fleet_settings
        name = sanitize(host.name)
        gauges = self.query_one("#gauges", GaugePanel)
        gauges.span = settings.history
        why = host_figures.missing(view, host)
        note = self.query_one("#host-note", Static)
        if why or view is None:
            self._set_title(f"Resources · host {name}")
            note.update(
                f"No host figures for {name} ({sanitize(why)}); this machine's are not shown."
            )
            note.display = True
            gauges.set_rows(())
            return
        note.display = False
        minutes = settings.history * settings.interval / 60
        source = host_figures.source(view, host)
        self._set_title(f"Resources · host {name} ({source}) · last {minutes:.0f} min")
        tick = round(view.updated / settings.interval) if view.updated else 0
        gauges.set_rows(host_rows(view, host), tick)

    def _set_remote(self, remote: bool) -> None:
        if remote == self._remote:
            return
        self._remote = remote
        # This machine's cores and processes say nothing about a remote host (no agent there).
        for widget in self.query(".local-only"):
            widget.display = not remote
        if not remote:
            self.query_one("#host-note", Static).display = False

    def _set_title(self, title: str) -> None:
        if title != self._title:  # an update re-lays the screen out: only when it changed
            self._title = title
            self.query_one("#resources-title", Static).update(Text(title))

    @on(ControllerEvent)
    def _host_changed(self, message: ControllerEvent) -> None:
        if isinstance(message.event, HostChanged):
            self._models = ()
            self._model_cells = sync_table(
                self.query_one("#loaded", DataTable), MODEL_COLUMNS, {}, self._model_cells
            )
            latest = self.deck.last_sample
            if latest is not None:
                self.show_sample(latest)
            self.refresh_models()

    def _show_processes(self, sample: Sample) -> None:
        rows: Cells = {
            str(p.pid): (
                str(p.pid),
                sanitize(p.label),
                format_percent(p.cpu_percent) if p.cpu_percent is not None else "…",
                format_bytes(p.rss),
            )
            for p in sample.processes
        }
        table = self.query_one("#processes", DataTable)
        self._proc_cells = sync_table(table, PROCESS_COLUMNS, rows, self._proc_cells)

    # ------------------------------------------------------------------ loaded models

    @work(group="loaded-models", exclusive=True, exit_on_error=False)
    async def refresh_models(self) -> None:
        """Ask the backends which models they hold and show them."""
        self._models = await self.deck.controller.refresh_loaded_models()
        self._show_models()

    def action_refresh_models(self) -> None:
        self.refresh_models()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unload":
            # Offered only while a model is loaded (the footer and the keys panel follow), and
            # never on a read-only host.
            return bool(self._models) and not self.deck.controller.read_only()
        return True

    def _show_models(self) -> None:
        if bool(self._models) != self._offered_unload:
            self._offered_unload = bool(self._models)
            self.refresh_bindings()  # only when that changes: a bindings refresh is costly
        table = self.query_one("#loaded", DataTable)
        # The list is the backends' answer now, so expiry counts from the wall clock.
        now = time.time()
        rows: Cells = {
            _model_key(m): (
                sanitize(m.name),
                m.backend,
                format_bytes(m.size) if m.size else NA,
                format_bytes(m.size_vram) if m.size_vram else "–",
                str(m.context_length) if m.context_length else "–",
                until(m, now),
            )
            for m in self._models
        }
        self._model_cells = sync_table(table, MODEL_COLUMNS, rows, self._model_cells)
        if self.deck.controller.loaded_models is None:
            return
        latest = self.deck.last_sample
        local = self.deck.controller.current_host == LOCAL
        # This machine's GPUs against a remote host's models would compare the wrong memory.
        check = vram_cross_check(tuple(self._models), latest.gpus) if latest and local else ""
        self._note(
            "u unloads the highlighted model" + (f" · {check}" if check else "")
            if rows
            else "No model is loaded. Models appear here while a backend holds one in memory."
        )

    def _note(self, text: str) -> None:
        if text != self._note_text:  # an update re-lays the screen out: only when it changed
            self._note_text = text
            self.query_one("#loaded-note", Static).update(text)

    def highlighted_model(self) -> RunningModel | None:
        """The loaded model under the table's cursor, if any."""
        table = self.query_one("#loaded", DataTable)
        if not self._models or table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((m for m in self._models if _model_key(m) == key), None)

    def action_unload(self) -> None:
        model = self.highlighted_model()
        if model is None:
            self.notify("No loaded model is highlighted.", timeout=3, markup=False)
            return
        if not self.deck.controller.supports(model.backend, Capability.UNLOAD):
            self.notify(
                f"{model.backend} cannot unload models.",
                severity="warning",
                timeout=5,
                markup=False,
            )
            return
        self._unload(model)

    @work(group="unload", exit_on_error=False)
    async def _unload(self, model: RunningModel) -> None:
        name = sanitize(model.name)
        try:
            await self.deck.controller.unload(model.backend, model.name)
        except BackendError as exc:
            self.notify(
                f"Could not unload {name}: {exc}",
                title="Unload",
                severity="error",
                timeout=8,
                markup=False,
            )
        except Exception as exc:  # a backend bug: say it, keep the screen
            self.notify(
                f"Could not unload {name} (unexpected {type(exc).__name__}: {exc}).",
                title="Unload",
                severity="error",
                timeout=8,
                markup=False,
            )
        else:
            self.notify(
                f"Unloaded {name} from {model.backend}.", title="Unload", timeout=4, markup=False
            )
        self._models = self.deck.controller.loaded_models or ()
        self._show_models()
