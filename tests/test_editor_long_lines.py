"""A line of a megabyte in the editor (issue 15 item 9): the scanner reads it in runs, not a
character at a time, and ends values where Ollama's loop ends them; the text area draws only the
part in view, the same cells TextArea itself draws, and matches brackets as TextArea does."""

from __future__ import annotations

import random
from typing import Any

from rich.style import Style
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widgets import TextArea

from tui.core.diagnostics import Diagnostic
from tui.core.modelfile_syntax import _WS, _is_print, _kept, _scan_value, _unquote, scan
from tui.widgets.editor_area import EditorArea

# ------------------------------------------------------------------------------------ scanner


def test_str_isprintable_is_gos_isprint_for_every_code_point() -> None:
    # The scanner keeps runs of characters that str.isprintable() accepts without looking at
    # each one: that is sound only if it agrees with Go's IsPrint (as _is_print has it) always.
    is_print = _is_print.__wrapped__
    assert [hex(o) for o in range(0x110000) if chr(o).isprintable() != is_print(chr(o))] == []


def ollama_scan_value(text: str, i: int) -> tuple[int, str | None]:
    """Ollama's value loop as written in parser.go: one character at a time."""
    buf: list[str] = []
    while i < len(text):
        c = text[i]
        if c in "\r\n":
            if _unquote("".join(buf).strip(_WS))[1]:
                break
            buf.append(c)
        elif _kept(c):
            buf.append(c)
        i += 1
    value, ok = _unquote("".join(buf).strip(_WS))
    return i, value if ok else None


PIECES = ['"', '"""', " ", "\t", "\n", "\r", "\r\n", "#", "x", "é", "日", "\x00", "\x7f"]
PIECES += ["\u200b", "\u00a0", "\u2028", "\ufeff", "\udcff", "FROM ", "SYSTEM ", "{{ .x }}"]


def test_values_end_where_ollamas_loop_ends_them() -> None:
    rnd = random.Random(15)
    texts = ['"""a\n b """ \nFROM x', '"a\n\n"\n', '""\u200b"\n"""\n', '"x\né"\n"\n']
    texts += ["".join(rnd.choices(PIECES, k=rnd.randint(0, 30))) for _ in range(4000)]
    for text in texts:
        for body in (text, '"' + text, '"""' + text):
            end, value, _quote = _scan_value(body, 0)
            assert (end, value) == ollama_scan_value(body, 0), repr(body)


def test_a_1mb_value_is_one_node_with_its_text() -> None:
    big = "FROM llama3.2\nSYSTEM " + "x" * 1_000_000 + "\n"
    nodes = [n for n in scan(big).nodes if hasattr(n, "value")]
    assert [(n.keyword, len(n.value or "")) for n in nodes] == [  # type: ignore[union-attr]
        ("FROM", len("llama3.2")),
        ("SYSTEM", 1_000_000),
    ]


# -------------------------------------------------------------------------------- drawing


class OneEditor(App[None]):
    def compose(self) -> ComposeResult:
        yield EditorArea()


def cells(strip: Strip, width: int) -> list[tuple[str, Style | None]]:
    return [(c, seg.style) for seg in strip.crop(0, width) for c in seg.text]


LONG = "SYSTEM (" + "abcdefghij" * 2_000 + "[x]yz)"
TEXT = f"FROM llama3.2\n{LONG}\n\tTAB\n日本語 wide\n\nPARAMETER num_ctx 4096\n"
N = len(LONG)
STATES: list[tuple[tuple[int, int], tuple[int, int] | None]] = [
    ((0, 0), None),
    ((1, 7), None),  # on the bracket whose partner is 20,000 characters on
    ((1, N // 2), None),
    ((1, N - 1), None),
    ((1, N), None),
    ((1, N // 2), (1, 10)),  # a selection within the long line
    ((2, 1), (0, 2)),  # and one over three lines, upwards
    ((5, 3), (1, N - 10)),  # from the long line's end over an empty line
]


async def test_rows_of_a_long_line_are_drawn_from_the_view_as_textarea_draws_them() -> None:
    app = OneEditor()
    async with app.run_test(size=(70, 20)) as pilot:
        editor = app.query_one(EditorArea)
        editor.load_text("FROM llama3.2\nSYSTEM short\n")
        await pilot.pause()
        assert not editor.windowed  # normal text: TextArea's own rows, wrapped
        editor.soft_wrap = False
        editor.load_text(TEXT)
        editor.set_diagnostics(
            [
                Diagnostic(2, 3, "error", "e", "c", 2, 9_000),
                Diagnostic(2, N - 2, "warning", "w", "c"),
                Diagnostic(1, 1, "info", "i", "c"),
            ]
        )
        await pilot.pause()
        assert editor.windowed
        compared = 0
        for focused in (True, False):
            for cursor, anchor in STATES:
                editor.focus() if focused else app.set_focus(None)
                if anchor is not None:
                    editor.move_cursor(anchor)
                editor.move_cursor(cursor, select=anchor is not None)
                await pilot.pause()
                for scroll_x in (None, 0, N - 30, N + 50):
                    if scroll_x is not None:
                        editor.scroll_to(x=scroll_x, animate=False, immediate=True)
                    compared += _compare_rows(editor)
        assert compared == 2 * len(STATES) * 4 * editor.size.height


def _compare_rows(editor: Any) -> int:
    width = editor.scrollable_content_region.width
    for y in range(editor.size.height):
        editor.notify_style_update()
        mine = editor.render_line(y)
        editor.notify_style_update()
        theirs = editor._marked(TextArea.render_line(editor, y))
        assert mine.cell_length <= editor.size.width  # never as wide as the long line
        assert cells(mine, width) == cells(theirs, width), (editor.selection, y)
    return int(editor.size.height)


async def test_brackets_match_as_textarea_matches_them() -> None:
    rnd = random.Random(9)
    app = OneEditor()
    async with app.run_test(size=(70, 20)):
        editor = app.query_one(EditorArea)
        for _ in range(60):
            editor.load_text("".join(rnd.choices("()[]{}x\n", k=rnd.randint(0, 40))))
            for row, line in enumerate(editor.document.lines):
                for column in range(len(line) + 1):
                    char = line[column] if column < len(line) else ""
                    at = (row, column)
                    mine = editor.find_matching_bracket(char, at)
                    assert mine == TextArea.find_matching_bracket(editor, char, at), (line, at)
