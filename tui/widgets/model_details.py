"""The details pane of the Models screen: what ``show`` says about the highlighted model.

Ollama: parameters, template, license, capabilities, context length. ONNX: the genai_config
search settings, precision and files. Every string from a backend is sanitized before drawing.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.core.sanitize import sanitize
from tui.core.text import params_label, plural
from tui.monitor.fmt import format_bytes
from tui.types import ModelDetails, RunningModel

_TEMPLATE_LINES = 6


def _value(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(repr(x) if isinstance(x, str) else str(x) for x in v)
    return str(v)


def _first_lines(text: str, n: int) -> str:
    lines = text.strip("\n").splitlines()
    more = f"\n… {plural(len(lines) - n, 'more line')}" if len(lines) > n else ""
    return "\n".join(lines[:n]) + more


def details_text(d: ModelDetails, loaded: RunningModel | None = None) -> Text:
    """The pane's text for ``d`` (and its ``ps`` entry when loaded)."""
    out = Text()
    i = d.info
    out.append(sanitize(i.name), style="bold")
    out.append(f"  {i.backend}", style="dim")
    if i.path:
        out.append(f"  {sanitize(i.path)}", style="dim")
    out.append("\n")
    facts = []
    if i.family:
        facts.append(sanitize(i.family))
    if d.context_length:
        facts.append(f"context {d.context_length:,}")
    precision = d.extra.get("precision") if d.extra else None
    if precision:
        facts.append(f"precision {sanitize(str(precision))}")
    elif i.quantization:
        facts.append(f"quant {sanitize(i.quantization)}")
    if i.parameter_size:
        facts.append(f"{sanitize(params_label(i.parameter_size))} params")
    if i.modified is not None:
        facts.append(f"modified {i.modified.astimezone().strftime('%Y-%m-%d %H:%M')}")
    if d.capabilities:
        facts.append("can: " + ", ".join(sanitize(c) for c in d.capabilities))
    out.append(" · ".join(facts) + "\n")
    if loaded is not None:
        where = ""
        if loaded.size:
            share = round(100 * loaded.size_vram / loaded.size) if loaded.size_vram else 0
            where = f" using {format_bytes(loaded.size)} ({share}% in GPU memory)"
        out.append(f"Loaded{where}", style="green")
        if loaded.expires_at is not None:
            out.append(f", unloads at {loaded.expires_at.astimezone().strftime('%H:%M:%S')}")
        if loaded.context_length:
            out.append(f", context {loaded.context_length:,}")
        out.append("\n")
    if d.parameters:
        label = "Search settings" if d.files else "Parameters"
        out.append(f"{label}: ", style="bold")
        out.append(
            "; ".join(f"{sanitize(k)} {sanitize(_value(v))}" for k, v in d.parameters.items())
            + "\n"
        )
    if d.files:
        out.append("Files: ", style="bold")
        out.append(", ".join(f"{sanitize(n)} ({format_bytes(s)})" for n, s in d.files) + "\n")
    if d.system:
        out.append("System: ", style="bold")
        out.append(sanitize(_first_lines(d.system, 2)) + "\n")
    if d.template:
        out.append("Template:\n", style="bold")
        out.append(sanitize(_first_lines(d.template, _TEMPLATE_LINES)) + "\n", style="dim")
    if d.license:
        out.append("License: ", style="bold")
        out.append(sanitize(d.license.strip().splitlines()[0]) + "\n")
    return out


class ModelDetailsPane(VerticalScroll):
    """A scrollable pane holding :func:`details_text` (or a message while loading / on error)."""

    DEFAULT_CSS = """
    ModelDetailsPane { height: 9; border: round $panel; padding: 0 1; }
    ModelDetailsPane > Static { width: 1fr; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="details-body", markup=False)

    def show_text(self, text: Text | str) -> None:
        self.query_one("#details-body", Static).update(text)
        self.scroll_home(animate=False)

    def show_details(self, details: ModelDetails, loaded: RunningModel | None = None) -> None:
        self.show_text(details_text(details, loaded))
