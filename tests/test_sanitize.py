"""Untrusted text is made inert: no control sequence survives to reach the terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tui.core.sanitize import is_safe, sanitize

ATTACKS = [
    "\x1b]52;c;aGVsbG8=\x07",  # OSC 52: write the clipboard
    "\x1b[2J",  # clear the screen
    "\x1b]0;title\x07",  # set the window title
    "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x9b31m",  # C1 CSI
    "\x07",  # BEL
    "abc\u202edcba",  # bidi override
]


def test_plain_text_unchanged_and_not_copied() -> None:
    text = "The capital of France is Paris.\n\tcode | table | ünïcødé 🚀"
    assert sanitize(text) is text


def test_attacks_are_escaped_visibly() -> None:
    for attack in ATTACKS:
        out = sanitize(attack)
        assert is_safe(out)
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert sanitize("\x1b[2J") == "\\x1b[2J"
    assert sanitize("a\u202eb") == "a\\u202eb"


@given(st.text())
def test_output_is_always_safe(text: str) -> None:
    out = sanitize(text)
    assert is_safe(out)
    # newlines and tabs are kept, so the layout of the text survives
    assert out.count("\n") == text.count("\n")
