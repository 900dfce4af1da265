"""The table of installed models across backends: rows, filter as you type, sort by any column.

The row model (:class:`ModelRow`, :func:`filter_rows`, :func:`sort_rows`) is plain Python so the
filter can be measured and tested without a terminal; :class:`ModelTable` only draws what it is
given. Filtering precomputes one lower-case haystack per row, so a keystroke over 1,000 models is a
substring scan; the table draws lines on demand (Textual's line API), so only the rows on screen
are ever rendered. (A DataTable re-measures every cell of every re-added row: about 0.2 s per
keystroke at 1,000 rows, where this takes a few milliseconds; see ``bench/filter.py``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.sanitize import sanitize
from tui.core.text import params_label, parse_params
from tui.types import ModelInfo, RunningModel

COMPACT_BELOW = 96
"""Terminal widths under this drop the Family and Modified columns (the details pane has them)."""
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("backend", "Backend"),
    ("family", "Family"),
    ("params", "Params"),
    ("quant", "Quant"),
    ("size", "Size"),
    ("modified", "Modified"),
    ("loaded", "Loaded"),
)
"""(key, title) of every column, in display order; sorting cycles through them in this order."""

ALL_COLUMNS: tuple[str, ...] = tuple(key for key, _ in COLUMNS)


def row_key(backend: str, name: str) -> str:
    """The table key of a model (a tab never appears in a model name)."""
    return f"{backend}\t{name}"


def split_key(key: str) -> tuple[str, str]:
    """``(backend, name)`` of a :func:`row_key`."""
    backend, _, name = key.partition("\t")
    return backend, name


def parameter_count(text: str) -> float:
    """``3.2B`` → 3.2e9, ``494.03M`` → 4.9403e8; 0 when unreadable (for sorting)."""
    return parse_params(text)


FILTER_FIELDS = "name, backend, family, params, quant, size"
"""What the filter matches, as its hint says it (see :func:`filter_rows`)."""


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One model as the table shows it, with what it is sorted and filtered by."""

    info: ModelInfo
    loaded: RunningModel | None = None
    haystack: str = ""

    @property
    def key(self) -> str:
        return row_key(self.info.backend, self.info.name)

    @classmethod
    def make(cls, info: ModelInfo, loaded: RunningModel | None = None) -> ModelRow:
        size = short_bytes(info.size) if info.size else ""
        hay = " ".join(
            (
                info.name,
                info.backend,
                info.family,
                info.quantization,
                info.parameter_size,
                params_label(info.parameter_size),
                size,
            )
        )
        return cls(info, loaded, hay.lower())

    def sort_value(self, column: str) -> tuple[int, float | str]:
        """A value that orders this row by ``column``; unknown values sort last."""
        i = self.info
        if column == "params":
            n = parameter_count(i.parameter_size)
            return (0, n) if n else (1, 0.0)
        if column == "size":
            return (0, float(i.size)) if i.size else (1, 0.0)
        if column == "modified":
            return (0, i.modified.timestamp()) if i.modified else (1, 0.0)
        if column == "loaded":
            return (0, float(self.loaded.size)) if self.loaded else (1, 0.0)
        text = {"name": i.name, "backend": i.backend, "family": i.family, "quant": i.quantization}
        value = text.get(column, i.name).lower()
        return (0, value) if value else (1, "")


def build_rows(
    models: Iterable[ModelInfo], loaded: Iterable[RunningModel] | None = None
) -> list[ModelRow]:
    """Rows for ``models``, each joined with its entry from ``ps`` (if loaded)."""
    by_key = {row_key(r.backend, r.name): r for r in loaded or ()}
    return [ModelRow.make(m, by_key.get(row_key(m.backend, m.name))) for m in models]


def filter_rows(rows: Sequence[ModelRow], query: str) -> list[ModelRow]:
    """Rows whose name, backend, family, parameter size (``3.2B``), quantization or size on disk
    (``1.9G``, as the table shows it) hold every word of ``query``.

    Case-insensitive; an empty query keeps every row. :data:`FILTER_FIELDS` names these fields.
    """
    words = query.lower().split()
    if not words:
        return list(rows)
    return [r for r in rows if all(w in r.haystack for w in words)]


