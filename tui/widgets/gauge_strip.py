"""The gauge strip: CPU, RAM, VRAM and the running generation's tok/s in one line, on every screen.

It repaints only when the figures it shows (rounded as shown) changed, and picks the richest layout
that fits the terminal's width: mini bars and sizes when there is room, bare percentages when not.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from tui.monitor.sample import Sample
from tui.widgets.gauges import bar, level_class

_GIB = 1024**3
_SEP = " │ "


def _size_pair(used: int, total: int) -> str:
    if total >= _GIB:
        return f"{used / _GIB:.1f}/{total / _GIB:.1f}G"
    return f"{used / 2**20:.0f}/{total / 2**20:.0f}M"


@dataclass(frozen=True, slots=True)
class StripFigures:
    """What the strip shows, rounded as shown (equal figures mean an identical line)."""

    cpu: int
    ram: int
    ram_size: str
    vram: int | None
    """VRAM in use over every GPU, percent; ``None`` without GPU memory figures."""
    vram_size: str
    """``5.4/12.0G``; ``N/A`` for GPUs that do not report memory; empty with no GPU."""
    rate: str
    """The running generation's rate, e.g. ``23.4 tok/s``; empty when nothing generates."""


def strip_figures(sample: Sample, tokens_per_second: float | None) -> StripFigures:
    """Round a sample (and the live generation rate) to what the strip shows."""
    ram_used = sample.ram_total - sample.ram_available
    gpus = [g for g in sample.gpus if g.memory_used is not None and g.memory_total]
    vram: int | None = None
    vram_size = ""
    if gpus:
        used = sum(g.memory_used or 0 for g in gpus)
        total = sum(g.memory_total or 0 for g in gpus)
        vram = round(100.0 * used / total)
        vram_size = _size_pair(used, total)
    elif sample.gpus:
        vram_size = "N/A"
    rate = f"{tokens_per_second:.1f} tok/s" if tokens_per_second is not None else ""
    return StripFigures(
        cpu=round(sample.cpu_percent),
        ram=round(sample.ram_percent),
        ram_size=_size_pair(ram_used, sample.ram_total),
        vram=vram,
        vram_size=vram_size,
        rate=rate,
    )


class GaugeStrip(Widget):
    """One line of live figures; the screen's :class:`~tui.screens.base.DeckScreen` feeds it."""

    COMPONENT_CLASSES = {
        "strip--label",
        "gauge--ok",
        "gauge--warn",
        "gauge--high",
        "gauge--empty",
        "strip--dim",
        "strip--rate",
    }
    DEFAULT_CSS = """
    GaugeStrip { height: 1; width: 1fr; padding: 0 1; background: $boost; }
    GaugeStrip > .strip--label { color: $text-muted; }
    GaugeStrip > .gauge--ok { color: $success; }
    GaugeStrip > .gauge--warn { color: $warning; }
    GaugeStrip > .gauge--high { color: $error; }
    GaugeStrip > .gauge--empty { color: $foreground 25%; }
    GaugeStrip > .strip--dim { color: $text-muted; }
    GaugeStrip > .strip--rate { color: $accent; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.figures: StripFigures | None = None
        """What the strip shows now (``None`` before the first sample, or with a note)."""
        self.note = ""
        """Shown instead of figures when there are none to show (a remote host without an
        exporter: never this machine's figures in its place)."""

    def show(self, sample: Sample, tokens_per_second: float | None = None) -> bool:
        """Show a sample's figures; returns whether the line changed (and was repainted)."""
        figures = strip_figures(sample, tokens_per_second)
        if figures == self.figures and not self.note:
            return False
        self.figures, self.note = figures, ""
        self.refresh()
        return True

    def show_note(self, note: str) -> bool:
        """Show ``note`` (dimmed) instead of figures; returns whether the line changed."""
        if self.figures is None and note == self.note:
            return False
        self.figures, self.note = None, note
        self.refresh()
        return True

    def render(self) -> Text:
        return self.line(self.content_region.width or self.size.width)

    def line(self, width: int) -> Text:
        """The richest layout of the current figures that fits ``width`` cells."""
        if self.figures is None:
            note = self.note or "sampling resources…"
            return Text(note, style=self.get_component_rich_style("strip--dim"), no_wrap=True)
        for bar_width, sizes in ((8, True), (5, True), (0, True)):
            text = self._line(self.figures, bar_width, sizes)
            if text.cell_len <= width:
                return text
        return self._line(self.figures, 0, False)

    def _line(self, f: StripFigures, bar_width: int, sizes: bool) -> Text:
        style = self.get_component_rich_style
        label, dim = style("strip--label"), style("strip--dim")
        text = Text(no_wrap=True, overflow="crop", end="")

        def gauge(name: str, percent: int, size: str) -> None:
            text.append(f"{name} ", label)
            if bar_width:
                filled, empty = bar(percent / 100.0, bar_width)
                text.append(filled, style(f"gauge--{level_class(percent)}"))
                text.append(empty, style("gauge--empty"))
                text.append(" ")
            text.append(f"{percent:3d}%")
            if sizes and size:
                text.append(f" {size}", dim)

        gauge("CPU", f.cpu, "")
        text.append(_SEP, dim)
        gauge("RAM", f.ram, f.ram_size)
        text.append(_SEP, dim)
        if f.vram is None:
            text.append("VRAM ", label)
            text.append(f.vram_size or "no GPU", dim)
        else:
            gauge("VRAM", f.vram, f.vram_size)
        text.append(_SEP, dim)
        if f.rate:
            text.append(f.rate, style("strip--rate"))
        else:
            text.append("– tok/s", dim)
        return text
