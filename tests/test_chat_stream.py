"""The streaming reply body: every appended word is shown, segments are cut between blocks, the
height changes a few times per reply (not per write), and a write repaints only what changed."""

from __future__ import annotations

from rich.console import Console
from textual.app import App, ComposeResult
from textual.geometry import Region

from tests.ollama_replay import markdown_reply, tokenize
from tui.core.chat.markdown import split_segments
from tui.widgets.chat_stream import StreamingBody, rich_markdown

WIDTH = 60


class Recording(StreamingBody):
    """Keeps the regions of every repaint it asks for (None: the whole widget)."""

    def __init__(self, **kwargs: int) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.repaints: list[tuple[Region, ...] | None] = []

    def refresh(self, *regions: Region, **kwargs: bool) -> Recording:
        self.repaints.append(regions or None)
        return super().refresh(*regions, **kwargs)  # type: ignore[return-value]


class BodyApp(App[None]):
    CSS = f"Screen {{ layout: vertical; }} StreamingBody {{ width: {WIDTH}; }}"

    def __init__(self, body: StreamingBody) -> None:
        super().__init__()
        self.body = body

    def compose(self) -> ComposeResult:
        yield self.body


def rich_lines(markdown: str) -> list[str]:
    console = Console(width=WIDTH, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    with console.capture() as capture:
        console.print(rich_markdown(markdown))
    return [line.rstrip() for line in capture.get().splitlines()]


def shown(body: StreamingBody) -> list[str]:
    return [body.render_line(y).text.rstrip() for y in range(body.text_lines)]


async def test_every_piece_is_shown_in_segments_cut_between_blocks() -> None:
    reply = markdown_reply(1500)
    body = StreamingBody(segment_chars=1500, reserve=40)
    async with BodyApp(body).run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        heights = {body.reserved}
        for token in tokenize(reply):
            body.append(token)
            heights.add(body.reserved)
            assert body.reserved > body.text_lines  # the text never reaches the widget's end
        assert body.source == reply
        assert len(body.frozen) >= 2
        # Cut exactly where a stored reply is cut when loaded, never inside a code fence.
        assert [*body.frozen, body.segment] == split_segments(reply, 1500)
        # What is drawn is Rich's rendering of each segment, a blank line between them.
        expected: list[str] = []
        for segment in body.frozen:
            expected += [*rich_lines(segment), ""]
        expected += rich_lines(body.segment)
        assert shown(body) == expected
        # The height (a layout, and a repaint of the whole visible reply) changed a few times
        # in about 500 lines of text, not once per write.
        assert body.text_lines > 300
        assert len(heights) <= 5
        assert body.styles.height is not None and body.styles.height.value == body.reserved


async def test_a_write_repaints_only_the_lines_that_changed() -> None:
    body = Recording(segment_chars=1500)
    async with BodyApp(body).run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        body.append("A first paragraph that is long enough to wrap onto a second line here.\n\n")
        body.append("Second paragraph")
        before = body.text_lines
        body.repaints.clear()
        body.append(" grows by a few words")
        assert body.text_lines == before
        (regions,) = body.repaints
        assert regions is not None
        (region,) = regions
        # Only the last line, where the words went; the paragraph above is left alone.
        assert (region.y, region.height) == (before - 1, 1)
        assert shown(body)[-1] == "Second paragraph grows by a few words"


async def test_a_narrower_widget_renders_again_at_its_width() -> None:
    reply = markdown_reply(400)
    body = StreamingBody(segment_chars=300)
    app = BodyApp(body)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        body.append(reply)
        wide = body.text_lines
        body.styles.width = 40
        await pilot.pause()
        assert body.text_lines > wide
        assert all(len(line) <= 40 for line in shown(body))
        assert body.reserved > body.text_lines


def test_reply_text_joins_once_and_gives_what_is_new() -> None:
    from tui.core.chat.text import BLOCK_CHARS, ReplyText

    text = ReplyText()
    pieces = [f"w{i} " for i in range(BLOCK_CHARS // 2)]
    for piece in pieces:
        text.append(piece)
    whole = "".join(pieces)
    assert len(text) == len(whole) and text.text() == whole
    assert text.text() is text.text()  # joined once, kept
    assert text.since(len(whole) - 7) == whole[-7:] and text.since(len(whole)) == ""
    text.append("end")
    assert text.since(len(whole)) == "end" and text.tail(5) == whole[-2:] + "end"


def test_open_fence_says_which_fence_the_text_ends_inside() -> None:
    from tui.core.chat.markdown import open_fence

    assert open_fence("a\n```py\nx\n```\n") == ""
    assert open_fence("a\n```py\nx\n") == "```py\n"
    assert open_fence("~~~~\n```\nstill code\n") == "~~~~\n"
    assert open_fence("``` not `a fence`\n") == ""


async def test_a_huge_reply_keeps_only_its_end_drawn() -> None:
    reply = markdown_reply(1500)
    body = StreamingBody(segment_chars=500, window_chars=4000, reserve=40)
    async with BodyApp(body).run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        total = ""
        for _ in range(6):
            for token in tokenize(reply):
                body.append(token)
                total += token
                assert len(body.source) <= 4000 + 4 * 500
        assert body.total == len(total) and body.hidden > 0
        assert total.endswith(body.source) and body.hidden + len(body.source) == len(total)
        assert "above not shown (ctrl+o exports it whole)" in body.render_line(0).text
        # A write of more than the window at once renders only its end.
        body.append(reply * 5)
        assert len(body.source) <= 4000 and (total + reply * 5).endswith(body.source)
        # No block boundary at all (one long line): cut anyway, nothing grows without bound.
        body.append("x" * 20_000)
        assert len(body.segment) <= 4 * 500 and len(body.source) <= 4000 + 4 * 500