def sort_rows(rows: Sequence[ModelRow], column: str, reverse: bool = False) -> list[ModelRow]:
    """Rows ordered by ``column`` (then name, for a stable order); unknown values last."""
    ordered = sorted(rows, key=lambda r: (r.sort_value(column), r.info.name.lower()))
    if reverse:
        # Keep rows with unknown values last in both directions.
        known = [r for r in ordered if r.sort_value(column)[0] == 0]
        unknown = [r for r in ordered if r.sort_value(column)[0] == 1]
        ordered = [*reversed(known), *unknown]
    return ordered


def short_bytes(n: int) -> str:
    """``2019393189`` → ``1.9G``, ``397821319`` → ``379M``: sizes in four or five cells."""
    for unit, scale in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{n}B"


def format_loaded(loaded: RunningModel | None) -> str:
    """``● 1.9G GPU`` / ``● 1.1G CPU`` / ``● 2.0G 48%GPU``; empty when not loaded."""
    if loaded is None:
        return ""
    if not loaded.size:
        return "● yes"
    where = "CPU"
    if loaded.size_vram:
        share = round(100 * loaded.size_vram / loaded.size)
        where = "GPU" if share >= 100 else f"{share}%GPU"
    return f"● {short_bytes(loaded.size)} {where}"


def format_modified(when: datetime | None) -> str:
    """The local date of a change, ``2025-05-04``; ``–`` when unknown."""
    if when is None:
        return "–"
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime("%Y-%m-%d")


def cells(row: ModelRow, columns: Sequence[str] = ALL_COLUMNS) -> list[Text]:
    """The table cells of one row for ``columns`` (names sanitized: they come from a server)."""
    i = row.info
    every = {
        "name": Text(sanitize(i.name), style="bold", overflow="ellipsis", no_wrap=True),
        "backend": Text(i.backend, style="dim", overflow="ellipsis", no_wrap=True),
        "family": Text(sanitize(i.family) or "–", overflow="ellipsis", no_wrap=True),
        "params": Text(sanitize(params_label(i.parameter_size)) or "–", justify="right"),
        "quant": Text(sanitize(i.quantization) or "–"),
        "size": Text(short_bytes(i.size) if i.size else "–", justify="right"),
        "modified": Text(format_modified(i.modified)),
        "loaded": Text(format_loaded(row.loaded), style="bold green"),
    }
    return [every[c] for c in columns]


_WIDTHS = {
    "backend": 7,
    "family": 10,
    "params": 7,
    "quant": 7,
    "size": 5,
    "modified": 10,
    "loaded": 11,
}


