"""A table drawn line by line: a fixed header, a row cursor, filter as you type, sort by a column.

:class:`RowTable` is what the Models table (:class:`~tui.widgets.model_table.ModelTable`) and the
Fleet table (:class:`~tui.screens.fleet.FleetTable`) share: the rows, the filter and the order, the
cursor and the scrolling that follows it, the keys and the mouse, and the drawing of a line from
cells cut to their columns' widths. A subclass says what differs: its columns and their widths, how
a row becomes cells, how rows sort, and the messages it posts. Textual's line API means only the rows
on screen are ever rendered, and each row's cells are made once until the rows change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Generic, Protocol, TypeVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class Row(Protocol):
    """What a :class:`RowTable` needs of a row."""

    @property
    def key(self) -> str:
        """What names the row while it is shown, so the cursor can stay on it."""
        ...

    @property
    def haystack(self) -> str:
        """The lower-case text the filter looks for words in."""
        ...


RowT = TypeVar("RowT", bound=Row)


def filter_rows(rows: Sequence[RowT], query: str) -> list[RowT]:
    """Rows whose haystack holds every word of ``query`` (case-insensitive); an empty query keeps
    every row."""
    words = query.lower().split()
    if not words:
        return list(rows)
    return [r for r in rows if all(w in r.haystack for w in words)]


class RowTable(ScrollView, Generic[RowT], can_focus=True):
    """A filtered, sorted view of rows with a fixed header and a row cursor.

    Up/down/page/home/end move the cursor, enter (or a double click on the highlighted row)
    selects, a click on a header sorts by that column. A subclass sets the class variables below,
    defines :meth:`_make_cells` and :meth:`_sorted`, nests its own :class:`RowHighlighted` and
    :class:`RowSelected` (so handlers are named after it), and keeps its own ``DEFAULT_CSS`` and
    ``COMPONENT_CLASSES``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    TITLES: ClassVar[Mapping[str, str]]
    """The header title of every column key."""
    RIGHT_TITLES: ClassVar[frozenset[str]] = frozenset()
    """The columns whose titles are right-justified."""
    PAD_LEFT: ClassVar[int] = 0
    """Cells of padding before each cell; one always follows it."""
    KEEP_TOP: ClassVar[bool] = False
    """When the rows change, a cursor on the first row stays there (a list filling in at start-up
    shows its top) instead of following the row it was on."""
    HEADER_COMPONENT: ClassVar[str]
    """The component class that styles the header line."""
    CURSOR_COMPONENT: ClassVar[str]
    """The component class that styles the highlighted row."""

    cursor_row: reactive[int] = reactive(0, always_update=True, repaint=False)

    class RowHighlighted(Message):
        """The cursor moved to another row (or the row under it changed)."""

    class RowSelected(Message):
        """Enter (or a double click on the highlighted row) chose the row under the cursor."""

    def __init__(
        self, *, columns: tuple[str, ...], sort_column: str, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.rows_all: list[RowT] = []
        self.shown: list[RowT] = []
        self.query_text = ""
        self.sort_column = sort_column
        self.sort_reverse = False
        self.visible_columns: tuple[str, ...] = columns
        self.widths: dict[str, int] = {}
        self._cells: dict[str, Mapping[str, Text]] = {}

    # ------------------------------------------------------------------ what a subclass says

    def _make_cells(self, row: RowT) -> Mapping[str, Text]:
        """Every column's cell for ``row`` (made once until the rows change)."""
        raise NotImplementedError

    def _sorted(self, rows: list[RowT]) -> list[RowT]:
        """``rows`` in the order of :attr:`sort_column` and :attr:`sort_reverse`."""
        raise NotImplementedError

    def _title(self, key: str) -> str:
        """The header title of column ``key``, with an arrow when the rows are sorted by it."""
        title = self.TITLES[key]
        if key == self.sort_column:
            title += "▼" if self.sort_reverse else "▲"
        return title

    def _header_clicked(self, column: str) -> None:
        """A click on the header of ``column``."""
        self.sort_by(column)

    # ------------------------------------------------------------------ rows

    @property
    def current(self) -> RowT | None:
        """The highlighted row, if any."""
        if not self.shown or not 0 <= self.cursor_row < len(self.shown):
            return None
        return self.shown[self.cursor_row]

    def set_rows(self, rows: Sequence[RowT]) -> None:
        """Replace every row, keeping the filter, the order and the highlighted row."""
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

    def move_cursor(self, *, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and scroll it into view."""
        last = len(self.shown) - 1
        self.cursor_row = max(0, min(row, last)) if last >= 0 else 0

    def _redraw(self) -> None:
        # The highlighted row stays highlighted when rows come and go (but see KEEP_TOP).
        current = self.current
        follow = self.cursor_row > 0 or not self.KEEP_TOP
        keep = current.key if current is not None and follow else None
        self.shown = self._sorted(filter_rows(self.rows_all, self.query_text))
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)
        row = 0 if self.KEEP_TOP else self.cursor_row
        if keep is not None:
            # A highlighted row that is gone (deleted, renamed) leaves the cursor where it
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
                self._header_clicked(column)
            return
        row = round(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.shown):
            if row == self.cursor_row and event.chain == 2:
                self.action_select()
            self.move_cursor(row=row)

    def _column_at(self, x: int) -> str | None:
        left = 0
        for key in self.visible_columns:
            right = left + self.PAD_LEFT + self.widths[key] + 1
            if left <= x < right:
                return key
            left = right
        return None

    # ------------------------------------------------------------------ drawing

    def _line(self, texts: Sequence[Text]) -> Text:
        line = Text(no_wrap=True, overflow="crop")
        lead = " " * self.PAD_LEFT
        for key, cell in zip(self.visible_columns, texts, strict=True):
            width = self.widths[key]
            piece = cell.copy()
            piece.truncate(width, overflow="ellipsis")
            pad = width - piece.cell_len
            line.append(lead)
            if cell.justify == "right":
                line.append(" " * pad)
                line.append_text(piece)
            else:
                line.append_text(piece)
                line.append(" " * pad)
            line.append(" ")
        return line

    def _header(self) -> Text:
        right = self.RIGHT_TITLES
        return self._line(
            [
                Text(self._title(key), justify="right" if key in right else "left")
                for key in self.visible_columns
            ]
        )

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            text = self._header()
            style = base + self.get_component_rich_style(self.HEADER_COMPONENT)
        else:
            index = round(self.scroll_y) + y - 1
            if not 0 <= index < len(self.shown):
                return Strip.blank(width, base)
            row = self.shown[index]
            row_cells = self._cells.get(row.key)
            if row_cells is None:
                row_cells = self._cells[row.key] = self._make_cells(row)
            text = self._line([row_cells[k] for k in self.visible_columns])
            style = base
            if index == self.cursor_row:
                style = base + self.get_component_rich_style(self.CURSOR_COMPONENT)
        segments = list(text.render(self.app.console))
        return Strip(segments).adjust_cell_length(width).apply_style(style)
