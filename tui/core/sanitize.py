"""Make untrusted text (model output, server error bodies) inert before it reaches a terminal.

Terminal control sequences in model output could set the window title, write to the clipboard
(OSC 52), clear the screen or reorder text (bidi overrides). Every C0 control except newline and
tab, DEL, every C1 control and the bidi override/isolate characters are replaced with a visible
escape such as ``\\x1b`` so the user still sees that something was there.
"""

from __future__ import annotations

import re

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\x80-\x9f" + _BIDI + "]",
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def sanitize(text: str) -> str:
    """Return ``text`` with every unsafe control character replaced by a visible escape."""
    if _UNSAFE.search(text) is None:  # the common case costs one scan, no copy
        return text
    return _UNSAFE.sub(_visible, text)


def is_safe(text: str) -> bool:
    """True when ``text`` holds no character :func:`sanitize` would replace."""
    return _UNSAFE.search(text) is None