class ModelTable(ScrollView, can_focus=True):
    """A filtered, sorted view of :class:`ModelRow` s with a fixed header and a row cursor.

    Up/down/page/home/end move the cursor, enter selects, a click on a header sorts by it.
    """

    DEFAULT_CSS = """
    ModelTable { height: 1fr; }
    ModelTable > .model-table--header { text-style: bold; background: $panel; }
    ModelTable > .model-table--cursor { background: $block-cursor-blurred-background; }
    ModelTable:focus > .model-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"model-table--header", "model-table--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True, repaint=False)

    class RowHighlighted(Message):
        """The cursor moved to another row (or the row under it changed)."""

    class RowSelected(Message):
        """Enter (or a click on the highlighted row) chose the row under the cursor."""

    class Sorted(Message):
        """The order changed (a click on a header)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows_all: list[ModelRow] = []
        self.shown: list[ModelRow] = []
        self.query_text = ""
        self.sort_column = "name"
        self.sort_reverse = False
        self.visible_columns: tuple[str, ...] = ALL_COLUMNS
        self.widths: dict[str, int] = dict(_WIDTHS, name=24)
        self._cells: dict[str, list[Text]] = {}

    # ------------------------------------------------------------------ model

    @property
    def current(self) -> ModelRow | None:
        """The highlighted row, if any."""
        if not self.shown or not 0 <= self.cursor_row < len(self.shown):
            return None
        return self.shown[self.cursor_row]

    def set_rows(self, rows: Sequence[ModelRow]) -> None:
        """Replace every row, keeping the filter, the order and the highlighted model."""
        self.rows_all = list(rows)
        self._cells = {}
        self._redraw()

    def set_filter(self, query: str) -> None:
        """Show only rows matching ``query`` (see :func:`filter_rows`)."""
        if query != self.query_text:
            self.query_text = query
            self._redraw()

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Order rows by ``column``; the same column again flips the direction unless given."""
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self._redraw()

    def fit_columns(self, width: int) -> None:
        """Choose the columns for a terminal ``width`` and give the name what the others leave."""
        compact = width < COMPACT_BELOW
        keys = tuple(k for k in ALL_COLUMNS if not (compact and k in ("family", "modified")))
        others = sum(_WIDTHS[k] + 2 for k in keys if k != "name")
        # 2 cells of screen padding, 2 of cell padding and 2 of vertical scrollbar.
        name_width = max(12, width - others - 6)
        self.visible_columns = keys
        self.widths = dict(_WIDTHS, name=name_width)
        self.refresh()

    def move_cursor(self, *, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and scroll it into view."""
        last = len(self.shown) - 1
        self.cursor_row = max(0, min(row, last)) if last >= 0 else 0

    def _redraw(self) -> None:
        # The highlighted model stays highlighted when rows come and go, unless the cursor is on
        # the first row: then it stays there, so a list filling in at start-up shows its top.
        keep = self.current.key if self.current and self.cursor_row > 0 else None
        self.shown = sort_rows(
            filter_rows(self.rows_all, self.query_text), self.sort_column, self.sort_reverse
        )
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)
        row = 0
        if keep is not None:
            # A highlighted model that is gone (deleted, renamed) leaves the cursor where it
            # was, on the row that took its place, not at the top of the list.
            row = next((i for i, r in enumerate(self.shown) if r.key == keep), self.cursor_row)
        self.move_cursor(row=row)
        self.refresh()

    def watch_cursor_row(self, row: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.RowHighlighted())

    def _scroll_to_cursor(self) -> None:
        body = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + body:
            self.scroll_to(y=self.cursor_row - body + 1, animate=False)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)
        self._scroll_to_cursor()

    # ------------------------------------------------------------------ keys and mouse

    def action_move(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        page = max(1, self.scrollable_content_region.height - 2)
        self.move_cursor(row=self.cursor_row + direction * page)

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.RowSelected())

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.sort_by(column)
                self.post_message(self.Sorted())
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.shown):
            if row == self.cursor_row and event.chain == 2:
                self.action_select()
            self.move_cursor(row=row)

    def _column_at(self, x: int) -> str | None:
        left = 0
        for key in self.visible_columns:
            right = left + self.widths[key] + 2
            if left <= x < right:
                return key
            left = right
        return None

    # ------------------------------------------------------------------ drawing

    def _row_cells(self, row: ModelRow) -> list[Text]:
        cached = self._cells.get(row.key)
        if cached is None:
            cached = self._cells[row.key] = cells(row)
        return cached

    def _line(self, texts: Sequence[Text]) -> Text:
        line = Text(no_wrap=True, overflow="crop")
        for key, cell in zip(self.visible_columns, texts, strict=True):
            width = self.widths[key]
            piece = cell.copy()
            piece.truncate(width, overflow="ellipsis")
            pad = width - piece.cell_len
            line.append(" ")
            if cell.justify == "right":
                line.append(" " * pad)
                line.append_text(piece)
            else:
                line.append_text(piece)
                line.append(" " * pad)
            line.append(" ")
        return line

    def _header(self) -> Text:
        titles = dict(COLUMNS)
        texts = []
        for key in self.visible_columns:
            title = titles[key]
            if key == self.sort_column:
                # The arrow always shows: a narrow column cuts its title, never the arrow.
                arrow = "▼" if self.sort_reverse else "▲"
                width = self.widths[key]
                if len(title) + 2 <= width:
                    title += " " + arrow
                elif len(title) + 1 <= width:
                    title += arrow
                else:
                    title = title[: max(0, width - 2)] + "…" + arrow
            texts.append(Text(title, justify="right" if key in ("params", "size") else "left"))
        return self._line(texts)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            text = self._header()
            style = base + self.get_component_rich_style("model-table--header")
        else:
            index = round(self.scroll_y) + y - 1
            if not 0 <= index < len(self.shown):
                return Strip.blank(width, base)
            all_cells = self._row_cells(self.shown[index])
            order = {k: i for i, k in enumerate(ALL_COLUMNS)}
            text = self._line([all_cells[order[k]] for k in self.visible_columns])
            style = base
            if index == self.cursor_row:
                style = base + self.get_component_rich_style("model-table--cursor")
        segments = list(text.render(self.app.console))
        return Strip(segments).adjust_cell_length(width).apply_style(style)
