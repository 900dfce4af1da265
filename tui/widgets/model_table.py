"""The table of installed models across backends: rows, filter as you type, sort by any column.

The row model (:class:`ModelRow`, :func:`filter_rows`, :func:`sort_rows`) is plain Python so the
filter can be measured and tested without a terminal; :class:`ModelTable` (a
:class:`~tui.widgets.row_table.RowTable`) only draws what it is given. Filtering precomputes one lower-case haystack per row, so a keystroke over 1,000 models is a
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
from textual.message import Message

from tui.core.sanitize import sanitize
from tui.core.text import params_label, parse_params
from tui.types import ModelInfo, RunningModel
from tui.widgets.row_table import RowTable
from tui.widgets.row_table import filter_rows as filter_rows

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
"""What the filter matches, as its hint says it: :func:`filter_rows` keeps the rows whose name,
backend, family, parameter size (``3.2B``), quantization or size on disk (``1.9G``, as the table
shows it) hold every word of the query (see :meth:`ModelRow.make`)."""


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
    every = _cells_by_column(row)
    return [every[c] for c in columns]


def _cells_by_column(row: ModelRow) -> dict[str, Text]:
    i = row.info
    return {
        "name": Text(sanitize(i.name), style="bold", overflow="ellipsis", no_wrap=True),
        "backend": Text(i.backend, style="dim", overflow="ellipsis", no_wrap=True),
        "family": Text(sanitize(i.family) or "–", overflow="ellipsis", no_wrap=True),
        "params": Text(sanitize(params_label(i.parameter_size)) or "–", justify="right"),
        "quant": Text(sanitize(i.quantization) or "–"),
        "size": Text(short_bytes(i.size) if i.size else "–", justify="right"),
        "modified": Text(format_modified(i.modified)),
        "loaded": Text(format_loaded(row.loaded), style="bold green"),
    }


_WIDTHS = {
    "backend": 7,
    "family": 10,
    "params": 7,
    "quant": 7,
    "size": 5,
    "modified": 10,
    "loaded": 11,
}


class ModelTable(RowTable[ModelRow]):
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
    HEADER_COMPONENT = "model-table--header"
    CURSOR_COMPONENT = "model-table--cursor"
    TITLES = dict(COLUMNS)
    RIGHT_TITLES = frozenset({"params", "size"})
    PAD_LEFT = 1
    KEEP_TOP = True

    class RowHighlighted(RowTable.RowHighlighted):
        """The cursor moved to another row (or the row under it changed)."""

    class RowSelected(RowTable.RowSelected):
        """Enter (or a click on the highlighted row) chose the row under the cursor."""

    class Sorted(Message):
        """The order changed (a click on a header)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(columns=ALL_COLUMNS, sort_column="name", id=id)
        self.widths = dict(_WIDTHS, name=24)

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

    def _make_cells(self, row: ModelRow) -> dict[str, Text]:
        return _cells_by_column(row)

    def _sorted(self, rows: list[ModelRow]) -> list[ModelRow]:
        return sort_rows(rows, self.sort_column, self.sort_reverse)

    def _title(self, key: str) -> str:
        title = self.TITLES[key]
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
        return title

    def _header_clicked(self, column: str) -> None:
        self.sort_by(column)
        self.post_message(self.Sorted())
