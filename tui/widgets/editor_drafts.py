"""The editor's draft keeper: which text is saved, which is drafted, and the writes to the store.

The Editor screen asks it and shows what it answers; it holds no widget and imports no Textual.
A draft is the text of a document that differs from what its source holds: it is autosaved every
few seconds while it differs, discarded once the document is saved (or created), and offered back
at the next start when the app ended without saving. Store failures come back as sentences (the
screen shows them); a failed draft write never loses the text in the editor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.types import StoreError

if TYPE_CHECKING:
    from tui.types import DraftBook
    from tui.widgets.editor_doc import EditorDoc


class DraftKeeper:
    """Drafts of the document shown in the editor (the store is the controller's)."""

    def __init__(self) -> None:
        self.book: DraftBook | None = None
        """The drafts store (``None`` until it is open, or when it cannot be)."""
        self.saved_text = ""
        """The text as last loaded from or saved to its source; other text is unsaved."""
        self.draft_text = ""
        """The text as last written as a draft (or loaded)."""
        self.written = False
        """Whether a draft of the current document is in the store."""

    def loaded(self, text: str, *, saved: bool) -> None:
        """A document was loaded; ``saved``: ``text`` is what its source holds now."""
        self.saved_text = text if saved else ""
        self.draft_text = text
        self.written = False

    def saved(self, text: str) -> None:
        """``text`` is now what the document's source holds."""
        self.saved_text = text
        self.draft_text = text

    def is_dirty(self, text: str) -> bool:
        """Whether ``text`` differs from what was loaded or last saved."""
        return text != self.saved_text

    def needs_keeping(self, text: str) -> bool:
        """Whether ``text`` holds unsaved edits worth a draft (before another document opens)."""
        return self.book is not None and bool(text.strip()) and text != self.saved_text

    async def write(self, doc: EditorDoc, text: str) -> str | None:
        """Store ``text`` as the draft of ``doc``; a sentence when it failed, else None."""
        if self.book is None:
            return None
        try:
            await self.book.save(doc.key, doc.kind, text, doc.origin())
        except StoreError as exc:
            return f"Draft not saved: {exc}"
        self.written = True
        return None

    async def keep(self, doc: EditorDoc, text: str) -> str | None:
        """Make sure the unsaved ``text`` of ``doc`` is stored (written only if it changed)."""
        if text != self.draft_text or not self.written:
            return await self.write(doc, text)
        return None

    async def discard(self, *keys: str) -> str | None:
        """Remove the drafts of ``keys``; a sentence when it failed, else None."""
        if self.book is None:
            return None
        try:
            for key in dict.fromkeys(keys):
                await self.book.discard(key)
        except StoreError as exc:
            return f"Could not remove the draft: {exc}"
        return None

    def autosave_due(self, text: str) -> bool:
        """Whether the autosave has something to do for ``text``."""
        return self.book is not None and text != self.draft_text

    async def autosave(self, doc: EditorDoc, text: str) -> str | None:
        """Write ``text`` as the draft, or remove the draft when it is saved text (or empty)."""
        self.draft_text = text
        if text == self.saved_text or not text.strip():
            if self.written:
                problem = await self.discard(doc.key)
                self.written = False
                return problem
            return None
        return await self.write(doc, text)

    async def on_close(self, doc: EditorDoc, text: str) -> None:
        """Keep what the last autosave missed (the screen is going); errors are dropped."""
        if self.book is not None and text != self.draft_text and text != self.saved_text:
            await self.write(doc, text)
        self.book = None
