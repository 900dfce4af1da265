"""Checks of a Modelfile that Ollama's server makes, not its parser: TEMPLATE and FROM.

Used by :func:`tui.core.modelfile_validate.validate` (so ``slmdeck check`` and the editor agree):

- a TEMPLATE that Go's ``text/template`` would not parse is an error (``ollama create`` answers
  ``template: :1: unexpected EOF``), at its line and column in the Modelfile; one that parses but
  names a field Ollama never passes (``.First``) is a warning (see
  :func:`tui.core.ollama_prompt.check_template`);
- a FROM that is not written as a path is sent as a model name, and names are checked as Ollama
  checks them (:mod:`tui.core.ollama_name`);
- after a parse error that the scanner cannot recover from (a keyword glued to its quoted value,
  ``SYSTEM\"\"\"``: the prose that follows would be read as instructions), nothing more is
  reported: Ollama stops at its first error.

Pure Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tui.core.diagnostics import Diagnostic, LineIndex
from tui.core.modelfile_syntax import Instruction, Node, Unparsed, _kept

_WS = " \t\r\n"


def _template_offsets(text: str, inst: Instruction) -> list[int]:
    """Document offset of each character of the TEMPLATE's value (and one past the end)."""
    kept = [i for i in range(inst.value_start, inst.end) if _kept(text[i])]
    lead = 0
    while lead < len(kept) and text[kept[lead]] in _WS:
        lead += 1
    value = inst.value or ""
    first = lead + len(inst.quote)
    offsets = kept[first : first + len(value)]
    end = offsets[-1] + 1 if offsets else (kept[first] if first < len(kept) else inst.end)
    return [*offsets, end]


def template_diagnostics(text: str, inst: Instruction, index: LineIndex) -> list[Diagnostic]:
    """Ollama's problems with a TEMPLATE instruction, at their place in the Modelfile."""
    from tui.core.ollama_prompt import check_template

    value = inst.value or ""
    found = check_template(value)
    if not found:
        return []
    offsets = _template_offsets(text, inst)
    starts = [0]
    for i, c in enumerate(value):
        if c == "\n":
            starts.append(i + 1)
    out = []
    for d in found:
        line = min(max(d.line, 1), len(starts))
        pos = min(starts[line - 1] + max(d.col, 1) - 1, len(value))
        at = offsets[min(pos, len(offsets) - 1)]
        message = d.message
        if d.code == "template-syntax":
            message = f"TEMPLATE does not parse, so ollama create fails: {d.message}"
        out.append(index.diagnostic(at, None, d.severity, message, d.code))
    return out


def from_diagnostics(text: str, inst: Instruction, index: LineIndex) -> list[Diagnostic]:
    """An invalid model name in FROM (when it is not written as a path)."""
    from tui.core.ollama_name import looks_like_path, name_problem

    value = (inst.value or "").strip()
    if not value or looks_like_path(value):
        return []  # a path: Ollama reads the file (whether it exists is known only there)
    problem = name_problem(value)
    if problem is None:
        return []
    start = inst.value_start
    while start < inst.end and text[start] in " \t":
        start += 1
    return [
        index.diagnostic(
            start,
            inst.end,
            "error",
            f"invalid model name: {problem}. FROM names a model (like llama3.2:1b) or a file "
            "(write a path as ./file.gguf)",
            "invalid-model-name",
        )
    ]


def fatal_offset(nodes: Sequence[Node]) -> int | None:
    """Offset of the first parse error the scanner cannot recover from, or None.

    A line rejected before its value (:class:`Unparsed`) that holds a quote may open a value
    that runs over the following lines (``SYSTEM\"\"\"`` with no space): what follows cannot be
    told from instructions, and Ollama has stopped there anyway.
    """
    for node in nodes:
        if isinstance(node, Unparsed) and '"' in node.text:
            return node.start
    return None


def stop_at(
    diagnostics: Iterable[Diagnostic], cutoff: int | None, index: LineIndex
) -> list[Diagnostic]:
    """Drop what comes after ``cutoff`` (and the no-FROM error Ollama would not reach)."""
    diags = list(diagnostics)
    if cutoff is None:
        return diags
    line, col = index.position(cutoff)
    return [d for d in diags if (d.line, d.col) <= (line, col) and d.code != "missing-from"]
