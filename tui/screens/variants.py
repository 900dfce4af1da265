"""The Variants screen: the quantization picker for one model family.

Every variant (Ollama tags such as ``q4_K_M``/``q8_0``/``fp16``; ONNX int4/int8/fp16/fp32) with bits
per weight, file size, memory needed at the chosen context (weights + KV cache of the chosen type +
runtime overhead), fit against live free VRAM and RAM drawn as a bar, the decode speed ceiling from
memory bandwidth, and whether it is installed. The best-quality variant that fits is pre-selected;
``-``/``+`` change the context and ``k`` the KV-cache type, and everything is recomputed at once.

Dimensions come from the real thing whenever it is at hand (a GGUF header, Ollama's ``/api/show``,
an ONNX folder's ``genai_config.json``); the offline catalog fills in only what is not installed.
Free memory comes from the controller's monitor, the same source as the gauges, and is re-read on
every sample.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker

from tui.controller import ModelsChanged, OperationUpdated
from tui.core.fit import DEFAULT_CTX, FitInputError, ResolvedModel, resolve_model
from tui.core.quant import (
    DEFAULT_OVERHEAD,
    FIT_THRESHOLDS_SHORT,
    KV_BYTES_PER_ELEMENT,
    SET_BY_YOU,
    FitLevel,
    MemoryPool,
    Placement,
    VariantFit,
    rank_variants,
)
from tui.core.sanitize import sanitize
from tui.core.text import format_params, plural
from tui.messages import ControllerEvent, MonitorSampled, OptionsGiven
from tui.monitor.fmt import format_bytes
from tui.monitor.resources import bandwidths
from tui.screens.base import DeckScreen
from tui.types import BackendError, Capability, ModelInfo
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.gauges import bar
from tui.widgets.key_bar import KeyBar
from tui.widgets.model_table import short_bytes
from tui.widgets.progress import OperationsPanel
from tui.widgets.prompt import PromptDialog

MIN_CTX = 512
MAX_CTX = 1 << 20
KV_TYPES = tuple(KV_BYTES_PER_ELEMENT)

_FIT_LOOK = {
    FitLevel.PERFECT: ("Perfect", "bold green"),
    FitLevel.GOOD: ("Good", "green"),
    FitLevel.MARGINAL: ("Marginal", "yellow"),
    FitLevel.TOO_TIGHT: ("Too tight", "bold red"),
}
_WHERE = {
    Placement.GPU: "GPU",
    Placement.CPU: "CPU",
    Placement.OFFLOAD: "GPU+CPU",
    Placement.NONE: "–",
}


# ------------------------------------------------------------------------------- drawing


@dataclass(frozen=True, slots=True)
class Budget:
    """Live free memory and bandwidths the fit is judged against."""

    free_vram: int
    """What the fit grades as the GPU's: free VRAM, or on unified memory the whole shared pool."""
    free_ram: int
    bandwidth: float
    gpu_bandwidth: float
    unified: bool = False
    set_by_you: frozenset[str] = frozenset()


def fit_cell(r: VariantFit, budget: Budget, width: int) -> Text:
    """The fit as a bar (share of the memory it would use) and a word."""
    label, style = _FIT_LOOK[r.fit.level]
    if r.fit.where is Placement.GPU:
        pool = budget.free_vram
    elif r.fit.where is Placement.CPU:
        pool = budget.free_ram
    else:
        pool = budget.free_vram + budget.free_ram
    fraction = r.memory.total / pool if pool > 0 else 1.0
    filled, empty = bar(fraction, width)
    text = Text()
    text.append(filled, style=style)
    text.append(empty, style="dim")
    text.append(f" {label:<9}", style=style)
    return text


