"""What the editor's side panes show: problems as list entries, the preview with its tokens marked.

Text from the document (messages quoting it, the rendered prompt) is sanitized and built as
:class:`rich.text.Text`, never parsed as markup.
"""

from __future__ import annotations

import re

from rich.text import Text

from tui.core.diagnostics import Diagnostic
from tui.core.sanitize import sanitize
from tui.core.text import plural
from tui.widgets.editor_area import GUTTER_MARKS
from tui.widgets.editor_preview import Preview

_SPECIAL = re.compile(r"<\|[^|<>\s]*\|>|<(?:start|end)_of_turn>|</?s>|\[/?INST\]")
_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "dim"}


def preview_text(preview: Preview) -> Text:
    """The rendered prompt with special tokens picked out and line ends shown as ↵."""
    out = Text()
    if preview.prompt is None:
        return out
    for i, line in enumerate(preview.prompt.split("\n")):
        if i:
            out.append("↵\n", style="dim")
        pos = 0
        for m in _SPECIAL.finditer(line):
            out.append(sanitize(line[pos : m.start()]))
            out.append(m.group(), style="bold cyan")
            pos = m.end()
        out.append(sanitize(line[pos:]))
    return out


def describe_diagnostic(d: Diagnostic) -> Text:
    """One entry of the problems list: ``2:19 ● message``."""
    line = Text()
    line.append(f"{d.line}:{d.col} ", style="dim")
    line.append(GUTTER_MARKS[d.severity] + " ", style=_SEVERITY_STYLE[d.severity])
    line.append(sanitize(d.message))
    return line


def count_problems(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> str:
    """``1 error, 2 warnings``, or ``no problems``."""
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    parts = []
    if errors:
        parts.append(plural(errors, "error"))
    if warnings:
        parts.append(plural(warnings, "warning"))
    return ", ".join(parts) or "no problems"
