"""The Fleet screen: every host's backends, loaded models and load, one row each.

The rows come from the controller's fleet collector (:meth:`Controller.fleet`), as
:class:`~tui.controller.FleetChanged` events: one per poll at most every few tenths of a second,
and none handled while the screen is hidden (the base screen keeps only the latest). A host that
is down, slow or answers garbage changes its own row only, and says why.

Filter (``/``) and sort (``s``) as on Models; the pane under the table details the highlighted host;
enter (or ``c``, like k9s' ``:ctx``) makes that host the current one for every other screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Header, Input, Static

from tui.controller import FleetChanged, HostChanged
from tui.core.sanitize import sanitize
from tui.fleet.model import BackendView, Figure, HostView, LoadedModel
from tui.messages import ControllerEvent
from tui.monitor.fmt import format_bytes
from tui.screens.base import DeckScreen
from tui.types import BackendError
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.key_bar import KeyBar
from tui.widgets.row_table import RowTable

DASH = "–"
BLOCKS = "▁▂▃▄▅▆▇█"
COMPACT_BELOW = 100
"""Terminal widths under this drop the Backends column and shorten the sparklines."""

COLUMNS: tuple[tuple[str, str], ...] = (
    ("host", "Host"),
    ("state", "State"),
    ("backends", "Backends"),
    ("loaded", "Loaded"),
    ("cpu", "CPU"),
    ("ram", "RAM"),
    ("gpu", "GPU"),
    ("req", "Run/W"),
    ("tok_s", "tok/s"),
)
"""(key, title) of every column, in display order; ``s`` cycles through them in this order."""
ALL_COLUMNS = tuple(key for key, _ in COLUMNS)
RIGHT = frozenset({"req", "tok_s"})
FILTER_FIELDS = "host, state, backend, model, reason"


def wall_clock() -> datetime:
    """Now, which expiries count from (tests replace it with a fixed time)."""
    return datetime.now(UTC)


def spark(values: Sequence[float], width: int, top: float | None = 100.0) -> str:
    """The last ``width`` values as a text sparkline (``▁`` to ``█``), scaled to ``top``
    (None: the largest shown); empty when there are none."""
    shown = list(values)[-width:] if width > 0 else []
    if not shown:
        return ""
    high = top if top is not None else max(shown)
    if not high or high <= 0:
        return BLOCKS[0] * len(shown)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[max(0, min(last, round(v / high * last)))] for v in shown)


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f}%"


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    return f"{value:.{digits}f}"


def until(expires: datetime | None, now: datetime) -> str:
    """How long until Ollama unloads a model: ``4m``, ``2h``, ``now``; ``–`` when never said."""
    if expires is None:
        return DASH
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    seconds = (expires - now).total_seconds()
    if seconds > 100 * 365 * 86400:
        return "never"
    if seconds <= 0:
        return "now"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def state_of(view: HostView) -> tuple[str, str]:
    """``(word, style)`` for a host's state column."""
    if view.reachable is None:
        return "…", "dim"
    if view.reachable is False:
        return "down", "bold red"
    if view.problems:
        return "part", "yellow"
    return "up", "green"


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One host as the table shows it, with what it is sorted and filtered by."""

    view: HostView
    haystack: str

    @property
    def key(self) -> str:
        return self.view.name

    @classmethod
    def make(cls, view: HostView) -> FleetRow:
        words = [view.name, state_of(view)[0], view.reason, view.source]
        words += [f"{b.id} {b.kind}" for b in view.backends]
        words += [m.name for m in view.loaded]
        if view.readonly:
            words.append("readonly")
        return cls(view, " ".join(words).lower())

    def sort_value(self, column: str) -> tuple[int, float | str]:
        """What ``column`` sorts by; unknown figures sort last whatever the direction."""
        v = self.view
        figure: float | None
        if column == "host":
            return (0, v.name.lower())
        if column == "state":
            return (0, {"up": 0, "part": 1, "down": 2, "…": 3}[state_of(v)[0]])
        if column == "backends":
            return (0, float(sum(1 for b in v.backends if b.up)))
        if column == "loaded":
            return (0, float(len(v.loaded)))
        figure = {
            "cpu": v.cpu_percent.now,
            "ram": v.ram_percent.now,
            "gpu": v.gpu_percent.now,
            "req": v.requests_running.now,
            "tok_s": v.tok_s.now,
        }.get(column)
        return (1, 0.0) if figure is None else (0, figure)


def sort_rows(rows: Sequence[FleetRow], column: str, reverse: bool = False) -> list[FleetRow]:
    known = [r for r in rows if r.sort_value(column)[0] == 0]
    unknown = [r for r in rows if r.sort_value(column)[0] != 0]
    known.sort(key=lambda r: (r.sort_value(column)[1], r.view.name), reverse=reverse)
    return known + sorted(unknown, key=lambda r: r.view.name)


def _figure_cell(figure: Figure, spark_width: int, top: float | None = 100.0) -> Text:
    if figure.now is None:
        return Text(DASH, style="dim")
    text = Text(f"{figure.now:>3.0f}%" if top == 100.0 else f"{figure.now:.1f}")
    line = spark(figure.history, spark_width, top)
    if line:
        text.append(" ")
        text.append(line, style="cyan")
    return text


def _backends_cell(view: HostView) -> Text:
    text = Text()
    for i, b in enumerate(view.backends):
        if b.id in ("node_exporter", "gpu_exporter"):
            continue
        if text:
            text.append(" ")
        name = b.id.partition(":")[2] or b.id
        style = {True: "green", False: "red", None: "dim"}[b.up]
        text.append(sanitize(name) + ("" if b.up is not False else "✗"), style=style)
        del i
    return text or Text(DASH, style="dim")


def short_size(n: int) -> str:
    """``1288490188`` → ``1.2G``: a size in four or five cells."""
    size = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1000 or unit == "T":
            return f"{size:.0f}{unit}" if size >= 10 or unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}B"  # unreachable


_URL = re.compile(r"\s*https?://\S+?( \(Prometheus\))?:(?=\s|$)")


def short_reason(view: HostView) -> str:
    """Why a host is down, for its row: each endpoint's cause without its URL
    (``ollama: connection refused``, ``node_exporter (Prometheus): connection refused``); the
    details pane has the whole of it."""
    reasons = [_URL.sub(r"\1:", p, count=1) for p in view.problems] or [view.reason]
    return "; ".join(sanitize(r) for r in reasons if r) or "unreachable"


def _loaded_cell(view: HostView, now: datetime) -> Text:
    if view.reachable is False:
        return Text(short_reason(view), style="red")
    if not view.loaded:
        return Text(DASH, style="dim")
    first = view.loaded[0]
    text = Text(sanitize(first.name))
    if len(view.loaded) > 1:
        text.append(f" +{len(view.loaded) - 1}", style="bold")
    parts: list[str] = []
    if first.size is not None:
        parts.append(short_size(first.size))
    if first.vram_share is not None:
        parts.append(f"{first.vram_share * 100:.0f}%GPU")
    if first.context_length:
        parts.append(
            f"{first.context_length // 1024}K"
            if first.context_length >= 1024
            else str(first.context_length)
        )
    if first.expires_at is not None:
        parts.append(until(first.expires_at, now))
    if parts:
        text.append(" " + " ".join(parts), style="dim")
    return text


def _requests_cell(view: HostView) -> Text:
    running, waiting = view.requests_running.now, view.requests_waiting.now
    if running is None and waiting is None:
        return Text(DASH, style="dim", justify="right")
    return Text(f"{number(running)}/{number(waiting)}", justify="right")


def cells(row: FleetRow, current: str, spark_width: int, now: datetime) -> dict[str, Text]:
    """Every column's text for ``row`` (``current``: the current host's name, marked)."""
    v = row.view
    word, style = state_of(v)
    name = Text("▶ " if v.name == current else "  ", style="bold")
    name.append(sanitize(v.name), style="bold" if v.name == current else "")
    if v.readonly:
        name.append(" ro", style="dim")
    tok = v.tok_s.now
    return {
        "host": name,
        "state": Text(word, style=style),
        "backends": _backends_cell(v),
        "loaded": _loaded_cell(v, now),
        "cpu": _figure_cell(v.cpu_percent, spark_width),
        "ram": _figure_cell(v.ram_percent, spark_width),
        "gpu": _figure_cell(v.gpu_percent, spark_width),
        "req": _requests_cell(v),
        "tok_s": Text(number(tok, 1), style="" if tok is not None else "dim", justify="right"),
    }


def _backend_line(b: BackendView) -> Text:
    up = {True: ("up", "green"), False: ("down", "red"), None: ("not polled yet", "dim")}[b.up]
    line = Text(f"  {sanitize(b.id)}", style="bold")
    if b.kind != b.id.partition(":")[0]:
        line.append(f" ({sanitize(b.kind)})")
    line.append(" ")
    line.append(up[0], style=up[1])
    line.append(f"  {sanitize(b.url)}", style="dim")
    extra: list[str] = []
    if b.models is not None:
        extra.append(f"{b.models} model{'s' if b.models != 1 else ''}")
    if b.requests_running is not None or b.requests_waiting is not None:
        extra.append(f"{number(b.requests_running)} running, {number(b.requests_waiting)} waiting")
    if b.kv_cache_percent is not None:
        extra.append(f"KV {b.kv_cache_percent:.0f}%")
    if b.slots_total:
        extra.append(f"slots {b.slots_busy}/{b.slots_total}")
    if b.tok_s is not None:
        extra.append(f"{b.tok_s:.1f} tok/s")
    if b.decode_tok_s:
        extra.append(f"decode {b.decode_tok_s:.1f} tok/s")
    if extra:
        line.append("  " + " · ".join(extra))
    if b.reason:
        line.append(f"\n    {sanitize(b.reason)}", style="red")
    return line


def _model_line(m: LoadedModel, now: datetime) -> Text:
    line = Text(f"  {sanitize(m.name)}", style="bold")
    line.append(f"  {sanitize(m.backend)}", style="dim")
    parts = [format_bytes(m.size) if m.size is not None else ""]
    share = m.vram_share
    if share is not None:
        parts.append(f"{share * 100:.0f}% VRAM")
    if m.context_length:
        parts.append(f"ctx {m.context_length}")
    if m.expires_at is not None:
        parts.append(f"unloads in {until(m.expires_at, now)}")
    detail = " · ".join(p for p in parts if p)
    if detail:
        line.append(f"  {detail}")
    return line


def _used(used: int | None, total: int | None) -> str:
    if total is None:
        return ""
    return f" ({format_bytes(used)} of {format_bytes(total)})" if used is not None else ""


def details(view: HostView | None, current: str, now: datetime) -> Text:
    """The details pane's text for the highlighted host."""
    if view is None:
        return Text("No host matches the filter.", style="dim")
    text = Text(sanitize(view.name), style="bold")
    word, style = state_of(view)
    text.append("  ")
    text.append({"…": "not polled yet", "part": "up, part down"}.get(word, word), style=style)
    if view.name == current:
        text.append("  · current host", style="bold")
    if view.readonly:
        text.append("  · read-only", style="yellow")
    if view.source == "prometheus":
        text.append("  · via Prometheus", style="dim")
    figures = Text("\n")
    figures.append(f"CPU {percent(view.cpu_percent.now)}")
    figures.append(f"  RAM {percent(view.ram_percent.now)}{_used(view.ram_used, view.ram_total)}")
    figures.append(
        f"  disk {percent(view.disk_percent.now)}{_used(view.disk_used, view.disk_total)}"
    )
    figures.append(f"\nGPU {percent(view.gpu_percent.now)}")
    figures.append(
        f"  VRAM {percent(view.vram_percent.now)}{_used(view.vram_used, view.vram_total)}"
    )
    figures.append(
        f"  requests {number(view.requests_running.now)} running, "
        f"{number(view.requests_waiting.now)} waiting  {number(view.tok_s.now, 1)} tok/s"
    )
    text.append_text(figures)
    if view.loaded:
        text.append("\nLoaded:", style="bold")
        for m in view.loaded:
            text.append("\n")
            text.append_text(_model_line(m, now))
    text.append("\nEndpoints:", style="bold")
    for b in view.backends:
        text.append("\n")
        text.append_text(_backend_line(b))
    shown = {b.reason for b in view.backends}
    for problem in view.problems:
        if problem not in shown:
            text.append(f"\n  {sanitize(problem)}", style="red")
    return text


