"""One analysis of the editor's text: parsed once, shared by highlighting, diagnostics and preview.

The Editor screen runs :func:`analyze` off the event loop (in a thread), at most once per burst
of keystrokes (debounced), and hands the result to the text area (colours, underlines, gutter
marks), the problems list and the preview. Nothing else parses the text while it is edited.

Lines longer than :data:`LONG_LINE` characters are not highlighted (their spans would cost more
to draw than they tell); :attr:`Analysis.long_lines` lists them so the screen can say so.

Pure Python; nothing here imports Textual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tui.core.diagnostics import Diagnostic, sort_diagnostics
from tui.core.modelfile_encoding import ByteKeeper, undecodable_diagnostics
from tui.widgets.editor_doc import INFERENCE_MODEL
from tui.widgets.editor_preview import Preview
from tui.widgets.editor_syntax import LineSpans, diagnostic_spans, gutter_marks

LONG_LINE = 10_000
"""Lines longer than this (in characters) are shown without highlighting and without soft wrap."""

_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the editor shows about one version of the text.

    Attributes:
        kind: The document kind it was read as.
        text: The text analysed (as shown in the editor).
        diagnostics: Problems, sorted by position.
        spans: Highlight spans per 0-based line (none for long lines).
        diag_spans: Underline spans of the diagnostics per 0-based line.
        marks: The worst severity per 0-based line, for the gutter.
        preview: The rendered sample prompt, or None for an empty text.
        long_lines: 0-based lines longer than :data:`LONG_LINE`, not highlighted.
    """

    kind: str
    text: str
    diagnostics: tuple[Diagnostic, ...] = ()
    spans: LineSpans = field(default_factory=dict)
    diag_spans: LineSpans = field(default_factory=dict)
    marks: dict[int, str] = field(default_factory=dict)
    preview: Preview | None = None
    long_lines: tuple[int, ...] = ()


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` as the editor counts them (``\\r\\n``, ``\\r`` or ``\\n`` end one)."""
    return _NEWLINE.split(text)


def long_lines(lines: list[str]) -> tuple[int, ...]:
    """0-based indexes of the lines longer than :data:`LONG_LINE`."""
    return tuple(i for i, line in enumerate(lines) if len(line) > LONG_LINE)


def analyze(kind: str, text: str, keeper: ByteKeeper | None = None) -> Analysis:
    """Parse ``text`` once as a ``kind`` document and derive everything the editor shows.

    ``keeper`` holds the bytes of the loaded file that are not UTF-8: those still in the text
    are reported (a warning at the first one).
    """
    if not text.strip():
        return Analysis(kind, text)
    diagnostics: list[Diagnostic]
    if kind == INFERENCE_MODEL:
        from tui.core.inference_model import validate_text
        from tui.widgets.editor_preview import preview_inference_data
        from tui.widgets.editor_syntax import json_spans

        data, diagnostics = validate_text(text)
        spans = json_spans(text)
        preview = preview_inference_data(data)
    else:
        from tui.core.modelfile import parse, validate
        from tui.widgets.editor_preview import preview_modelfile
        from tui.widgets.editor_syntax import modelfile_spans

        mf = parse(text)
        diagnostics = validate(mf)
        spans = modelfile_spans(text, mf)
        preview = preview_modelfile(mf)
    if keeper is not None and keeper.active:
        diagnostics = sort_diagnostics(
            [*diagnostics, *undecodable_diagnostics(keeper.restore(text))]
        )
    lines = split_lines(text)
    too_long = long_lines(lines)
    for row in too_long:
        spans.pop(row, None)
    return Analysis(
        kind=kind,
        text=text,
        diagnostics=tuple(diagnostics),
        spans=dict(spans),
        diag_spans=dict(diagnostic_spans(lines, diagnostics)),
        marks=gutter_marks(diagnostics, len(lines)),
        preview=preview,
        long_lines=too_long,
    )