def row_cells(r: VariantFit, budget: Budget, bar_width: int) -> tuple[Text, ...]:
    v = r.variant
    size = ("~" if v.size_estimated else "") + short_bytes(v.file_size)
    tokps = (
        f"≤{r.tokps_ceiling:.0f}"
        if r.tokps_ceiling >= 10
        else (f"≤{r.tokps_ceiling:.1f}" if r.tokps_ceiling else "–")
    )
    return (
        Text("★" if r.best else "", style="bold yellow"),
        Text(sanitize(v.quant), style="bold" if r.best else ""),
        Text(f"{v.bpw:.2f}" if v.bpw else "?", justify="right"),
        Text(size, justify="right"),
        Text(short_bytes(r.memory.total), justify="right"),
        fit_cell(r, budget, bar_width),
        Text(_WHERE[r.fit.where]),
        Text(tokps, justify="right"),
        Text("✓" if v.installed else "", style="bold green"),
    )


_COLUMNS = (
    ("best", ""),
    ("quant", "Quant"),
    ("bpw", "Bits"),
    ("size", "File"),
    ("memory", "Memory"),
    ("fit", "Fit"),
    ("where", "Where"),
    ("tokps", "tok/s"),
    ("installed", "Inst"),
)


def next_ctx(ctx: int, up: bool, limit: int) -> int:
    """The next context length in powers of two, within [MIN_CTX, limit]."""
    top = max(MIN_CTX, min(limit or MAX_CTX, MAX_CTX))
    if up:
        return min(1 << ctx.bit_length(), top)
    value = 1 << (ctx.bit_length() - 1)
    if value == ctx:
        value >>= 1
    return max(MIN_CTX, value)


