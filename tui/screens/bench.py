"""The Bench screen: the same prompts on several models and backends, llama-bench style figures.

Pick models (space), a prompt set (p), repetitions (r) and max tokens (t); Enter or ctrl+r runs
them one after another as one cancellable controller operation (Escape cancels: the reply in
flight is closed, which stops generation). Results land in a sortable table with a bar for relative
decode speed, are saved as they finish and shown again next time; ctrl+o exports the table to
Markdown and JSON. The measuring is :mod:`tui.core.benchmark`; this screen only drives and shows it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.strip import Strip
from textual.widgets import Checkbox, DataTable, Header, SelectionList, Static
from textual.widgets.data_table import ColumnKey
from textual.widgets.option_list import OptionDoesNotExist
from textual.widgets.selection_list import Selection

from tui.controller import ModelsChanged, Operation, OperationState, OperationUpdated
from tui.core.bench_prompts import PROMPT_SET_HELP, PROMPT_SETS
from tui.core.benchmark import (
    Benchmark,
    BenchSpec,
    ModelResult,
    Spread,
    export_json,
    export_markdown,
)
from tui.core.chat.models import can_chat
from tui.core.sanitize import sanitize
from tui.core.text import plural
from tui.messages import ControllerEvent
from tui.monitor.fmt import format_bytes
from tui.screens.base import DeckScreen
from tui.types import BackendError, BenchResults, Capability, InvalidInput, ModelInfo
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.gauges import bar
from tui.widgets.key_bar import KeyBar

REPETITIONS = (1, 3, 5, 10)
MAX_TOKENS = (64, 128, 256, 512)
BAR_WIDTH = 6
SORTS: tuple[tuple[str, str], ...] = (
    ("when", "newest first"),
    ("decode", "decode tok/s"),
    ("prompt", "prompt tok/s"),
    ("ttft", "TTFT"),
    ("rss", "peak RSS"),
    ("model", "model"),
)
"""Sort keys in the order ``s`` cycles through them, with their titles."""
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("model", "Model", 16),
    ("backend", "Backend", 7),
    ("ttft", "TTFT", 7),
    ("prompt", "Prompt t/s", 10),
    ("decode", "Decode t/s", 10),
    ("bar", "", BAR_WIDTH),
    ("rss", "Peak RSS", 9),
    ("vram", "VRAM", 9),
    ("set", "Prompt", 7),
    ("when", "When", 11),
)
"""(key, header, width): figures first, so 80 columns show the ones that matter most."""
_RIGHT = frozenset({"ttft", "prompt", "decode", "rss", "vram"})
VRAM_SOURCE = "whole-GPU memory in use (monitor)"


def is_benchable(model: ModelInfo) -> bool:
    """Whether a listed model can answer a chat (embedding models list alongside chat ones):
    what the backend reports it can do, as in Chat."""
    return can_chat(model)


def _key(result: ModelResult, index: int) -> str:
    return f"id:{result.id}" if result.id is not None else f"run:{index}"


def _median(s: Spread | None) -> float | None:
    return s.median if s is not None else None


def format_ttft(s: Spread | None) -> str:
    """``0.123 s`` below ten seconds, ``12.3 s`` above; ``–`` without a figure."""
    if s is None:
        return "–"
    return f"{s.median:.3f} s" if s.median < 10 else f"{s.median:.1f} s"


def format_tps(s: Spread | None) -> str:
    """Median tokens per second with one decimal (no decimal from 1,000 up)."""
    if s is None:
        return "–"
    return f"{s.median:,.0f}" if s.median >= 1000 else f"{s.median:.1f}"


def _spread_text(s: Spread | None, digits: int, unit: str = "") -> str:
    if s is None:
        return "–"
    if s.median >= 1000:  # decimals of a four-digit rate are noise and cost width
        digits = 0
    if s.n > 1 and s.low != s.high:
        return f"{s.median:.{digits}f}{unit} ({s.low:.{digits}f}–{s.high:.{digits}f})"
    return f"{s.median:.{digits}f}{unit}"


def format_when(result: ModelResult, this_run: bool) -> str:
    """``this run`` for results of this app run, else the local date and time."""
    if this_run:
        return "this run"
    return datetime.fromtimestamp(result.started_at).strftime("%m-%d %H:%M")


def describe(result: ModelResult) -> str:
    """The detail lines of one result: spreads, token counts, and where each figure came from."""
    head = (
        f"{sanitize(result.model)} on {result.backend} · {result.prompt} · "
        f"{len(result.runs)} of {plural(result.repetitions, 'run')} · "
        f"max {plural(result.max_tokens, 'token')}"
    )
    if result.status == "error":
        return f"{head} · failed: {sanitize(result.error)}"
    if result.load_s is not None:
        head += f" · load {result.load_s:.2f} s"
    if result.status == "cancelled":
        head += " · cancelled"
    tokens = result.gen_tokens
    figures = (
        f"TTFT {_spread_text(result.ttft, 3, ' s')} · prompt {result.prompt_tokens or '–'} tok at "
        f"{_spread_text(result.prompt_tps, 1)} t/s ({result.prompt_source}) · decode "
        f"{f'{tokens.median:.0f}' if tokens else '–'} tok at {_spread_text(result.decode_tps, 1)}"
        f" t/s ({result.decode_source})"
    )
    memory = f"peak RSS of {result.memory_source or 'nothing'} · VRAM: {result.vram_source or '–'}"
    return f"{head}\n{figures}\n{memory}"


def sort_results(rows: list[tuple[ModelResult, bool]], key: str) -> list[tuple[ModelResult, bool]]:
    """Sort (result, of this run) pairs by a :data:`SORTS` key; missing figures go last."""

    def figure(get: Callable[[ModelResult], float | None]) -> list[tuple[ModelResult, bool]]:
        known = [r for r in rows if get(r[0]) is not None]
        unknown = [r for r in rows if get(r[0]) is None]
        return sorted(known, key=lambda r: get(r[0]) or 0.0, reverse=True) + unknown

    if key == "decode":
        return figure(lambda r: _median(r.decode_tps))
    if key == "prompt":
        return figure(lambda r: _median(r.prompt_tps))
    if key == "ttft":  # fastest first
        known = [r for r in rows if r[0].ttft is not None]
        unknown = [r for r in rows if r[0].ttft is None]
        return sorted(known, key=lambda r: _median(r[0].ttft) or 0.0) + unknown
    if key == "rss":
        return figure(lambda r: float(r.peak_rss) if r.peak_rss is not None else None)
    if key == "model":
        return sorted(rows, key=lambda r: (r[0].model.lower(), r[0].backend, r[0].prompt))
    # newest first; this run's results keep their run order on top
    ours = [r for r in rows if r[1]]
    past = sorted((r for r in rows if not r[1]), key=lambda r: -r[0].started_at)
    return ours + past


SELECTED_MARK, UNSELECTED_MARK = "✓", "·"
"""What the check box of a model shows: selected or not reads without colour (a monochrome
terminal, a colour-blind user, a screen reader's text)."""


class BenchModelList(SelectionList[str]):
    """The models to bench; Enter runs the bench instead of toggling (space toggles).

    Each check box shows ✓ when selected and · when not, where Textual's shows the same ``X``
    in both states and tells them apart by colour only.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.run_bench", "Run", show=False),
    ]

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        mark = SELECTED_MARK if option.value in self.selected else UNSELECTED_MARK
        segments = list(strip)
        for i, segment in enumerate(segments[:3]):
            # SelectionList draws Checkbox's button (▐X▌) before each prompt.
            if segment.text == Checkbox.BUTTON_INNER:
                segments[i] = Segment(mark, segment.style, segment.control)
                return Strip(segments, strip.cell_length)
        return strip


class BenchScreen(DeckScreen):
    """Benchmark several models across backends with the same prompts."""

    CSS_PATH = "bench.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run_bench", "Run", id="bench.run", tooltip="Bench the selected models"),
        Binding("escape", "cancel", "Cancel", id="bench.cancel", tooltip="Stop the bench"),
        Binding("p", "prompt_set", "Prompts", id="bench.prompts", tooltip="Next prompt set"),
        Binding("r", "repetitions", "Reps", id="bench.reps", tooltip="Repetitions per prompt"),
        Binding("t", "max_tokens", "Tokens", id="bench.tokens", tooltip="Max tokens per reply"),
        Binding(
            "s", "sort", "Sort", id="bench.sort", tooltip="Sort the results by the next column"
        ),
        Binding("ctrl+o", "export", "Export", id="bench.export", tooltip="Export to .md and .json"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.prompt_set = "short"
        self.repetitions = 3
        self.max_tokens = 128
        self.sort_key = "when"
        self.results: list[ModelResult] = []
        """Results of this app run, in the order they finished."""
        self.past: list[ModelResult] = []
        """Results stored by earlier runs of the app."""
        self.store: BenchResults | None = None
        self.operation: Operation | None = None
        self.bench: Benchmark | None = None
        self._taken = 0
        self._batch = ""
        self._shown: list[tuple[ModelResult, bool]] = []
        self._progress_text = ""
        self.last_export: tuple[Path, Path] | None = None
        """The Markdown and JSON files of the latest export."""
        self.ready = asyncio.Event()
        """Set once past results are loaded (or failed to load)."""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="bench-top"):
            with Vertical(id="bench-pick"):
                yield Static("Models · space selects, enter runs", classes="section-title")
                yield BenchModelList(id="bench-models")
            yield Static(id="bench-settings")
        yield Static(id="bench-progress", markup=False)
        yield DataTable(id="bench-results", cursor_type="row", zebra_stripes=True)
        yield Static(id="bench-detail", markup=False)
        yield GaugeStrip()
        yield KeyBar()

    @property
    def model_list(self) -> BenchModelList:
        return self.query_one("#bench-models", BenchModelList)

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#bench-results", DataTable)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        return True

    @property
    def running(self) -> bool:
        """True while a bench runs."""
        return self.operation is not None and self.operation.state is OperationState.RUNNING

    def on_mount(self) -> None:
        for key, header, width in COLUMNS:
            self.table.add_column(header, key=key, width=width)
        self._show_settings()
        self._set_progress("Select models, then press enter (or ctrl+r) to run them.")
        self._fill_models()
        self.model_list.focus()
        self._open_store()

    def on_screen_resume(self) -> None:
        self._fill_models()

    @work(group="bench-store", exit_on_error=False)
    async def _open_store(self) -> None:
        try:
            self.store = await self.deck.controller.bench_results()
            self.past = await self.store.recent()
        except Exception as exc:  # the bench still works without history: say why it is missing
            self.notify(
                f"Past bench results are unavailable: {exc}",
                title="Bench",
                severity="warning",
                timeout=8,
                markup=False,
            )
        finally:
            self.ready.set()
        self._show_results()

    # ------------------------------------------------------------------ models

    def _benchable(self) -> list[ModelInfo]:
        controller = self.deck.controller
        return [
            m
            for m in controller.all_models()
            if controller.supports(m.backend, Capability.CHAT) and is_benchable(m)
        ]

    def _fill_models(self) -> None:
        models = self._benchable()
        wanted = [(m.backend, m.name) for m in models]
        current = [tuple(str(v).split("\x00", 1)) for v in self._option_values()]
        if wanted == current:
            return
        listing = self.model_list
        chosen = set(listing.selected)
        listing.clear_options()
        listing.add_options(
            Selection(
                self._model_prompt(m),
                f"{m.backend}\x00{m.name}",
                f"{m.backend}\x00{m.name}" in chosen,
            )
            for m in models
        )
        if listing.option_count and listing.highlighted is None:
            listing.highlighted = 0

    def _option_values(self) -> list[str]:
        listing = self.model_list
        return [listing.get_option_at_index(i).value for i in range(listing.option_count)]

    @staticmethod
    def _model_prompt(model: ModelInfo) -> Text:
        text = Text(sanitize(model.name), no_wrap=True, overflow="ellipsis")
        detail = " ".join(x for x in (model.parameter_size, model.quantization) if x)
        text.append(f"  {model.backend}", style="dim")
        if detail:
            text.append(f" {detail}", style="dim")
        return text

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        event = message.event
        if isinstance(event, ModelsChanged):
            self._fill_models()
        elif (
            isinstance(event, OperationUpdated)
            and self.operation is not None
            and event.operation.id == self.operation.id
        ):
            self._collect()
            self._show_operation(event.operation)
            if event.operation.state is not OperationState.RUNNING:
                self.refresh_bindings()  # escape Cancel leaves the footer with the run

    # ------------------------------------------------------------------ settings

    def _show_settings(self) -> None:
        count = len(PROMPT_SETS[self.prompt_set])
        text = Text()
        text.append("Prompt set  ", style="bold")
        text.append(f"{self.prompt_set} ({count} prompt{'s' if count > 1 else ''})\n")
        text.append(f"  {PROMPT_SET_HELP[self.prompt_set]}\n", style="dim")
        text.append("Repetitions ", style="bold")
        text.append(f"{self.repetitions}\n")
        text.append("Max tokens  ", style="bold")
        text.append(f"{self.max_tokens}\n")
        text.append("temperature 0, seed 42, one warm-up", style="dim")
        self.query_one("#bench-settings", Static).update(text)

    def action_prompt_set(self) -> None:
        names = list(PROMPT_SETS)
        self.prompt_set = names[(names.index(self.prompt_set) + 1) % len(names)]
        self._show_settings()

    def action_repetitions(self) -> None:
        i = REPETITIONS.index(self.repetitions) if self.repetitions in REPETITIONS else -1
        self.repetitions = REPETITIONS[(i + 1) % len(REPETITIONS)]
        self._show_settings()

    def action_max_tokens(self) -> None:
        i = MAX_TOKENS.index(self.max_tokens) if self.max_tokens in MAX_TOKENS else -1
        self.max_tokens = MAX_TOKENS[(i + 1) % len(MAX_TOKENS)]
        self._show_settings()

    # ------------------------------------------------------------------ running

    def selected_targets(self) -> list[tuple[str, str]]:
        """(backend id, model) of the selected models, or of the highlighted one if none is."""
        values = list(self.model_list.selected)
        if not values:
            listing = self.model_list
            index = listing.highlighted
            if index is None or listing.option_count == 0:
                return []
            values = [listing.get_option_at_index(index).value]
        order = self._option_values()
        values.sort(key=lambda v: order.index(v) if v in order else len(order))
        return [(v.split("\x00", 1)[0], v.split("\x00", 1)[1]) for v in values]

    def action_run_bench(self) -> None:
        if self.running:
            self.notify("A bench is running; press escape to cancel it.", timeout=4, markup=False)
            return
        chosen = self.selected_targets()
        if not chosen:
            reason = (
                "select models with space first"
                if self.model_list.option_count
                else "no backend that can chat lists a model yet"
            )
            self.notify(
                f"No model to bench: {reason}.", title="Bench", severity="warning", markup=False
            )
            return
        try:
            spec = BenchSpec(self.prompt_set, self.repetitions, self.max_tokens)
            bench, operation = self.deck.controller.bench(chosen, spec, vram_source=VRAM_SOURCE)
        except (InvalidInput, BackendError) as exc:
            self.notify(str(exc), title="Bench", severity="error", timeout=8, markup=False)
            return
        self.bench = bench
        self._taken = 0
        self._batch = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.operation = operation
        self._show_operation(self.operation)
        self.refresh_bindings()  # escape Cancel is offered while it runs

    def action_cancel(self) -> None:
        if self.operation is None or not self.running:
            return
        if self.deck.controller.cancel_operation(self.operation.id):
            self._set_progress("Cancelling…")

    def _collect(self) -> None:
        """Take the results the bench finished since the last look, and save them."""
        if self.bench is None:
            return
        new = self.bench.results[self._taken :]
        if not new:
            return
        self._taken += len(new)
        start = len(self.results)
        self.results.extend(new)
        self._show_results()
        if self.store is not None:
            self._save(start, list(new), self._batch)

    @work(group="bench-save", exit_on_error=False)
    async def _save(self, start: int, results: list[ModelResult], batch: str) -> None:
        store = self.store
        if store is None:
            return
        try:
            for offset, result in enumerate(results):
                saved = await store.add(result, batch)
                self.results[start + offset] = saved
        except Exception as exc:
            self.notify(
                f"Could not save the bench results: {exc}",
                title="Bench",
                severity="warning",
                timeout=8,
                markup=False,
            )

    def _show_operation(self, op: Operation) -> None:
        progress = op.progress
        done = progress.completed if progress and progress.completed is not None else 0
        total = progress.total if progress and progress.total else 0
        if op.state is OperationState.RUNNING:
            filled, empty = bar(done / total if total else 0.0, 12)
            status = progress.status if progress else "starting…"
            self._set_progress(
                f"{filled}{empty} {done}/{plural(total, 'run')} · {sanitize(status)}"
            )
            return
        elapsed = (op.finished_at or time.monotonic()) - op.started_at
        if op.state is OperationState.DONE:
            failed = sum(r.status == "error" for r in self.bench.results) if self.bench else 0
            extra = f", {failed} failed (see the table)" if failed else ""
            self._set_progress(f"Done: {plural(total, 'run')} in {elapsed:.1f} s{extra}.")
        elif op.state is OperationState.CANCELLED:
            self._set_progress(
                f"Cancelled after {done} of {plural(total, 'run')}; finished runs are kept."
            )
        else:
            self._set_progress(f"The bench stopped: {sanitize(op.error)}")

    def _set_progress(self, text: str) -> None:
        if text != self._progress_text:
            self._progress_text = text
            self.query_one("#bench-progress", Static).update(text)

    # ------------------------------------------------------------------ results

    def shown_results(self) -> list[tuple[ModelResult, bool]]:
        """The table's rows in order: (result, whether it is of this app run)."""
        return list(self._shown)

    def _show_results(self) -> None:
        ours = {id(r) for r in self.results}
        ids = {r.id for r in self.results if r.id is not None}
        rows = [(r, True) for r in self.results]
        rows += [(r, False) for r in self.past if r.id not in ids and id(r) not in ours]
        rows = sort_results(rows, self.sort_key)
        self._shown = rows
        table = self.table
        keep = table.cursor_row
        table.clear()
        rates = [_median(r.decode_tps) for r, _ in rows]
        fastest = max((x for x in rates if x is not None), default=0.0)
        for index, (result, this_run) in enumerate(rows):
            table.add_row(*self._cells(result, this_run, fastest), key=_key(result, index))
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))
        self._show_detail()
        self._mark_sorted_column()

    def _mark_sorted_column(self) -> None:
        """The sorted column's header carries an arrow (▼ high to low, ▲ for TTFT and names; the
        When column sorts newest first), so the order is never a guess."""
        table = self.table
        up = {"ttft", "model"}
        for key, header, width in COLUMNS:
            label = header
            if key == self.sort_key:
                arrow = " ▲" if key in up else " ▼"
                label = header[: max(width - len(arrow), 1)] + arrow
            column = table.columns.get(ColumnKey(key))
            if column is not None and str(column.label) != label:
                column.label = Text(label)
        table.refresh()

    def sorted_by(self) -> str:
        """The header of the column the results are sorted by, as shown (with its arrow)."""
        column = self.table.columns.get(ColumnKey(self.sort_key))
        return str(column.label) if column is not None else ""

    def _cells(self, result: ModelResult, this_run: bool, fastest: float) -> list[Text]:
        style = "" if this_run else "dim"
        decode = _median(result.decode_tps)
        filled, empty = bar(decode / fastest if decode and fastest else 0.0, BAR_WIDTH)
        failed = result.status == "error"
        values = {
            "model": sanitize(result.model) + (" ✗" if failed else ""),
            "backend": result.backend,
            "ttft": "failed" if failed else format_ttft(result.ttft),
            "prompt": format_tps(result.prompt_tps),
            "decode": format_tps(result.decode_tps),
            "bar": filled + empty,
            "rss": format_bytes(result.peak_rss) if result.peak_rss is not None else "–",
            "vram": format_bytes(result.peak_vram) if result.peak_vram is not None else "–",
            "set": result.prompt,
            "when": format_when(result, this_run) + (" ⊘" if result.status == "cancelled" else ""),
        }
        cells = []
        for key, _, _ in COLUMNS:
            cell = Text(
                values[key],
                style=style,
                justify="right" if key in _RIGHT else "left",
                overflow="ellipsis",
                no_wrap=True,
            )
            if key == "bar" and not failed:
                cell.stylize(self._bar_style, 0, len(filled))
            cells.append(cell)
        return cells

    @on(DataTable.RowHighlighted, "#bench-results")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#bench-detail", Static)
        if not self._shown:
            detail.update(
                "No results yet. TTFT is timed here; prompt and decode t/s come from the "
                "backend's own counters where it has them (else counted here), medians of the runs."
            )
            return
        row = min(max(self.table.cursor_row, 0), len(self._shown) - 1)
        detail.update(describe(self._shown[row][0]))

    def action_sort(self) -> None:
        keys = [k for k, _ in SORTS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._show_results()

    @on(DataTable.HeaderSelected, "#bench-results")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in dict(SORTS):
            self.sort_key = key
            self._show_results()

    @work(group="bench-export", exit_on_error=False)
    async def action_export(self) -> None:
        """Write the table (in its order) to ``exports/bench-<time>.md`` and ``.json``."""
        controller = self.deck.controller
        results = [r for r, _ in self._shown]
        if not results:
            self.notify(
                "Nothing to export yet: run a bench first.", title="Export", timeout=4, markup=False
            )
            return
        directory = controller.data_dir / "exports"
        base = directory / f"bench-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        md, js = base.with_suffix(".md"), base.with_suffix(".json")
        try:
            await controller.write_file(md, export_markdown(results))
            await controller.write_file(js, export_json(results))
        except OSError as exc:
            self.notify(
                f"Could not export: {exc}",
                title="Export",
                severity="error",
                timeout=8,
                markup=False,
            )
            return
        self.last_export = (md, js)
        self.notify(
            f"Exported {plural(len(results), 'result')} to {md} and {js.name}.",
            title="Export",
            timeout=6,
            markup=False,
        )

    @property
    def _bar_style(self) -> str:
        theme = self.app.current_theme
        return theme.primary if theme is not None else "bold"
