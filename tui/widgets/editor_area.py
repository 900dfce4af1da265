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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.strip import Strip
from textual.widgets import TextArea

from tui.core.diagnostics import Diagnostic
from tui.widgets.editor_analysis import Analysis
from tui.widgets.editor_syntax import STYLE_NAMES, LineSpans

GUTTER_MARKS = {"error": "●", "warning": "▲", "info": "·"}


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

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
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