class FleetTable(RowTable[FleetRow]):
    """The hosts, one row each, with a fixed header and a row cursor (drawn line by line, so an
    update of a large fleet redraws only the rows on screen)."""

    DEFAULT_CSS = """
    FleetTable { height: 1fr; }
    FleetTable > .fleet-table--header { text-style: bold; background: $panel; }
    FleetTable > .fleet-table--cursor { background: $block-cursor-blurred-background; }
    FleetTable:focus > .fleet-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"fleet-table--header", "fleet-table--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Use host", show=False),
    ]
    HEADER_COMPONENT = "fleet-table--header"
    CURSOR_COMPONENT = "fleet-table--cursor"
    TITLES = dict(COLUMNS)
    RIGHT_TITLES = RIGHT

    class RowHighlighted(RowTable.RowHighlighted):
        """The cursor moved to another row (or the row under it changed)."""

    class RowSelected(RowTable.RowSelected):
        """Enter (or a double click) chose the host under the cursor."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(columns=ALL_COLUMNS, sort_column="host", id=id)
        self.current_host = ""
        self.spark_width = 6
        self.clock: Callable[[], datetime] = lambda: wall_clock()
        """The wall clock expiries count from."""
        self.fit_columns(100)

    def set_current(self, name: str) -> None:
        if name != self.current_host:
            self.current_host = name
            self._cells = {}
            self.refresh()

    def fit_columns(self, width: int) -> None:
        """Choose the columns for a terminal ``width``; the Loaded column takes what is left."""
        compact = width < COMPACT_BELOW
        self.spark_width = 3 if compact else 4
        figure = 5 + self.spark_width
        widths = {
            "host": 12,
            "state": 5,
            "backends": 10,
            "cpu": figure,
            "ram": figure,
            "gpu": figure,
            "req": 5,
            "tok_s": 5,
        }
        keys = tuple(k for k in ALL_COLUMNS if not (compact and k == "backends"))
        others = sum(widths[k] + 1 for k in keys if k != "loaded")
        # 2 cells of screen padding, 1 of cell padding and 2 of vertical scrollbar.
        widths["loaded"] = max(8, width - others - 5)
        self.visible_columns = keys
        self.widths = widths
        self._cells = {}
        self.refresh()

    def _make_cells(self, row: FleetRow) -> dict[str, Text]:
        return cells(row, self.current_host, self.spark_width, self.clock())

    def _sorted(self, rows: list[FleetRow]) -> list[FleetRow]:
        return sort_rows(rows, self.sort_column, self.sort_reverse)


