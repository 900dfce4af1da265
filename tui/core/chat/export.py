"""A chat session as Markdown and JSON documents (the writing is the caller's: see
:meth:`tui.core.chat.session.ChatSession.export`)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from tui.core.chat.records import Session, StoredMessage
from tui.core.chat.stats import format_stats


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def export_markdown(session: Session, messages: Sequence[StoredMessage]) -> str:
    """The session as a Markdown document."""
    lines = [f"# {session.title or 'Chat'}", ""]
    lines.append(f"- model: `{session.model}` ({session.backend})")
    lines.append(f"- created: {_stamp(session.created_at)}")
    opts = {k: v for k, v in session.options.items() if v is not None}
    if opts:
        lines.append("- parameters: " + ", ".join(f"{k}={v}" for k, v in opts.items()))
    lines.append("")
    systems = turn_system_prompts(session, messages)
    shown: str | None = None
    for m, system in zip(messages, systems, strict=True):
        if system != shown and (system or shown is not None):
            # The system prompt the next turn was answered under, where it changed.
            title = "System" if shown is None else "System (changed)"
            lines += [f"## {title}", "", system or "*(none)*", ""]
        shown = system
        title = "User" if m.role == "user" else f"Assistant ({m.model or session.model})"
        lines += [f"## {title}", ""]
        if m.thinking:
            lines += ["<details><summary>Thinking</summary>", "", m.thinking, "", "</details>", ""]
        lines += [m.content, ""]
        if m.role == "assistant":
            footer = format_stats(m.stats, m.status)
            if footer:
                lines += [f"*{footer}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def turn_system_prompts(session: Session, messages: Sequence[StoredMessage]) -> list[str]:
    """The system prompt each message was sent or answered under: a reply keeps the one it had
    (in its stats); a prompt has its reply's; what says nothing (older rows, a reply cut by a
    crash) has the one after it, or the session's current one."""
    out: list[str | None] = []
    for m in messages:
        said = m.stats.get("system_prompt") if m.role == "assistant" else None
        out.append(said if isinstance(said, str) else None)
    filled: list[str] = []
    later = session.system_prompt
    for said in reversed(out):
        if said is not None:
            later = said
        filled.append(later)
    return filled[::-1]


def export_json(session: Session, messages: Sequence[StoredMessage]) -> str:
    """The session as JSON: its settings and every message with status and stats."""
    doc = {
        "format": "slmdeck-chat",
        "version": 1,
        "session": {
            "id": session.id,
            "title": session.title,
            "backend": session.backend,
            "model": session.model,
            "system_prompt": session.system_prompt,
            "options": session.options,
            "created_at": session.created_at,
            "updated_at": session.updated_at,
        },
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "thinking": m.thinking,
                "status": m.status,
                "stats": {k: v for k, v in m.stats.items() if k != "system_prompt"},
                "system_prompt": system,
                "backend": m.backend,
                "model": m.model,
                "created_at": m.created_at,
            }
            for m, system in zip(messages, turn_system_prompts(session, messages), strict=True)
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def export_basename(session: Session) -> str:
    """``session-<id>-<slug of the title>`` (``session-new-…`` for one not stored yet)."""
    slug = re.sub(r"[^a-z0-9]+", "-", session.title.lower()).strip("-")[:40] or "chat"
    number = str(session.id) if session.stored else "new"
    return f"session-{number}-{slug}"


def export_documents(session: Session, messages: Sequence[StoredMessage]) -> list[tuple[str, str]]:
    """The files an export writes: (file name, text) for the Markdown and the JSON."""
    base = export_basename(session)
    return [
        (f"{base}.md", export_markdown(session, messages)),
        (f"{base}.json", export_json(session, messages)),
    ]
