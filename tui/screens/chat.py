"""The Chat screen: stream replies as Markdown, stop them, keep every word, manage sessions.

The turn itself (sanitizing, batched saving, stats) is :class:`tui.chatflow.ChatTurn`; this screen
runs it in an exclusive worker, buffers the deltas it reports and hands them to the reply's
``MarkdownStream`` on a timer, so a fast model costs a few repaints a second, not one per token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker

from tui.backends.base import Capability, ModelInfo
from tui.chatflow import (
    ChatTurn,
    code_blocks,
    export_session,
    format_stats,
    history,
    open_chat_store,
    options_from_dict,
    session_title,
    write_atomic,
)
from tui.controller import ModelsChanged
from tui.core.sanitize import sanitize
from tui.messages import ControllerEvent
from tui.screens.base import DeckScreen
from tui.store.chats import ChatStore, Session
from tui.widgets.chat_message import MessageView
from tui.widgets.chat_params import ModelPicker, ParamsDialog, ParamsResult
from tui.widgets.chat_sessions import SessionList

FLUSH_TICK = 0.1
"""Seconds between checks of the pending-text buffer (the least time between two draws)."""
FLUSH_TOKENS = 200
"""Draw as soon as this many tokens wait..."""
FLUSH_INTERVAL = 1.0
"""...or when the oldest waiting token has waited this long.

