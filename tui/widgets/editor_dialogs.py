"""Dialogs of the editor: :class:`ChoiceDialog` with buttons narrow enough for four at 80x24."""

from __future__ import annotations

from tui.widgets.confirm import ChoiceDialog


class CompactChoiceDialog(ChoiceDialog):
    """A :class:`ChoiceDialog` whose buttons fit their labels (four fit in an 80-column terminal)."""

    DEFAULT_CSS = """
    CompactChoiceDialog Button { min-width: 8; margin-right: 1; }
    """