class FleetScreen(DeckScreen):
    """Every host of the fleet; enter (or ``c``) makes the highlighted one the current host."""

    CSS_PATH = "fleet.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="fleet.filter", tooltip="Filter as you type"),
        Binding("s", "sort", "Sort", id="fleet.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse", "Reverse", show=False, id="fleet.reverse"),
        Binding(
            "c",
            "use_host",
            "Use host",
            id="fleet.use_host",
            tooltip="Make this host the current one for every screen",
        ),
        Binding("r", "poll", "Poll now", id="fleet.poll", tooltip="Read every host now"),
        Binding("escape", "close_filter", "Close filter", show=False, id="fleet.escape"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="fleet-body"):
            yield Static("", id="fleet-title", markup=False)
            yield Input(placeholder=f"filter: words in {FILTER_FIELDS}", id="fleet-filter")
            yield FleetTable(id="fleet-table")
            with VerticalScroll(id="fleet-details-box"):
                yield Static("", id="fleet-details", markup=False)
        yield GaugeStrip()
        yield KeyBar()

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def on_mount(self) -> None:
        self.query_one("#fleet-filter", Input).display = False
        controller = self.deck.controller
        self.table.set_current(controller.current_host)
        self.table.fit_columns(self.app.size.width)
        # The collector starts on the first showing (or at start-up when hosts are configured).
        controller.start_fleet()
        self._show(controller.fleet() or self._unpolled())
        self.table.focus()

    def _unpolled(self) -> list[HostView]:
        return [HostView(name=h.name, reachable=None) for h in self.deck.controller.hosts]

    def on_resize(self, event: events.Resize) -> None:
        self.table.fit_columns(event.size.width)

    # ------------------------------------------------------------------ data

    def _show(self, views: Sequence[HostView]) -> None:
        self.table.set_rows([FleetRow.make(v) for v in views])
        self._update_title()
        self._show_details()

    def _update_title(self) -> None:
        table = self.table
        views = [r.view for r in table.rows_all]
        controller = self.deck.controller
        text = Text("Fleet", style="bold")
        total = len(views)
        shown = len(table.shown)
        text.append(
            f"  {shown} of {total} hosts" if table.query_text else f"  {total} hosts", style="dim"
        )
        up = sum(1 for v in views if v.reachable)
        down = sum(1 for v in views if v.reachable is False)
        text.append(f" · {up} up", style="green" if up else "dim")
        if down:
            text.append(f" · {down} down", style="red")
        text.append(f" · on {sanitize(controller.current_host)}", style="bold")
        if controller.read_only():
            text.append(" (read-only)", style="yellow")
        title = dict(COLUMNS)[table.sort_column]
        text.append(
            f" · sorted by {title.lower()}{' ↓' if table.sort_reverse else ''}", style="dim"
        )
        if table.query_text:
            text.append(f" · filter: {table.query_text}", style="dim")
        self.query_one("#fleet-title", Static).update(text)

    def _show_details(self) -> None:
        row = self.table.current
        text = details(row.view if row else None, self.deck.controller.current_host, wall_clock())
        self.query_one("#fleet-details", Static).update(text)

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        event = message.event
        if isinstance(event, FleetChanged):
            self._show(event.hosts)
        elif isinstance(event, HostChanged):
            self.table.set_current(event.name)
            self._update_title()
            self._show_details()

    @on(FleetTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_details()

    @on(FleetTable.RowSelected)
    def _selected(self) -> None:
        self.action_use_host()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "use_host":
            row = self.table.current if self.query(FleetTable) else None
            return row is not None and row.key != self.deck.controller.current_host
        if action == "close_filter":
            return bool(self.query_one("#fleet-filter", Input).display)
        return True

    def action_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.display = True
        box.focus()
        self.refresh_bindings()

    @on(Input.Changed, "#fleet-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._update_title()
        self._show_details()

    @on(Input.Submitted, "#fleet-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.value = ""
        box.display = False
        self.table.set_filter("")
        self.table.focus()
        self._update_title()
        self._show_details()
        self.refresh_bindings()

    def action_sort(self) -> None:
        keys = self.table.visible_columns
        column = self.table.sort_column
        following = keys[(keys.index(column) + 1) % len(keys)] if column in keys else keys[0]
        self.table.sort_by(following, reverse=False)
        self._update_title()

    def action_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column)
        self._update_title()

    def action_use_host(self) -> None:
        row = self.table.current
        if row is not None and row.key != self.deck.controller.current_host:
            self._use_host(row.key)

    @work(group="fleet-use-host", exclusive=True, exit_on_error=False)
    async def _use_host(self, name: str) -> None:
        try:
            await self.deck.controller.use_host(name)
        except BackendError as exc:
            self.notify(str(exc), title="Fleet", severity="error", markup=False)
            return
        self.refresh_bindings()
        self.notify(
            f"Now on {sanitize(name)}: Models, Variants, Monitor, Chat and Bench use its backends.",
            title="Fleet",
            timeout=4,
            markup=False,
        )

    @work(group="fleet-poll", exclusive=True, exit_on_error=False)
    async def action_poll(self) -> None:
        await self.deck.controller.poll_fleet()
