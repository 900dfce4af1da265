"""Tab completion of a typed path, as a shell does it: the longest common prefix of the matches.

Listing a folder is capped (:data:`MAX_ENTRIES` entries are looked at, at most) so a huge or slow
folder cannot stall the caller, and only folders and regular files are offered: a FIFO, socket or
device is skipped, since opening one could block. Callers run :func:`complete_path` off the UI
thread all the same (a network mount can be slow to list at all).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

MAX_ENTRIES = 2000
"""Folder entries looked at per completion; past these the answer says it is partial."""


@dataclass(frozen=True, slots=True)
class Completion:
    """What Tab gives for a typed path."""

    text: str
    """The completed text (the typed text when there was nothing to add)."""
    candidates: tuple[str, ...] = ()
    """The matching names (folders end with ``/``), sorted, when more than one matches."""
    problem: str = ""
    """Why nothing was completed: no match, or the folder cannot be listed."""
    partial: bool = False
    """The folder has more than :data:`MAX_ENTRIES` entries; only the first were looked at."""


def _kind(entry: os.DirEntry[str]) -> str:
    """``dir``, ``file`` or ``""`` (anything else, or unreadable), without opening the entry."""
    try:
        if entry.is_dir():
            return "dir"
        if entry.is_file():
            return "file"
        if entry.is_symlink():  # a dangling link
            return ""
        # d_type unknown on some file systems: one stat tells.
        mode = entry.stat().st_mode
    except OSError:
        return ""
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else ""


def _common_prefix(names: list[str]) -> str:
    """The longest start all ``names`` share, character by character (not path components)."""
    first, last = min(names), max(names)
    n = 0
    while n < len(first) and n < len(last) and first[n] == last[n]:
        n += 1
    return first[:n]


def complete_path(
    text: str,
    *,
    dirs_only: bool = False,
    suffixes: tuple[str, ...] = (),
    max_entries: int = MAX_ENTRIES,
) -> Completion:
    """Complete ``text`` as a path (``~`` expanded for the lookup, kept in the text).

    Args:
        text: What is typed so far.
        dirs_only: Offer folders only (a model folder is asked for).
        suffixes: Offer only files ending with one of these (``.gguf``) besides folders; empty:
            every regular file.
        max_entries: Entries looked at, at most.
    """
    head, sep, base = text.rpartition("/")
    folder_text = head + sep  # "" (the current folder), "/", "~/models/", …
    folder = os.path.expanduser(folder_text) if folder_text else "."
    if text == "~":  # "~" alone is a folder to enter
        return Completion("~/")
    matches: list[str] = []
    partial = False
    try:
        with os.scandir(folder) as it:
            for seen, entry in enumerate(it):
                if seen >= max_entries:
                    partial = True
                    break
                name = entry.name
                if not name.startswith(base) or (name.startswith(".") and not base.startswith(".")):
                    continue
                kind = _kind(entry)
                if kind == "dir":
                    matches.append(name + "/")
                elif (
                    kind == "file"
                    and not dirs_only
                    and (not suffixes or name.lower().endswith(suffixes))
                ):
                    matches.append(name)
    except OSError as exc:
        return Completion(text, problem=f"{folder} cannot be listed ({exc.strerror or exc})")
    if not matches:
        more = f" (only the first {max_entries} entries were looked at)" if partial else ""
        return Completion(text, problem=f"nothing here starts with {base!r}{more}", partial=partial)
    if len(matches) == 1:
        return Completion(folder_text + matches[0], partial=partial)
    common = _common_prefix(matches)
    return Completion(folder_text + common, tuple(sorted(matches)), partial=partial)
