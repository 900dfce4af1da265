"""Chat Markdown as the user reads it (Pilot, against the Ollama replay): inline HTML is shown as
text and a link keeps its URL visible, while the reply streams and once it is complete."""

from __future__ import annotations

import threading

from textual.widgets import Markdown

from tests.chatpilot import ready, send
from tests.conftest import REACHABLE
from tests.ollama_replay import start_replay_server, tokenize
from tests.waiting import until
from tui.app import make_app
from tui.backends.ollama import OllamaBackend
from tui.config import Config
from tui.controller import Controller
from tui.widgets.chat_message import MessageView
from tui.widgets.chat_stream import StreamingBody, rich_markdown

FIRST = "Wrap it in a <div> and make it generic over <T>. Read [the guide](https://example.org/guide).\n\n"
REST = "Then <b>nothing</b> is lost, and <https://example.org/raw> shows once."
URL = "the guide (https://example.org/guide)"


def lines_of(widget: StreamingBody) -> str:
    return "\n".join(widget.render_line(y).text for y in range(widget.text_lines))


def markdown_text(body: Markdown) -> str:
    return "\n".join(str(block.render()) for block in body.children)


async def test_inline_html_and_link_urls_stay_visible_streaming_and_complete() -> None:
    with start_replay_server(reply=FIRST + REST) as server:
        gate = server.state.token_gate = threading.Semaphore(0)
        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
        )
        app = make_app(
            Config(),
            controller=controller,
            start_screen="chat",
            screen_options={"model": "qwen2.5:0.5b"},
        )
        async with app.run_test(size=(120, 30)) as pilot:
            screen = await ready(pilot)
            screen.prompt.value = "generics?"
            await pilot.press("enter")
            gate.release(len(tokenize(FIRST)))
            await until(
                pilot,
                lambda: (
                    screen._view is not None
                    and screen._view.stream_body is not None
                    and "guide" in lines_of(screen._view.stream_body)
                ),
                "the first paragraph drawn while streaming",
            )
            assert screen._view is not None and screen._view.stream_body is not None
            streaming = lines_of(screen._view.stream_body)
            assert "<div>" in streaming and "<T>" in streaming and URL in streaming
            gate.release(10_000)
            assert screen._turn_worker is not None
            await screen._turn_worker.wait()
            await pilot.pause()
            reply = list(screen.query(MessageView))[-1]
            assert reply.status == "complete"
            shown = markdown_text(reply.query_one(".msg-body", Markdown))
            assert "<div>" in shown and "<T>" in shown and URL in shown
            assert "<b>nothing</b>" in shown
            assert shown.count("https://example.org/raw") == 1  # an autolink is not doubled


def test_rich_renderer_of_frozen_segments_agrees() -> None:
    from rich.console import Console

    console = Console(width=200, color_system=None, record=True)
    console.print(rich_markdown(FIRST + REST))
    text = " ".join(console.export_text().split())
    assert "<div>" in text and "<T>" in text and URL in text and "<b>nothing</b>" in text
    assert text.count("https://example.org/raw") == 1


async def test_a_reply_cut_by_max_tokens_says_so() -> None:
    with start_replay_server(reply="word " * 50) as server:
        controller = Controller(
            [OllamaBackend(server.host_port)], retry_interval=0, probe_timeout=REACHABLE
        )
        app = make_app(
            Config(),
            controller=controller,
            start_screen="chat",
            screen_options={"model": "qwen2.5:0.5b"},
        )
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            screen.chat.set_parameters("", {"max_tokens": 20})
            await send(pilot, screen, "talk")
            reply = list(screen.query(MessageView))[-1]
            stats = str(reply.query_one(".msg-stats").render())
            assert "20 tokens" in stats and "cut at the token limit (max_tokens)" in stats
            # Said once: the status line does not repeat the reply's stats.
            assert "tokens" not in str(screen.query_one("#chat-status").render())
