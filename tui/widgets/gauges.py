"""Gauges for resource figures: bars with numbers, fixed-scale trend lines, per-core bars.

Drawn as Rich text in one widget per block (not one widget per cell), and repainted only when what
would be drawn changed, so a screen of gauges costs next to nothing per sample. The pure helpers
(:func:`bar`, :func:`trend`, :func:`gauge_columns`) are what the widgets and the strip share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

_EIGHTHS = " ▏▎▍▌▋▊▉"
_LEVELS = "▁▂▃▄▅▆▇█"
EMPTY = "░"
WARN_AT = 70.0
"""Percent from which a bar is drawn in the warning colour."""
HIGH_AT = 90.0
"""Percent from which a bar is drawn in the error colour."""
_GIB = 1024**3
_MIB = 1024**2


def bar(fraction: float, width: int) -> tuple[str, str]:
    """A horizontal bar in eighth-blocks: ``(filled, empty)`` whose lengths add up to ``width``.

    Args:
        fraction: 0..1 (clamped; NaN counts as 0).
        width: Cells the bar spans.
    """
    if width <= 0:
        return "", ""
    if not math.isfinite(fraction):
        fraction = 0.0
    eighths = round(min(1.0, max(0.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    filled = "█" * full + (_EIGHTHS[part] if part else "")
    return filled, EMPTY * (width - len(filled))


def level_class(percent: float | None) -> str:
    """The component class for a bar at ``percent``: ``ok``, ``warn`` or ``high``."""
    if percent is None or percent < WARN_AT:
        return "ok"
    return "warn" if percent < HIGH_AT else "high"


def trend(
    values: Sequence[float | None],
    width: int,
    *,
    scale: float | None = 100.0,
    per: int = 1,
    phase: int | None = None,
) -> str:
    """A one-line trend of ``values`` (oldest first), newest at the right, on a fixed scale.

    Each cell is the peak of ``per`` consecutive values, so the time a cell covers never changes
    while the history fills. Buckets are counted from the newest value: the newest bucket holds
    ``phase`` values (1..per; default ``per``), so with ``phase`` taken from a running tick count
    older cells stay put as new values arrive, and only the newest one changes.

    Args:
        values: The series; ``None`` (not available) draws a gap.
        width: Cells to fill; the line is right-aligned in it.
        scale: The value drawn as a full block (``None``: the largest value shown).
        per: Values per cell.
        phase: How many values the newest cell holds.
    """
    if width <= 0 or not values:
        return " " * max(0, width)
    per = max(1, per)
    size = per if phase is None else min(per, max(1, phase))
    peaks: list[float | None] = []
    end = len(values)
    while end > 0 and len(peaks) < width:
        chunk = [v for v in values[max(0, end - size) : end] if v is not None]
        peaks.append(max(chunk) if chunk else None)
        end -= size
        size = per
    top = scale if scale is not None else max((p for p in peaks if p is not None), default=0.0)
    cells: list[str] = []
    for peak in reversed(peaks):
        if peak is None:
            cells.append(" ")
        elif top <= 0:
            cells.append(_LEVELS[0])
        else:
            cells.append(_LEVELS[round(min(1.0, max(0.0, peak / top)) * (len(_LEVELS) - 1))])
    return "".join(cells).rjust(width)


def format_pair(used: float, total: float) -> str:
    """``used`` of ``total`` bytes in one unit, e.g. ``4.4 of 31.1 GiB``."""
    if total >= _GIB:
        return f"{used / _GIB:.1f} of {total / _GIB:.1f} GiB"
    return f"{used / _MIB:.0f} of {total / _MIB:.0f} MiB"


def clip(text: str, width: int, *, left: bool = False) -> str:
    """``text`` cut to ``width`` cells with an ellipsis (at the start when ``left``)."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return "…"
    return "…" + text[-(width - 1) :] if left else text[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class GaugeColumns:
    """Cell widths of one gauge row: ``label bar value  detail trend``."""

    label: int
    bar: int
    value: int
    detail: int
    trend: int


def gauge_columns(width: int) -> GaugeColumns:
    """Split a row of ``width`` cells so every row of a panel lines up."""
    label, value = 6, 7
    rest = max(0, width - label - value - 4)
    detail = min(26, max(12, int(rest * 0.32)))
    bar_w = min(30, max(6, int((rest - detail) * 0.45)))
    trend_w = max(0, rest - detail - bar_w)
    return GaugeColumns(label, bar_w, value, detail, trend_w)


@dataclass(frozen=True, slots=True)
class GaugeRow:
    """One line of a :class:`GaugePanel`."""

    label: str
    percent: float | None
    """Bar fill in percent; ``None`` draws no bar (``value`` then spans the bar's cells)."""
    value: str
    detail: str = ""
    history: tuple[float | None, ...] = ()
    scale: float | None = 100.0
    """Full-scale value of the trend (``None``: the largest value shown)."""
    note: str = ""
    """Shown dimmed where the trend goes when there is no history (e.g. a disk's path)."""
    quiet: bool = False
    """Draw the whole row dimmed (e.g. "no GPU")."""


class GaugePanel(Widget):
    """Rows of ``label ███▌░░░  42.0 %  detail  ▁▂▃▅▇`` with trends on a fixed time scale."""

    COMPONENT_CLASSES = {
        "gauge--label",
        "gauge--ok",
        "gauge--warn",
        "gauge--high",
        "gauge--empty",
        "gauge--trend",
        "gauge--dim",
    }
    DEFAULT_CSS = """
    GaugePanel { height: auto; width: 1fr; }
    GaugePanel > .gauge--label { text-style: bold; }
    GaugePanel > .gauge--ok { color: $success; }
    GaugePanel > .gauge--warn { color: $warning; }
    GaugePanel > .gauge--high { color: $error; }
    GaugePanel > .gauge--empty { color: $foreground 25%; }
    GaugePanel > .gauge--trend { color: $accent; }
    GaugePanel > .gauge--dim { color: $text-muted; }
    """

    def __init__(
        self, *, span: int = 300, id: str | None = None, classes: str | None = None
    ) -> None:
        """Create the panel.

        Args:
            span: Values a full-width trend covers (the monitor's history length), so each cell
                stands for a fixed stretch of time.
        """
        super().__init__(id=id, classes=classes)
        self.span = span
        self._rows: tuple[GaugeRow, ...] = ()
        self._tick = 0
        self._text = Text()

    def set_rows(self, rows: Sequence[GaugeRow], tick: int = 0) -> None:
        """Show ``rows``; repaints only if the drawn text changed.

        Args:
            rows: The rows, top to bottom.
            tick: The sample's tick number (keeps trend cells aligned to fixed stretches of time).
        """
        relayout = len(rows) != len(self._rows)
        self._rows = tuple(rows)
        self._tick = tick
        self._redraw(relayout)

    def _redraw(self, relayout: bool = False) -> None:
        text = self.build(self.size.width)
        if relayout or text != self._text:
            self._text = text
            self.refresh(layout=relayout)

    def on_resize(self) -> None:
        self._redraw()

    def per_cell(self, trend_width: int) -> int:
        """How many samples one trend cell covers at ``trend_width`` cells."""
        return max(1, math.ceil(self.span / trend_width)) if trend_width > 0 else 1

    def build(self, width: int) -> Text:
        """The panel's text at ``width`` cells."""
        cols = gauge_columns(width)
        per = self.per_cell(cols.trend)
        phase = self._tick % per + 1
        style = self.get_component_rich_style
        label_style, empty_style = style("gauge--label"), style("gauge--empty")
        dim, trend_style = style("gauge--dim"), style("gauge--trend")
        text = Text(no_wrap=True, overflow="crop", end="")
        for i, row in enumerate(self._rows):
            if i:
                text.append("\n")
            text.append(clip(row.label, cols.label - 1).ljust(cols.label), label_style)
            if row.quiet:
                text.append(clip(row.value, max(0, width - cols.label)), dim)
                continue
            if row.percent is None:
                span = cols.bar + 1 + cols.value
                text.append(clip(row.value, span).ljust(span))
            else:
                filled, empty = bar(row.percent / 100.0, cols.bar)
                text.append(filled, style(f"gauge--{level_class(row.percent)}"))
                text.append(empty, empty_style)
                text.append(" " + clip(row.value, cols.value).rjust(cols.value))
            text.append("  " + clip(row.detail, cols.detail).ljust(cols.detail) + " ")
            if row.history:
                line = trend(row.history, cols.trend, scale=row.scale, per=per, phase=phase)
                text.append(line, trend_style)
            elif row.note:
                text.append(clip(row.note, cols.trend, left=True), dim)
        return text

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._rows))

    def render(self) -> Text:
        if self._text.cell_len == 0 and self._rows:
            self._text = self.build(self.size.width)
        return self._text


