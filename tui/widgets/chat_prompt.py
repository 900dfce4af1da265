"""The chat prompt: several lines, enter sends, and up/down recall the session's earlier prompts.

A one-line ``Input`` keeps only the first line of a paste; pasting code or logs is the main thing
people do in a chat, so the prompt is a :class:`~textual.widgets.TextArea` that grows with its text
up to a few lines and then scrolls. Enter sends; a new line is ctrl+j, which every terminal can send
(it is the line feed byte), or shift+enter / alt+enter where the terminal reports them.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = frozenset({"ctrl+j", "shift+enter", "alt+enter", "ctrl+enter"})
"""Keys that insert a new line instead of sending."""


def _text_area_bindings_without(keys: set[str]) -> list[BindingType]:
    """Every binding a TextArea has (its bases' too) but those for ``keys``."""
    merged = TextArea._merged_bindings
    assert merged is not None
    return [
        b for key, bindings in merged.key_to_bindings.items() if key not in keys for b in bindings
    ]


class ChatPrompt(TextArea, inherit_bindings=False):
    """A multi-line prompt. Posts :class:`ChatPrompt.Submitted` on enter."""

    DEFAULT_CSS = """
    ChatPrompt {
        height: auto;
        min-height: 3;
        max-height: 8;
    }
    """

    # ctrl+y (redo) and ctrl+u (delete to line start) are the Chat screen's copy and "earlier"
    # keys; redo stays on ctrl+shift+z.
    BINDINGS: ClassVar[list[BindingType]] = [
        *_text_area_bindings_without({"ctrl+y", "super+y", "ctrl+u"}),
        Binding("ctrl+shift+z", "redo", "Redo", show=False),
    ]

    class Submitted(Message):
        """Enter was pressed: ``value`` is the prompt's text."""

        def __init__(self, prompt: ChatPrompt, value: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.value = value

        @property
        def control(self) -> ChatPrompt:
            return self.prompt

    def __init__(
        self, *, placeholder: str = "", id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(
            "",
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder=placeholder,
            id=id,
            classes=classes,
        )
        self.prompts: list[str] = []
        """Earlier prompts of the session, oldest first (up recalls the last)."""
        self._recall: int | None = None
        """Index into :attr:`prompts` of the prompt shown, None while editing a new one."""
        self._draft = ""
        """What was typed before up went back through the history."""

    # ------------------------------------------------------------------ the text

    @property
    def value(self) -> str:
        """The prompt's text (setting it puts the cursor at its end)."""
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    @property
    def line_count(self) -> int:
        return self.document.line_count

    def clear_prompt(self) -> None:
        """Empty the prompt and leave the history walk."""
        self._recall = None
        self._draft = ""
        self.value = ""

    # ------------------------------------------------------------------ keys

    async def _on_key(self, event: events.Key) -> None:
        if self.read_only:
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        await super()._on_key(event)

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.prompts and self._on_first_row():
            self._recall_step(-1)
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if not select and self._recall is not None and self._on_last_row():
            self._recall_step(1)
            return
        super().action_cursor_down(select)

    def _on_first_row(self) -> bool:
        return self.navigator.is_first_wrapped_line(self.cursor_location)

    def _on_last_row(self) -> bool:
        return self.navigator.is_last_wrapped_line(self.cursor_location)

    def _recall_step(self, step: int) -> None:
        """Show the prompt ``step`` away in the history (past the newest: the draft again)."""
        if self._recall is None:
            if step > 0:
                return
            self._draft = self.text
            index = len(self.prompts) - 1
        else:
            index = self._recall + step
        if index < 0:
            return  # already at the oldest
        if index >= len(self.prompts):
            self._recall = None
            self.value = self._draft
            return
        self._recall = index
        self.value = self.prompts[index]
        if step < 0:
            # Going back: the cursor on the first line, so up goes on back at once.
            self.move_cursor((0, len(self.document[0])))
