"""What a chat is made of (sessions, messages) and what the chat core needs from a store.

The records are plain values; :class:`ChatRecords` is the blocking interface a store offers
(:class:`tui.store.chats.ChatStore` is the one on disk). The core never imports :mod:`tui.store`:
the controller opens the store and hands the opener to :class:`~tui.core.chat.session.ChatSession`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

STATUSES = ("complete", "streaming", "stopped", "interrupted", "error")

CAUSES = ("read-only", "corrupt", "locked", "full", "newer", "other")
"""Why a store could not be used, as :attr:`StoreError.cause` says it."""


class StoreError(Exception):
    """A store could not be opened, read or written; the message says why and where.

    Defined here, not in :mod:`tui.store`, so the headless chat core can tell a failing store from
    a bug without importing the store.
    """

    def __init__(self, message: str, *, cause: str = "other", path: Path | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        """One of :data:`CAUSES`."""
        self.path = path
        """The database file, when known."""


@dataclass(slots=True)
class Session:
    """A conversation's settings. ``id`` is the store's; below 1 while it is not stored yet."""

    id: int
    title: str
    backend: str
    model: str
    system_prompt: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def stored(self) -> bool:
        return self.id > 0


@dataclass(slots=True)
class StoredMessage:
    """One message; ``id`` is 0 until the store has it."""

    id: int
    session_id: int
    role: str
    content: str
    thinking: str = ""
    status: str = "complete"
    stats: dict[str, Any] = field(default_factory=dict)
    backend: str = ""
    model: str = ""
    created_at: float = 0.0


class ReplySink(Protocol):
    """Where a streaming reply is written (blocking calls, run in a thread)."""

    def append_partial(self, message_id: int, content: str, thinking: str = "") -> None:
        """Add text that arrived since the last call to a streaming reply (its cost is that of
        the new text, however long the reply already is)."""
        ...

    def finish_message(
        self,
        message_id: int,
        content: str,
        thinking: str,
        status: str,
        stats: dict[str, Any] | None = None,
    ) -> None: ...


class ChatRecords(ReplySink, Protocol):
    """The chat history a :class:`~tui.core.chat.session.ChatSession` keeps; every call blocks
    and raises :class:`StoreError` when the store cannot be read or written."""

    @property
    def path(self) -> Path:
        """The file the history is kept in (named in messages)."""
        ...

    def sessions(self) -> list[Session]:
        """Every session, the latest first."""
        ...

    def recent_messages(self, session_id: int, limit: int) -> tuple[list[StoredMessage], int]:
        """The last ``limit`` messages of a session, in order, and how many come before them."""
        ...

    def messages_before(
        self, session_id: int, before_id: int, limit: int
    ) -> tuple[list[StoredMessage], int]:
        """The ``limit`` messages before message ``before_id``, in order, and how many come
        before those."""
        ...

    def messages(self, session_id: int) -> list[StoredMessage]:
        """Every message of a session, in order."""
        ...

    def write_turn(
        self,
        session: Session,
        add: Sequence[StoredMessage],
        delete: Sequence[int] = (),
        *,
        rewrite: Sequence[StoredMessage] = (),
        update_session: bool = False,
    ) -> None:
        """In one transaction: store ``session`` if it is not stored yet (else update it when
        ``update_session``), delete the messages ``delete``, rewrite the text, status and stats of
        the stored messages ``rewrite`` and insert ``add``. Ids are set on ``session`` and ``add``
        only once it has committed."""
        ...

    def update_session(self, session: Session) -> None: ...

    def close(self) -> None: ...