class CoreBars(Widget):
    """Per-core CPU bars in as many columns as fit: ``0 ███▌░░░  42%``."""

    COMPONENT_CLASSES = {"gauge--label", "gauge--ok", "gauge--warn", "gauge--high", "gauge--empty"}
    DEFAULT_CSS = """
    CoreBars { height: auto; width: 1fr; }
    CoreBars > .gauge--label { color: $text-muted; }
    CoreBars > .gauge--ok { color: $success; }
    CoreBars > .gauge--warn { color: $warning; }
    CoreBars > .gauge--high { color: $error; }
    CoreBars > .gauge--empty { color: $foreground 25%; }
    """
    CELL_MIN = 18
    """Narrowest cell: label, a bar of about 8 cells, the percentage and a gap."""
    CELL_MAX = 30
    """Widest cell: on a machine with few cores, longer bars would say nothing more."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._cores: tuple[int, ...] = ()

    def set_cores(self, percents: Sequence[float]) -> None:
        """Show one bar per core; repaints only when a whole percent changed."""
        cores = tuple(round(p) for p in percents)
        if cores != self._cores:
            relayout = len(cores) != len(self._cores)
            self._cores = cores
            self.refresh(layout=relayout)

    def columns(self, width: int) -> int:
        """How many cores fit side by side in ``width`` cells."""
        n = len(self._cores) or 1
        most = max(1, min(n, width // self.CELL_MIN))
        # As few rows as the width allows, then as few columns as fill those rows (8 cores in
        # 4 + 4, not 5 + 3).
        rows = math.ceil(n / most)
        return math.ceil(n / rows)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, math.ceil(len(self._cores) / self.columns(width)))

    def render(self) -> Text:
        width = self.size.width
        n = len(self._cores)
        text = Text(no_wrap=True, overflow="crop", end="")
        if not n:
            return text
        cols = self.columns(width)
        cell = min(self.CELL_MAX, width // cols)
        label_w = len(str(n - 1)) + 1
        bar_w = max(3, cell - label_w - 5 - 1)
        style = self.get_component_rich_style
        empty_style: Style = style("gauge--empty")
        label_style: Style = style("gauge--label")
        for i, pct in enumerate(self._cores):
            if i and i % cols == 0:
                text.append("\n")
            filled, empty = bar(pct / 100.0, bar_w)
            text.append(str(i).rjust(label_w - 1) + " ", label_style)
            text.append(filled, style(f"gauge--{level_class(pct)}"))
            text.append(empty, empty_style)
            text.append(f"{pct:4d}%" + " " * (cell - label_w - bar_w - 5))
        return text
