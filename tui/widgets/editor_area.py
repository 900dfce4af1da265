"""The editor's text area: Modelfile / JSON highlighting and inline diagnostics, no tree-sitter.

Colours come from component classes (``editor--keyword``...), so they follow the app's theme.
Diagnostics are underlined where they point and marked in the gutter (● error, ▲ warning,
· info) next to the line number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Offset
from textual.strip import Strip
from textual.widgets import TextArea

from tui.core.diagnostics import Diagnostic
from tui.widgets.editor_syntax import (
    STYLE_NAMES,
    LineSpans,
    diagnostic_spans,
    gutter_marks,
    spans_for,
)

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
        # TextArea builds its highlight map while it initialises, so these exist first.
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
        """Highlight as ``modelfile`` or ``inference-model`` from now on."""
        if kind != self.kind:
            self.kind = kind
            self._build_highlight_map()
            self.refresh()

    def set_diagnostics(self, diagnostics: Sequence[Diagnostic]) -> None:
        """Underline ``diagnostics`` and mark their lines in the gutter."""
        self.diagnostics = tuple(diagnostics)
        lines = self.document.lines
        self._diag_spans = diagnostic_spans(lines, self.diagnostics)
        self._marks = gutter_marks(self.diagnostics, len(lines))
        # The line cache does not know about diagnostics: a style update empties it.
        self.notify_style_update()

    def gutter_mark(self, line: int) -> str:
        """The severity marked on 0-based ``line`` (``""`` when none), for tests and help."""
        return self._marks.get(line, "")

    def _build_highlight_map(self) -> None:
        # TextArea calls this after every edit and load (it also empties the line cache); its own
        # tree-sitter highlights stay empty, ours are computed from the whole text here.
        super()._build_highlight_map()
        self._spans = spans_for(self.kind, self.document.text)

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
        absolute = y + self.scroll_offset.y
        if absolute >= self.wrapped_document.height:
            return strip
        row, _col = self.wrapped_document.offset_to_location(Offset(0, absolute))
        severity = self._marks.get(row)
        if severity is None:
            return strip
        if self.wrapped_document.location_to_offset((row, 0)).y != absolute:
            return strip  # a wrapped continuation of the line: mark its first row only
        at = self.gutter_width - 2
        left = strip.crop(0, at)
        right = strip.crop(at + 1, strip.cell_length)
        segments = list(left)
        base = segments[-1].style if segments and segments[-1].style else Style()
        mark = Segment(GUTTER_MARKS[severity], base + self._style(f"gutter-{severity}"))
        return Strip.join([left, Strip([mark], 1), right])