class VariantsScreen(DeckScreen):
    """Pick a quantization variant that fits this machine; enter pulls it or chats with it."""

    CSS_PATH = "variants.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Pull / use", id="variants.choose", priority=True),
        Binding("minus", "ctx(False)", "Context −", id="variants.ctx_down"),
        Binding(
            "plus,equals_sign", "ctx(True)", "Context +", id="variants.ctx_up", key_display="+"
        ),
        Binding("k", "kv_type", "KV cache", id="variants.kv", tooltip="Cycle f16 / q8_0 / q4_0"),
        Binding(
            "o", "open_model", "Model…", id="variants.model", tooltip="Another model or family"
        ),
        Binding("escape", "cancel", "Cancel pull", id="variants.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.model = ""
        self.backend_id = ""
        self._options_taken: dict[str, str] | None = None
        """The app-wide options dict last shown (a new one is a new request)."""
        self.resolved: ResolvedModel | None = None
        self.ctx = DEFAULT_CTX
        self.kv_type = "f16"
        self.budget: Budget | None = None
        self.rows: list[VariantFit] = []
        self._drawn: tuple[object, ...] = ()
        self._problem = ""
        self._drawn_bar = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="variants-body"):
            yield Static("", id="variants-title", markup=False)
            yield Static("", id="variants-budget", markup=False)
            yield DataTable(id="variants-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="variants-note", markup=False)
            yield OperationsPanel(id="variants-ops", kinds=("pull",))
        yield GaugeStrip()
        yield KeyBar()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#variants-table", DataTable)

    def on_mount(self) -> None:
        for op in self.deck.controller.operations.values():
            self.query_one(OperationsPanel).track(op)
        self._take_options()
        self.table.focus()

    @on(OptionsGiven)
    @on(events.ScreenResume)
    def _resumed(self) -> None:
        # Only a new request (open_screen makes a new dict) replaces what is shown: coming back
        # with the key keeps the model the user chose here with o.
        opts = self.deck.screen_options
        if opts is not self._options_taken and opts.get("model"):
            self._take_options()

    def _take_options(self) -> None:
        opts = self._options_taken = self.deck.screen_options
        self._show(opts.get("model", ""), opts.get("backend", ""))

    def _show(self, model: str, backend_id: str) -> None:
        """Show the variants of ``model`` (of ``backend_id`` when installed there)."""
        self.model = model
        self.backend_id = backend_id
        if not self.model and (first := self._first_installed()) is not None:
            # Opened by key with nothing chosen: start from an installed model, not a blank page.
            self.model, self.backend_id = first.name, first.backend
        self.resolved = None
        self._problem = ""
        self.rows = []
        self._drawn = ()
        self.table.clear()
        self._draw_header()
        if self.model:
            self._load()
        else:
            self.query_one("#variants-note", Static).update(
                "No model chosen: press o and name a model or family (e.g. qwen2.5:3b), "
                "or press v on a model in the Models screen."
            )

    def _first_installed(self) -> ModelInfo | None:
        """The first installed model by name that a fit can be computed for (embeddings too)."""
        models = sorted(self.deck.controller.all_models(), key=lambda m: (m.name, m.backend))
        return models[0] if models else None

    # ------------------------------------------------------------------ loading

    def worker_failed(self, worker: Worker[object]) -> None:
        if worker.name == "_load" and self.is_mounted:
            # Not "Reading …" forever: the note says what failed (o tries another model).
            self._problem = (
                f"{sanitize(self.model)} could not be read "
                f"({type(worker.error).__name__}: {sanitize(str(worker.error))})."
            )
            self.query_one("#variants-note", Static).update(self._problem)
            self._draw_header()

    @work(group="variants-load", exclusive=True, exit_on_error=False)
    async def _load(self) -> None:
        controller = self.deck.controller
        self.query_one("#variants-note", Static).update(f"Reading {sanitize(self.model)}…")
        try:
            resolved = await resolve_model(controller, self.model, self.backend_id)
        except (FitInputError, BackendError, ValueError) as exc:
            self._problem = str(exc)
            self.query_one("#variants-note", Static).update(self._problem)
            self._draw_header()
            return
        self.resolved = resolved
        limit = resolved.dims.context_length
        if limit and self.ctx > limit:
            self.ctx = max(MIN_CTX, limit)
        monitor = await asyncio.to_thread(lambda: controller.monitor)
        pool = self._pool(await asyncio.to_thread(monitor.memory_pool))
        free_vram, free_ram = pool.grading()
        discrete = bool(free_vram) and not pool.unified
        try:
            host, gpu = await asyncio.to_thread(bandwidths, discrete, controller.data_dir)
        except Exception:  # a failed measurement only costs the speed column
            host, gpu = 0.0, 0.0
        self.budget = Budget(free_vram, free_ram, host, gpu, pool.unified, pool.set_by_you)
        self.recompute(select_best=True)

    def _pool(self, detected: MemoryPool) -> MemoryPool:
        """The detected pool with the config's ``[hardware]`` overrides (shown "set by you")."""
        cfg = self.deck.config
        return detected.with_overrides(
            cfg.hardware_memory_gib, cfg.hardware_vram_gib, cfg.hardware_unified
        )

    @on(MonitorSampled)
    def _sampled(self) -> None:
        if self.budget is None:
            return
        vram, ram = self._pool(self.deck.controller.monitor.memory_pool()).grading()
        if (vram, ram) != (self.budget.free_vram, self.budget.free_ram):
            self.budget = replace(self.budget, free_vram=vram, free_ram=ram)
            self.recompute(select_best=False)

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        event = message.event
        if isinstance(event, OperationUpdated):
            op = event.operation
            panel = self.query_one(OperationsPanel)
            before = panel.ops.get(op.id)
            panel.track(op)
            if before is None or before.state is not op.state:
                # Keys change when a pull starts or ends, never per progress update.
                self.refresh_bindings()
        elif isinstance(event, ModelsChanged) and self.model:
            # What is installed changed (or arrived after we started): read it all again.
            self._load()
        elif isinstance(event, ModelsChanged) and self._first_installed() is not None:
            self._take_options()

    # ------------------------------------------------------------------ computing and drawing

    def recompute(self, *, select_best: bool) -> None:
        """Rank the variants for the current context, KV type and free memory, and redraw."""
        if self.resolved is None or self.budget is None:
            return
        b = self.budget
        self.rows = rank_variants(
            self.resolved.variants,
            self.resolved.dims,
            self.ctx,
            self.kv_type,
            b.free_vram,
            b.free_ram,
            b.bandwidth,
            gpu_bandwidth=b.gpu_bandwidth or None,
        )
        self._draw_header()
        self._draw_table(select_best)
        self._draw_note()
        self.refresh_bindings()

    def _draw_header(self) -> None:
        title = Text()
        title.append(
            sanitize(self.resolved.name if self.resolved else self.model or "Variants"),
            style="bold",
        )
        if self.resolved is not None:
            d = self.resolved.dims
            title.append(f"  {self.resolved.kind}", style="dim")
            facts = [plural(d.n_layers, "layer"), f"{d.n_heads}/{d.n_kv_heads} heads"]
            if d.n_params:
                facts.append(f"{format_params(d.n_params)} params")
            if d.context_length:
                facts.append(f"trained ctx {d.context_length:,}")
            # The header wraps to a second line rather than cutting the facts at 80 columns.
            title.append("  " + " · ".join(facts), style="dim")
        self.query_one("#variants-title", Static).update(title)
        line = Text()
        line.append("Context ", style="dim")
        line.append(f"{self.ctx:,}", style="bold")
        line.append(" (−/+) · KV ", style="dim")
        line.append(self.kv_type, style="bold")
        line.append(" (k)", style="dim")
        if self.budget is not None:
            b = self.budget
            mine = f" ({SET_BY_YOU})"
            if b.unified:
                line.append(" · unified memory ", style="dim")
                line.append(format_bytes(b.free_vram))
                line.append(" free, CPU+GPU" + (mine if b.set_by_you else ""), style="dim")
            else:
                line.append(" · free VRAM ", style="dim")
                line.append(format_bytes(b.free_vram) if b.free_vram else "none")
                line.append(mine if "vram" in b.set_by_you else "", style="dim")
                line.append(" · RAM ", style="dim")
                line.append(format_bytes(b.free_ram))
                line.append(mine if "memory" in b.set_by_you else "", style="dim")
            if b.bandwidth:
                line.append(" · ", style="dim")
                line.append(f"{b.bandwidth / 1e9:.0f} GB/s")
        self.query_one("#variants-budget", Static).update(line)

    def _bar_width(self) -> int:
        return 10 if self.size.width >= 96 else 4

    def _draw_table(self, select_best: bool) -> None:
        assert self.budget is not None
        table = self.table
        width = self._bar_width()
        drawn = tuple(row_cells(r, self.budget, width) for r in self.rows)
        signature = tuple(tuple(c.plain for c in cells) for cells in drawn)
        if signature == self._drawn and not select_best:
            return
        keep = self.current.variant.tag if self.current and not select_best else None
        self._drawn = signature
        if width != self._drawn_bar:
            # Columns keep the widest cell they ever held: start them afresh for a new bar width.
            self._drawn_bar = width
            table.clear(columns=True)
            for key, title in _COLUMNS:
                table.add_column(title, key=key)
        table.clear()
        for r, cells in zip(self.rows, drawn, strict=True):
            table.add_row(*cells, key=r.variant.tag)
        target = next((i for i, r in enumerate(self.rows) if r.variant.tag == keep), None)
        if target is None:
            target = next((i for i, r in enumerate(self.rows) if r.best), 0)
        if self.rows:
            table.move_cursor(row=target, animate=False)

    @property
    def current(self) -> VariantFit | None:
        row = self.table.cursor_row
        return self.rows[row] if self.rows and 0 <= row < len(self.rows) else None

    @on(DataTable.RowHighlighted, "#variants-table")
    def _highlighted(self) -> None:
        self._draw_note()
        self.refresh_bindings()

    def _draw_note(self) -> None:
        note = Text()
        r = self.current
        if r is not None:
            m = r.memory
            note.append(sanitize(r.variant.tag), style="bold")
            note.append(
                f": weights {format_bytes(m.weights)} + KV {format_bytes(m.kv_cache)} "
                f"+ overhead {format_bytes(m.overhead)} = {format_bytes(m.total)}"
            )
            if r.fit.where is not Placement.NONE:
                note.append(f" on {_WHERE[r.fit.where]}")
            note.append("\n")
        note.append(FIT_THRESHOLDS_SHORT + ".", style="dim")
        extra = []
        if self.resolved is not None and self.resolved.kind in ("ollama", "catalog"):
            # k changes what the estimate assumes, not what the server does.
            extra.append(
                "KV type is the Ollama server's OLLAMA_KV_CACHE_TYPE (with flash attention); "
                "k shows each one's cost"
            )
        if not DEFAULT_OVERHEAD.calibrated:
            extra.append("overhead not yet calibrated")
        extra.append("tok/s is a bandwidth ceiling, not a measurement")
        if self.resolved is not None:
            extra.extend(self.resolved.notes[:2])
        # Wrapped, never cut: the note scrolls when the screen is short.
        note.append("\n")
        note.append_text(Text("; ".join(sanitize(e) for e in extra) + ".", style="dim"))
        self.query_one("#variants-note", Static).update(note)

    def on_resize(self) -> None:
        if self.rows:
            self._drawn = ()
            self._draw_table(select_best=False)

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "choose":
            # Enter belongs to dialogs while they are open.
            if self.app.screen is not self:
                return False
            r = self.current
            if r is None:
                return False
            if r.variant.installed:
                return True
            return (
                self.resolved is not None
                and self.resolved.kind in ("ollama", "catalog")
                and bool(self._pull_backends())
            )
        if action in ("ctx", "kv_type"):
            return self.resolved is not None
        if action == "cancel":
            return bool(self.query_one(OperationsPanel).running())
        return True

    def _pull_backends(self) -> list[str]:
        ids = self.deck.controller.backend_ids(Capability.PULL)
        if self.backend_id in ids:
            return [self.backend_id]
        return ids

    def action_ctx(self, up: bool) -> None:
        if self.resolved is None:
            return
        self.ctx = next_ctx(self.ctx, up, self.resolved.dims.context_length)
        self.recompute(select_best=True)

    def action_kv_type(self) -> None:
        self.kv_type = KV_TYPES[(KV_TYPES.index(self.kv_type) + 1) % len(KV_TYPES)]
        self.recompute(select_best=True)

    def action_choose(self) -> None:
        r = self.current
        if r is None or self.resolved is None:
            return
        v = r.variant
        if v.installed:
            # The name it is installed under, not the registry tag: that is what the backend
            # knows (qwen2.5:0.5b, not qwen2.5:0.5b-instruct-q4_K_M).
            name = v.installed_as or v.tag
            backend = self.backend_id if self.resolved.kind != "catalog" else ""
            if not backend:
                backend = next(
                    (
                        m.backend
                        for m in self.deck.controller.all_models()
                        if m.name in (name, f"{name}:latest")
                    ),
                    "",
                )
            if not self.deck.open_screen("chat", model=name, backend=backend):
                self.notify(f"{name} is installed; the chat screen is not available.", markup=False)
            return
        if self.resolved.kind == "onnx":
            self.notify(
                f"{v.quant} is not installed. Build it with onnxruntime-genai's model builder "
                f"(python -m onnxruntime_genai.models.builder -p {v.quant}) and add the folder.",
                timeout=10,
                markup=False,
            )
            return
        targets = self._pull_backends()
        if not targets:
            self.notify("No backend here can pull models.", severity="warning", markup=False)
            return
        from tui.widgets.download_confirm import DownloadDialog

        backend_id, tag = targets[0], v.tag
        if v.file_size:
            size = ("about " if v.size_estimated else "") + format_bytes(v.file_size)
        else:
            size = "size unknown"

        def answered(yes: bool | None) -> None:
            if yes:
                self.deck.controller.pull(backend_id, tag)

        self.app.push_screen(
            DownloadDialog(
                "Download this variant?",
                f"Pull {sanitize(tag)} into {backend_id}: {size} to download. Edge links are often "
                "metered; a pull that stops resumes where it was.",
            ),
            answered,
        )

    def action_cancel(self) -> None:
        running = self.query_one(OperationsPanel).running()
        if running:
            self.deck.controller.cancel_operation(running[-1].id)

    def action_open_model(self) -> None:
        def done(name: str | None) -> None:
            if name:
                # The screen's own choice: the app-wide options are what other screens asked
                # for (the Chat screen would take a new dict as "chat with this model").
                self._show(name, "")

        self.app.push_screen(
            PromptDialog(
                "Show the variants of",
                value=self.model,
                help="A model name (qwen2.5:3b), a family in the offline catalog, a .gguf file "
                "or an ONNX folder.",
            ),
            done,
        )
