"""The conversation sent to a model, and a session's title."""

from __future__ import annotations

from collections.abc import Sequence

from tui.backends.base import ChatMessage
from tui.core.chat.records import Session, StoredMessage
from tui.core.sanitize import sanitize


def history(session: Session, messages: Sequence[StoredMessage]) -> list[ChatMessage]:
    """The conversation to send: system prompt, then every user and non-empty assistant turn."""
    out: list[ChatMessage] = []
    if session.system_prompt.strip():
        out.append(ChatMessage("system", session.system_prompt))
    for m in messages:
        if m.role == "user" or (m.role == "assistant" and m.content and m.status != "error"):
            out.append(ChatMessage(m.role, m.content))
    return out


def session_title(prompt: str, limit: int = 40) -> str:
    """A one-line title from the first prompt."""
    line = " ".join(sanitize(prompt).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