Every draw of a growing reply repaints its whole viewport (~5 KB at 100x30, and Textual's anchored
scrolling paints it twice), so draws are spaced by tokens, not by time: at 1,000 tok/s the screen
updates ~5x a second, at 100 tok/s once a second (``bench/stream.py`` measures the bytes this costs).
The first token is drawn at once, so the time to first token is what the user sees."""
STATUS_INTERVAL = 0.25
"""Seconds between updates of the live stats line."""


def _is_chat_model(model: ModelInfo) -> bool:
    # Embedding models list alongside chat models but cannot answer.
    return "embed" not in model.name.lower() and "bert" not in model.family.lower()


class ChatScreen(DeckScreen):
    """Chat with any chat-capable model of any backend."""

    CSS_PATH = "chat.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", id="chat.stop", tooltip="Stop the reply being generated"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate", tooltip="Answer again"),
        Binding("ctrl+n", "new_session", "New", id="chat.new", tooltip="Start a new session"),
        Binding("ctrl+l", "pick_model", "Model", id="chat.model", tooltip="Choose the model"),
        Binding(
            "ctrl+g", "params", "Params", id="chat.params", tooltip="System prompt, parameters"
        ),
        Binding("f2", "sessions", "Sessions", id="chat.sessions", tooltip="Go to the session list"),
        Binding("ctrl+y", "copy_reply", "Copy", id="chat.copy", tooltip="Copy the last reply"),
        Binding("ctrl+b", "copy_code", "Copy code", id="chat.copy_code", tooltip="Copy last code"),
        Binding("ctrl+t", "thinking", "Thinking", id="chat.thinking", tooltip="Show/hide thinking"),
        Binding("ctrl+o", "export", "Export", id="chat.export", tooltip="Export to .md and .json"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.store: ChatStore | None = None
        self.session: Session | None = None
        self.backend_id = ""
        self.model = ""
        self.system_prompt = ""
        self.options: dict[str, Any] = {}
        self._wanted: tuple[str, str] | None = None
        """(model, backend) asked for on the command line, until the backend lists it."""
        self._turn_worker: Worker[None] | None = None
        self._turn: ChatTurn | None = None
        self._pending: list[str] = []
        self._view: MessageView | None = None
        self._flush_timer: Timer | None = None
        self._pending_since = 0.0
        self._last_status = 0.0
        self.ready = asyncio.Event()
        """Set once the chat history is open (or failed to open)."""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="chat-body"):
            yield SessionList(id="chat-sessions")
            with Vertical(id="chat-main"):
                yield Static(id="chat-model", markup=False)
                yield VerticalScroll(id="chat-log")
                yield Static(id="chat-status", markup=False)
                yield Input(placeholder="Ask something… (enter to send)", id="chat-prompt")
        yield Footer()

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    @property
    def prompt(self) -> Input:
        return self.query_one("#chat-prompt", Input)

    @property
    def streaming(self) -> bool:
        """True while a reply is being generated."""
        return self._turn_worker is not None and self._turn_worker.is_running

    def on_mount(self) -> None:
        opts = self.deck.screen_options
        if opts.get("model"):
            self._wanted = (opts["model"], opts.get("backend", ""))
            self._resolve_wanted()
        self._show_model_line()
        self.prompt.focus()
        self._open_store()

    @work(group="chat-store", exit_on_error=False)
    async def _open_store(self) -> None:
        from tui.config import data_dir

        try:
            self.store = await asyncio.to_thread(open_chat_store, data_dir())
        except Exception as exc:  # StoreError: say it and keep the screen usable for reading
            self.notify(str(exc), title="Chat history unavailable", severity="error", timeout=15)
            self.ready.set()
            return
        sessions = await asyncio.to_thread(self.store.sessions)
        if self._wanted is None and sessions:
            await self._load_session(sessions[0].id)
        else:
            self._show_sessions(sessions)
        self.ready.set()

    def _show_sessions(self, sessions: list[Session]) -> None:
        current = self.session.id if self.session else None
        self.query_one(SessionList).show_sessions(sessions, current)

    async def _refresh_sessions(self) -> None:
        if self.store is not None:
            self._show_sessions(await asyncio.to_thread(self.store.sessions))

    def _show_model_line(self) -> None:
        line = Text()
        if self.model:
            line.append(sanitize(self.model), style="bold")
            line.append(f"  {self.backend_id or '(finding backend…)'}", style="dim")
        else:
            line.append("No model chosen: ctrl+l to choose one", style="italic")
        opts = {k: v for k, v in self.options.items() if v is not None}
        if opts:
            line.append("  " + " ".join(f"{k}={v}" for k, v in opts.items()), style="dim")
        if self.system_prompt:
            line.append("  +system", style="dim")
        self.query_one("#chat-model", Static).update(line)

    # ------------------------------------------------------------------ models

    def chat_models(self) -> list[ModelInfo]:
        """Models of every backend that is up and can chat."""
        controller = self.deck.controller
        return [
            m
            for backend_id, models in controller.models.items()
            if controller.backends[backend_id].supports(Capability.CHAT)
            for m in models
            if _is_chat_model(m)
        ]

    def _resolve_wanted(self) -> None:
        if self._wanted is None:
            return
        name, backend = self._wanted
        if backend:
            self.backend_id, self.model = backend, name
            self._wanted = None
            return
        self.model = name
        for m in self.chat_models():
            if m.name == name or m.name == f"{name}:latest":
                self.backend_id, self.model = m.backend, m.name
                self._wanted = None
                return

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        if isinstance(message.event, ModelsChanged) and self._wanted is not None:
            self._resolve_wanted()
            self._show_model_line()

    def action_pick_model(self) -> None:
        def picked(model: ModelInfo | None) -> None:
            if model is None:
                return
            self.backend_id, self.model = model.backend, model.name
            self._wanted = None
            self._show_model_line()
            if self.session is not None and self.store is not None:
                self.session.backend, self.session.model = model.backend, model.name
                self.run_worker(asyncio.to_thread(self.store.update_session, self.session))
            self.prompt.focus()

        current = (self.backend_id, self.model) if self.model else None
        self.app.push_screen(ModelPicker(self.chat_models(), current), picked)

    def action_params(self) -> None:
        def saved(result: ParamsResult | None) -> None:
            if result is None:
                return
            self.system_prompt, self.options = result
            self._show_model_line()
            if self.session is not None and self.store is not None:
                self.session.system_prompt, self.session.options = result
                self.run_worker(asyncio.to_thread(self.store.update_session, self.session))
            self.notify("Parameters saved for this session", timeout=3)

        self.app.push_screen(ParamsDialog(self.system_prompt, dict(self.options)), saved)

    # ------------------------------------------------------------------ sessions

    async def _load_session(self, session_id: int) -> None:
        assert self.store is not None
        session = await asyncio.to_thread(self.store.session, session_id)
        if session is None:
            return
        messages = await asyncio.to_thread(self.store.messages, session_id)
        self.session = session
        self.backend_id, self.model = session.backend, session.model
        self.system_prompt, self.options = session.system_prompt, dict(session.options)
        self._wanted = None
        log = self.log_view
        with self.app.batch_update():
            await log.remove_children()
            await log.mount_all(
                MessageView(
                    m.role,
                    m.content,
                    thinking=m.thinking,
                    model=m.model or session.model,
                    status=m.status,
                    stats=m.stats,
                    message_id=m.id,
                )
                for m in messages
            )
        log.scroll_end(animate=False)
        self._show_model_line()
        self.query_one("#chat-status", Static).update("")
        await self._refresh_sessions()

    async def _stop_turn(self) -> None:
        worker = self._turn_worker
        if worker is not None and worker.is_running:
            worker.cancel()
            with contextlib.suppress(Exception):
                await worker.wait()

    @on(SessionList.SessionChosen)
    def _session_chosen(self, message: SessionList.SessionChosen) -> None:
        self._switch_to(message.session_id)

    @work(group="chat-switch", exclusive=True, exit_on_error=False)
    async def _switch_to(self, session_id: int | None) -> None:
        await self._stop_turn()
        if session_id is None:
            self.session = None
            await self.log_view.remove_children()
            self.query_one("#chat-status", Static).update("")
            await self._refresh_sessions()
        else:
            await self._load_session(session_id)
        self.prompt.focus()

    def action_new_session(self) -> None:
        self._switch_to(None)

    def action_sessions(self) -> None:
        self.query_one(SessionList).focus()

    # ------------------------------------------------------------------ turns

    @on(Input.Submitted, "#chat-prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.streaming:
            self.notify("A reply is streaming: press Escape to stop it first.", timeout=3)
            return
        if self.store is None:
            self.notify("Chat history is still opening; try again in a moment.", timeout=3)
            return
        if not self.model or not self.backend_id:
            self.notify("Choose a model first (ctrl+l).", severity="warning", timeout=4)
            self.action_pick_model()
            return
        self.prompt.value = ""
        self._turn_worker = self._run_turn(text)

    def action_regenerate(self) -> None:
        if self.streaming or self.session is None or self.store is None:
            return
        if not self.model or not self.backend_id:
            self.action_pick_model()
            return
        self._turn_worker = self._run_turn(None)

    def action_stop(self) -> None:
        if self.streaming and self._turn_worker is not None:
            self._turn_worker.cancel()

    @work(group="chat-turn", exclusive=True, exit_on_error=False)
    async def _run_turn(self, prompt: str | None) -> None:
        """Send ``prompt`` (None: answer the last prompt again) and stream the reply."""
        store = self.store
        assert store is not None
        backend_id, model = self.backend_id, self.model
        log = self.log_view
        if self.session is None:
            self.session = await asyncio.to_thread(
                store.create_session,
                session_title(prompt or "Chat"),
                backend_id,
                model,
                self.system_prompt,
                dict(self.options),
            )
            await self._refresh_sessions()
        session = self.session
        if prompt is None:
            messages = await asyncio.to_thread(store.messages, session.id)
            if messages and messages[-1].role == "assistant":
                await asyncio.to_thread(store.delete_message, messages[-1].id)
                views = log.query(MessageView)
                if views and views.last().role == "assistant":
                    await views.last().remove()
        else:
            user = await asyncio.to_thread(store.add_message, session.id, "user", prompt)
            await log.mount(MessageView("user", prompt, message_id=user.id))
        messages = await asyncio.to_thread(store.messages, session.id)
        conversation = history(session, messages)
        reply = await asyncio.to_thread(
            store.add_message,
            session.id,
            "assistant",
            "",
            status="streaming",
            backend=backend_id,
            model=model,
        )
        view = MessageView("assistant", model=model, status="streaming", message_id=reply.id)
        await log.mount(view)
        log.anchor()
        self._view = view
        view.begin_stream()
        self._turn = turn = ChatTurn(store, reply.id)
        self._pending.clear()
        self._last_status = time.monotonic()
        self._flush_timer = self.set_interval(FLUSH_TICK, self._tick)
        options = options_from_dict(self.options)
        status, error = "stopped", ""
        try:
            result = await turn.run(
                lambda: self.deck.controller.chat(backend_id, model, conversation, options),
                self._on_delta,
            )
            status, error = result.status, result.error
            if result.error:
                self.notify(result.error, title="Chat failed", severity="error", timeout=10)
        finally:
            if turn.result is not None:  # a stop may land just as the reply completes
                status, error = turn.result.status, turn.result.error
            self._flush_timer.stop()
            await self._flush()
            await view.end_stream()
            self._set_live_rate(None)
            stats = turn.stats().as_dict()
            if status == "error":
                stats = {"error": error} if turn.chunks == 0 else {**stats, "error": error}
            if view.is_attached:
                view.finish(status, stats)
            line = "" if status == "complete" else format_stats(stats, status)
            self.query_one("#chat-status", Static).update(line)
            if status == "stopped" and prompt is not None and not self.prompt.value:
                # Stopped: give the prompt back for editing.
                self.prompt.value = prompt
                self.prompt.cursor_position = len(prompt)
            self._view = None
            self._turn = None

    def _on_delta(self, text: str, thinking: str) -> None:
        if text:
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append(text)
            if self._view is not None and not self._view.content and len(self._pending) == 1:
                self.call_later(self._flush)
        if thinking and self._view is not None:
            self._view.add_thinking(thinking)

    async def _tick(self) -> None:
        now = time.monotonic()
        if self._pending and (
            len(self._pending) >= FLUSH_TOKENS or now - self._pending_since >= FLUSH_INTERVAL
        ):
            await self._flush()
        if now - self._last_status >= STATUS_INTERVAL and self._turn is not None:
            self._last_status = now
            turn = self._turn
            rate = turn.live_rate()
            self._set_live_rate(rate)
            line = f"streaming · {turn.chunks} tokens"
            if rate is not None:
                line += f" · {rate:.1f} tok/s"
            self.query_one("#chat-status", Static).update(line + " · esc to stop")

    async def _flush(self) -> None:
        if not self._pending or self._view is None:
            return
        text = "".join(self._pending)
        self._pending.clear()
        await self._view.write(text)

    def _set_live_rate(self, rate: float | None) -> None:
        controller = self.deck.controller
        if hasattr(controller, "live_tokens_per_second"):
            controller.live_tokens_per_second = rate

    # ------------------------------------------------------------------ copy / export

    def _last_reply(self) -> MessageView | None:
        replies = [v for v in self.log_view.query(MessageView) if v.role == "assistant"]
        return replies[-1] if replies else None

    def action_copy_reply(self) -> None:
        view = self._last_reply()
        if view is None or not view.content:
            self.notify("There is no reply to copy yet.", timeout=3)
            return
        self._copy(view.content, "reply")

    def action_copy_code(self) -> None:
        for view in reversed([v for v in self.log_view.query(MessageView)]):
            blocks = code_blocks(view.content)
            if blocks:
                self._copy(blocks[-1], "code block")
                return
        self.notify("There is no code block to copy.", timeout=3)

    @work(group="chat-copy", exit_on_error=False)
    async def _copy(self, text: str, what: str) -> None:
        from tui.config import data_dir

        # OSC 52 reaches the local clipboard even over SSH where the terminal allows it; the file
        # is the fallback for terminals that ignore it.
        self.app.copy_to_clipboard(text)
        path = data_dir() / "clipboard.txt"
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(write_atomic, path, text)
        except OSError as exc:
            self.notify(f"Copied the {what} (OSC 52); could not also write {path}: {exc}")
            return
        self.notify(f"Copied the {what} to the clipboard (OSC 52) and to {path}", timeout=5)

    @work(group="chat-export", exit_on_error=False)
    async def action_export(self) -> None:
        from tui.config import data_dir

        if self.session is None or self.store is None:
            self.notify("Nothing to export yet: send a prompt first.", timeout=3)
            return
        try:
            md, js = await asyncio.to_thread(
                export_session, self.store, self.session.id, data_dir() / "exports"
            )
        except (OSError, ValueError) as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify(f"Exported to {md} and {js.name}", title="Export", timeout=8)

    def action_thinking(self) -> None:
        views = [v for v in self.log_view.query(MessageView) if v.thinking]
        for view in views:
            view.toggle_thinking()
