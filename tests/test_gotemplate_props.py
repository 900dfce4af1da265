"""Property tests of the Go template engine: on any input, parse and execute raise nothing but a
TemplateError; trim markers and plain text behave as Go's text/template defines them.

Go's rules (text/template docs, "Text and spaces"): ``{{- `` trims all trailing white space
(space, tab, carriage return, newline) of the text before the action, `` -}}`` all leading white
space of the text after it; without the markers the text is copied verbatim. The space after
``{{-`` / before ``-}}`` is required: ``{{-3}}`` is the number -3.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.gotemplate import TemplateError, parse

GO_SPACE = " \t\r\n"

PIECES = [
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "{{/*",
    "*/}}",
    " ",
    "\n",
    ".",
    ".Messages",
    ".Role",
    ".Missing",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    "(",
    ")",
    '"',
    "`",
    "'a'",
    "if",
    "else",
    "else if",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "and",
    "or",
    "not",
    "eq",
    "len",
    "index",
    "slice",
    "printf",
    "print",
    "json",
    "nil",
    "true",
    "1",
    "-2",
    "3.5",
    "0x1F",
    "x",
    ",",
    "%d",
    "%s",
    "\\",
    "é",
]

DATA: dict[str, Any] = {
    "Messages": [
        {"Role": "system", "Content": "Be brief."},
        {"Role": "user", "Content": "Hi <there> & [/]"},
    ],
    "System": "sys",
    "Prompt": "p",
    "Response": "",
    "Tools": None,
    "Number": 3,
    "List": [1, 2, 3],
    "Map": {"b": 2, "a": 1},
}

plain = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=30)
space = st.text(alphabet=GO_SPACE, max_size=6)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_any_input_parses_and_runs_or_raises_a_template_error(text: str) -> None:
    try:
        template = parse(text)
    except TemplateError:
        return
    try:
        out = template.execute(DATA)
    except TemplateError:
        return
    assert isinstance(out, str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    try:
        parse(text).execute(DATA)
    except TemplateError:
        pass


@settings(max_examples=300, deadline=None)
@given(plain)
def test_text_without_actions_is_copied_verbatim(text: str) -> None:
    assert parse(text).execute(DATA) == text


@settings(max_examples=300, deadline=None)
@given(plain, space, space, plain)
def test_trim_markers_cut_go_white_space_on_their_side_only(
    before: str, left: str, right: str, after: str
) -> None:
    a, b = before + left, right + after
    assert parse(a + "{{- 7 -}}" + b).execute() == a.rstrip(GO_SPACE) + "7" + b.lstrip(GO_SPACE)
    assert parse(a + "{{- 7 }}" + b).execute() == a.rstrip(GO_SPACE) + "7" + b
    assert parse(a + "{{ 7 -}}" + b).execute() == a + "7" + b.lstrip(GO_SPACE)
    assert parse(a + "{{ 7 }}" + b).execute() == a + "7" + b
    # A comment with trim markers trims both sides and prints nothing.
    assert parse(a + "{{- /* c */ -}}" + b).execute() == a.rstrip(GO_SPACE) + b.lstrip(GO_SPACE)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=10_000))  # -0 prints 0, as in Go
def test_a_minus_without_its_space_is_a_negative_number_not_a_trim(n: int) -> None:
    assert parse(f"a {{{{-{n}}}}} b").execute() == f"a -{n} b"
