"""The editor's text area: Modelfile / JSON highlighting and inline diagnostics, no tree-sitter.

Colours come from component classes (``editor--keyword``...), so they follow the app's theme.
Diagnostics are underlined where they point and marked in the gutter (● error, ▲ warning,
· info) next to the line number.

Highlighting uses only TextArea's public API: :meth:`TextArea.get_line`, which Textual documents
as the place to stylize a line, applies the spans of the latest
:class:`~tui.widgets.editor_analysis.Analysis` (computed once per burst of edits by the screen,
off the event loop), and ``notify_style_update`` drops the cached lines when a new one arrives.
Nothing here parses the text. Until the next analysis arrives, an edited line keeps the spans of
the previous one (the next analysis is at most a debounce away).

A document with a line of more than :data:`~tui.widgets.editor_analysis.LONG_LINE` characters is
shown without soft wrap (the screen turns it off), and TextArea would then build every row as
wide as that line: a 1 MB line made each repaint cost ~45 ms of 1 MB strings, several per key.
So in that case each row is built here from the characters in view only
(:meth:`EditorArea._window_line`), styled exactly as TextArea styles them; rows it cannot build
that way (tabs, characters wider or narrower than one cell) are TextArea's, cut to the view.
Bracket matching steps from bracket to bracket (:meth:`EditorArea.find_matching_bracket`).
tests/test_editor_long_lines.py compares both with TextArea's own, cell by cell.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import Location

from tui.core.diagnostics import Diagnostic
from tui.widgets.editor_analysis import LONG_LINE, Analysis
from tui.widgets.editor_syntax import STYLE_NAMES, LineSpans

GUTTER_MARKS = {"error": "●", "warning": "▲", "info": "·"}

_BRACKETS = re.compile(r"[\[\](){}]")
_OPENS = {"(": ")", "[": "]", "{": "}"}
_CLOSES = {close: open_ for open_, close in _OPENS.items()}

_SIMPLE_CACHED = 1_000
"""Lines at least this long have their :func:`_one_cell_each` answer kept (it is O(line))."""


def _one_cell_each(line: str) -> bool:
    """Whether each character of ``line`` takes one cell (so columns are characters)."""
    return line.isascii() and line.isprintable()


def _head(strip: Strip, width: int) -> Strip:
    """The first ``width`` cells of ``strip``, without measuring the cells past them (a row of
    TextArea's for a document with a 1 MB line holds segments of a million cells)."""
    if strip.cell_length <= width:
        return strip
    kept: list[Segment] = []
    left = width
    for segment in strip:
        if segment.control:
            return strip.crop(0, width)
        piece = segment.text[:left]
        cells = cell_len(piece)
        if len(piece) == len(segment.text) and cells <= left:
            kept.append(segment)
            left -= cells
        elif cells >= left:
            kept.append(Segment(piece, segment.style).split_cells(left)[0])
            left = 0
        else:  # characters of no width: measure the usual way
            return strip.crop(0, width)
        if left == 0:
            break
    return Strip(kept, width - left)


class EditorArea(TextArea):
    """A TextArea for Modelfiles (``kind="modelfile"``) and inference_model.json files."""

    COMPONENT_CLASSES: ClassVar[set[str]] = (
        TextArea.COMPONENT_CLASSES
        | {f"editor--{name}" for name in STYLE_NAMES}
        | {f"editor--gutter-{name}" for name in GUTTER_MARKS}
    )
    DEFAULT_CSS = """
    EditorArea .editor--keyword { color: $accent; text-style: bold; }
    EditorArea .editor--unknown { color: $error; text-style: bold; }
    EditorArea .editor--name { color: $secondary; }
    EditorArea .editor--string { color: $success; }
    EditorArea .editor--number { color: $warning; }
    EditorArea .editor--literal { color: $warning; text-style: italic; }
    EditorArea .editor--comment { color: $text-muted; text-style: italic; }
    EditorArea .editor--action { color: $primary; text-style: bold; }
    EditorArea .editor--placeholder { color: $accent; text-style: bold underline; }
    EditorArea .editor--key { color: $primary; }
    EditorArea .editor--error { background: $error 35%; text-style: underline; }
    EditorArea .editor--warning { background: $warning 25%; text-style: underline; }
    EditorArea .editor--info { text-style: underline; }
    EditorArea .editor--gutter-error { color: $error; text-style: bold; }
    EditorArea .editor--gutter-warning { color: $warning; text-style: bold; }
    EditorArea .editor--gutter-info { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # TextArea binds these hidden; shown here so the footer tells how to undo.
        Binding("ctrl+z", "undo", "Undo", id="editor.undo", tooltip="Undo the last edit"),
        Binding("ctrl+y", "redo", "Redo", id="editor.redo", tooltip="Redo what was undone"),
    ]

    def __init__(self, text: str = "", *, kind: str = "modelfile", id: str | None = None) -> None:
        self.kind = kind
        self._spans: LineSpans = {}
        self._diag_spans: LineSpans = {}
        self._marks: dict[int, str] = {}
        self._simple: tuple[str, bool] = ("", True)
        """The last long line asked about, and whether its characters are one cell each."""
        self.diagnostics: tuple[Diagnostic, ...] = ()
        super().__init__(
            text,
            id=id,
            show_line_numbers=True,
            soft_wrap=True,
            tab_behavior="focus",
            highlight_cursor_line=True,
        )

    def set_kind(self, kind: str) -> None:
        """Highlight as ``modelfile`` or ``inference-model`` from now on (spans come with the
        next :meth:`set_analysis`)."""
        if kind != self.kind:
            self.kind = kind
            self._spans = {}
            self.notify_style_update()
            self.refresh()

    def set_analysis(self, analysis: Analysis) -> None:
        """Show ``analysis``: its highlighting, underlines and gutter marks."""
        self._spans = analysis.spans
        self.set_diagnostics(analysis.diagnostics, analysis.diag_spans, analysis.marks)

    def set_diagnostics(
        self,
        diagnostics: Sequence[Diagnostic],
        diag_spans: LineSpans | None = None,
        marks: dict[int, str] | None = None,
    ) -> None:
        """Underline ``diagnostics`` and mark their lines in the gutter.

        ``diag_spans`` and ``marks`` are computed from them when not given.
        """
        self.diagnostics = tuple(diagnostics)
        if diag_spans is None or marks is None:
            from tui.widgets.editor_syntax import diagnostic_spans, gutter_marks

            lines = self.document.lines
            diag_spans = diagnostic_spans(lines, self.diagnostics)
            marks = gutter_marks(self.diagnostics, len(lines))
        self._diag_spans = diag_spans
        self._marks = marks
        # TextArea caches rendered lines and does not know about our spans: a style update
        # empties that cache (public API), and the refresh draws the new ones.
        self.notify_style_update()
        self.refresh()

    def find_matching_bracket(self, bracket: str, search_from: Location) -> Location | None:
        """TextArea's bracket matching (same stack, same answers), stepping from bracket to
        bracket rather than through every character: next to a bracket whose partner is a
        megabyte away (a minified JSON line), each cursor move took ~0.2 s."""
        if len(bracket) != 1 or (bracket not in _OPENS and bracket not in _CLOSES):
            return None
        document = self.document
        row, column = search_from
        stack: list[str] = []
        if bracket in _OPENS:
            for at in range(row, document.line_count):
                line = document.get_line(at)
                for found in _BRACKETS.finditer(line, column if at == row else 0):
                    char = found.group()
                    if char in _OPENS:
                        stack.append(char)
                    elif stack and stack[-1] == _CLOSES[char]:
                        stack.pop()
                        if not stack:
                            return at, found.start()
            return None
        for at in range(row, -1, -1):
            line = document.get_line(at)
            stop = column + 1 if at == row else len(line)
            for found in reversed(list(_BRACKETS.finditer(line, 0, stop))):
                char = found.group()
                if char in _CLOSES:
                    stack.append(char)
                elif stack and stack[-1] == _OPENS[char]:
                    stack.pop()
                    if not stack:
                        return at, found.start()
        return None

    def gutter_mark(self, line: int) -> str:
        """The severity marked on 0-based ``line`` (``""`` when none), for tests and help."""
        return self._marks.get(line, "")

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"editor--{name}", partial=True)

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        for start, end, name in self._spans.get(line_index, ()):
            line.stylize(self._style(name), start, end)
        for start, end, severity in self._diag_spans.get(line_index, ()):
            line.stylize(self._style(severity), start, end)
        return line

    @property
    def windowed(self) -> bool:
        """Whether rows are built from the characters in view only (a long line, not wrapped)."""
        return not self.soft_wrap and self.virtual_size.width > LONG_LINE

    def render_line(self, y: int) -> Strip:
        return self._marked(self._window_line(y) if self.windowed else super().render_line(y))

    def _marked(self, strip: Strip) -> Strip:
        """``strip`` (a row) with the gutter mark of its line, if it has one."""
        if not self._marks or not self.show_line_numbers:
            return strip
        # The gutter shows the line number on the first row of each line only (wrapped
        # continuations and rows past the end show none): read it back rather than map the row
        # through the wrapped document, which costs O(line length) for a long line.
        at = self.gutter_width - 2
        number = strip.crop(0, at).text.strip()
        if not number.isdigit():
            return strip
        severity = self._marks.get(int(number) - self.line_number_start)
        if severity is None:
            return strip
        left = strip.crop(0, at)
        right = strip.crop(at + 1, strip.cell_length)
        segments = list(left)
        base = segments[-1].style if segments and segments[-1].style else Style()
        mark = Segment(GUTTER_MARKS[severity], base + self._style(f"gutter-{severity}"))
        return Strip.join([left, Strip([mark], 1), right])

    def _is_simple(self, line: str) -> bool:
        if len(line) < _SIMPLE_CACHED:
            return _one_cell_each(line)
        known, simple = self._simple
        if known is not line:  # lines are immutable: an edited line is a new string
            simple = _one_cell_each(line)
            self._simple = (line, simple)
        return simple

    def _window_line(self, y: int) -> Strip:
        """Row ``y`` as TextArea draws it without soft wrap (its ``_render_line``), built from the
        characters in view only. Falls back to TextArea's row, cut to the view, for what this does
        not draw: characters that do not take one cell each, a suggestion, an empty line in a
        selection, tree-sitter highlights.
        """
        width = self.size.width
        # TextArea keeps its theme (CSS applied) and whether the cursor is drawn (blink) in
        # attributes it does not make public; they are read here, never set.
        theme = self._theme
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        base_style = theme.base_style if theme.base_style is not None else self.rich_style
        if row >= self.wrapped_document.height:
            return Strip.blank(width, base_style)
        line_string = self.document.get_line(row)
        count = len(line_string)
        selection = self.selection
        start, end = selection
        top, bottom = sorted(selection)
        selected = start != end and top[0] <= row <= bottom[0]
        if (
            not self._is_simple(line_string)
            or self.suggestion
            or self.language is not None
            or (selected and count == 0)
        ):
            return _head(super().render_line(y), width)

        gutter_width = self.gutter_width
        lo = scroll_x
        hi = scroll_x + max(width - gutter_width, 0)
        line = Text(line_string[lo:hi], end="", no_wrap=True)
        line.set_length(max(min(hi, count + 1) - lo, 0))  # the cell after the end, for the cursor

        def stylize(style: Style | None, first: int, last: int, length: int) -> None:
            # Rich's stylize on the whole line (``length`` long then), moved into the window.
            if not style:  # as TextArea: a style that is not set is not applied
                return
            last = min(last, length)
            if first >= length or last <= first:
                return
            first, last = max(first, lo) - lo, min(last, hi) - lo
            if last > first:
                line.stylize(style, first, last)

        # As get_line: the analysis' spans, on the line before its cursor cell is added.
        for first, last, name in self._spans.get(row, ()):
            stylize(self._style(name), first, last, count)
        for first, last, severity in self._diag_spans.get(row, ()):
            stylize(self._style(severity), first, last, count)

        # As TextArea._render_line, in its order (later styles win).
        padded = count + 1
        cursor_row, cursor_column = end
        has_cursor = not (self.read_only and not self.show_cursor)
        highlight_cursor_line = self.highlight_cursor_line and has_cursor
        cursor_line_style = theme.cursor_line_style if highlight_cursor_line else None
        if has_cursor and cursor_line_style and cursor_row == row:
            stylize(cursor_line_style, 0, padded, padded)
        if selected and theme.selection_style:
            (top_row, top_column), (bottom_row, bottom_column) = top, bottom
            if row == top_row == bottom_row:
                stylize(theme.selection_style, top_column, bottom_column, padded)
            elif row == top_row:
                stylize(theme.selection_style, top_column, count, padded)
            elif row == bottom_row:
                stylize(theme.selection_style, 0, bottom_column, padded)
            else:
                stylize(theme.selection_style, 0, count, padded)
        bracket = self.matching_bracket_location
        draw_brackets = has_cursor and self.match_cursor_bracket and bracket is not None
        draw_brackets = draw_brackets and start == end
        if cursor_row == row:
            if draw_brackets:
                stylize(theme.bracket_matching_style, cursor_column, cursor_column + 1, padded)
            if self._draw_cursor:
                stylize(theme.cursor_style, cursor_column, cursor_column + 1, padded)
        if draw_brackets and bracket is not None and bracket[0] == row:
            stylize(theme.bracket_matching_style, bracket[1], bracket[1] + 1, padded)

        text_strip = Strip(line.render(self.app.console), cell_length=line.cell_len)
        if cursor_row == row and self.highlight_cursor_line:
            line_style = cursor_line_style
        else:
            line_style = theme.base_style
        text_strip = text_strip.extend_cell_length(width - gutter_width, line_style)
        if self.show_line_numbers:
            if cursor_row == row and highlight_cursor_line:
                gutter_style = theme.cursor_line_gutter_style
            else:
                gutter_style = theme.gutter_style
            number = str(row + self.line_number_start)
            gutter = Segment(f"{number:>{gutter_width - 2}}  ", gutter_style)
            text_strip = Strip.join([Strip([gutter], cell_length=gutter_width), text_strip])
        return text_strip.apply_style(base_style)
