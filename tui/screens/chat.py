"""The Chat screen: stream replies as Markdown, stop them, keep every word, manage sessions.

The chat itself (history, the conversation, the turn, its live rate, export) is the controller's
headless :class:`~tui.core.chat.session.ChatSession`; this screen drives it from an exclusive
worker, buffers the deltas it reports and hands them to the reply's
:class:`~tui.widgets.chat_stream.StreamingBody` on a timer, scrolling in the same frame, so a fast
model costs a few frames a second, not one (or two) per token. The stats line is drawn with the
text; the prompt's cursor does not blink and the conversation has no scrollbar while a reply
streams, since each would redraw on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Header, Static
from textual.worker import Worker

from tui.controller import BackendChanged, BackendStatus, ModelsChanged
from tui.core.chat import (
    ChatSession,
    ExportError,
    can_chat,
    find_code_blocks,
    not_chat_reason,
    plural,
)
from tui.core.chat.stats import MIN_RATE_TOKENS
from tui.core.sanitize import sanitize
from tui.messages import ControllerEvent, MonitorSampled, OptionsGiven
from tui.screens.base import DeckScreen
from tui.types import Capability, ModelInfo, Session, StoredMessage
from tui.widgets.chat_copy import CopyChoice, CopyPicker
from tui.widgets.chat_message import MessageView, prepare_message
from tui.widgets.chat_params import ModelPicker, ParamsDialog, ParamsResult
from tui.widgets.chat_prompt import ChatPrompt
from tui.widgets.chat_sessions import SessionList
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.key_bar import KeyBar

FLUSH_TICK = 0.1
"""Seconds between checks of the pending-text buffer (the least time between two draws)."""
FLUSH_TOKENS = 200
"""Draw as soon as this many tokens wait..."""
FLUSH_INTERVAL = 1.0
"""...or when the oldest waiting token has waited this long.

A draw of a growing reply scrolls the conversation, which redraws all of its visible lines (~3.5 KB
at 100x30), so draws are spaced by tokens, not by time: at 1,000 tok/s the screen updates ~5x a
second, at 100 tok/s once a second (``bench/stream.py`` measures the bytes this costs). Until
the reply reaches the bottom of the screen, draws add lines without scrolling and come every
:data:`QUICK_INTERVAL`. The first token is drawn at once, so the time to first token is what the
user sees, and the last ones as soon as the stream ends."""
QUICK_INTERVAL = 0.25
"""While the reply's last line has at least :data:`QUICK_ROWS` blank rows below it on screen, a
draw only adds lines (a few hundred bytes, no scroll), so the text is drawn this often: a reply
that fits on the screen, or a slow model's, comes in smoothly rather than once a second."""
QUICK_ROWS = 3
LONG_TEXT = 100_000
"""Characters of a stored message from which it is prepared in a thread (see _message_views)."""
CLIPBOARD_CHARS = 1_000_000
"""Most characters copied through the terminal (OSC 52): a longer text would be written to the
terminal whole (67 MB of base64 for a 50 MB reply) and most terminals drop it; it goes to the
clipboard file only."""
STATUS_INTERVAL = 0.5
"""Least seconds between updates of the live stats line (and of the rate the gauge strip shows);
it is updated along with the text, so no more often than the text either."""


class ChatScreen(DeckScreen):
    """Chat with any chat-capable model of any backend."""

    CSS_PATH = "chat.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop", id="chat.stop", tooltip="Stop the reply being generated"),
        # The same key while nothing streams (check_action offers one of the two).
        Binding(
            "escape",
            "leave_prompt",
            "Leave the prompt",
            show=False,
            id="chat.leave",
            tooltip="Give the screen keys back (tab or enter returns to the prompt)",
        ),
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate", tooltip="Answer again"),
        Binding("ctrl+n", "new_session", "New", id="chat.new", tooltip="Start a new session"),
        Binding("ctrl+l", "pick_model", "Model", id="chat.model", tooltip="Choose the model"),
        Binding(
            "ctrl+g", "params", "Params", id="chat.params", tooltip="System prompt, parameters"
        ),
        Binding("f2", "sessions", "Sessions", id="chat.sessions", tooltip="Go to the session list"),
        Binding(
            "f4",
            "toggle_sessions",
            "Sidebar",
            id="chat.sidebar",
            tooltip="Hide or show the session list (it takes 24 columns)",
        ),
        Binding("ctrl+y", "copy_reply", "Copy", id="chat.copy", tooltip="Copy the last reply"),
        Binding("ctrl+b", "copy_code", "Copy code", id="chat.copy_code", tooltip="Copy last code"),
        Binding(
            "f3",
            "copy_pick",
            "Copy…",
            id="chat.copy_pick",
            tooltip="Choose any message or code block to copy",
        ),
        Binding("ctrl+t", "thinking", "Thinking", id="chat.thinking", tooltip="Show/hide thinking"),
        Binding("ctrl+o", "export", "Export", id="chat.export", tooltip="Export to .md and .json"),
        Binding(
            "ctrl+u",
            "earlier",
            "Earlier",
            id="chat.earlier",
            show=False,
            tooltip="Show the earlier messages of a long session",
        ),
        # After escape left the prompt (so 1-7 switch screens), enter comes back to it.
        Binding("enter", "focus_prompt", "Prompt", show=False, id="chat.focus_prompt"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._chat: ChatSession | None = None
        self._problem_told = ""
        """The history problem last told in a toast (each is told once)."""
        self._wanted: tuple[str, str] | None = None
        """(model, backend) asked for on the command line, until the backend lists it."""
        self._asked = False
        """A model was asked for when the screen opened: the last session is not reopened."""
        self.model_problem = ""
        """Why the model asked for cannot be used (not installed, cannot chat), or ""."""
        self._options_seen: dict[str, str] | None = None
        """The ``app.screen_options`` last taken (a new dict is a new request)."""
        self._turn_worker: Worker[None] | None = None
        self._pending: list[str] = []
        self._pending_thinking: list[str] = []
        self._status_line = ""
        self._follow_y = 0.0
        """The log's scroll position as the reply was last followed to."""
        self._view: MessageView | None = None
        self._flush_timer: Timer | None = None
        self._pending_since = 0.0
        self._last_status = 0.0
        self.clock: Callable[[], float] = time.monotonic
        """The clock that spaces the drawing of streamed text (a test sets its own)."""
        self.ready = asyncio.Event()
        """Set once the chat history is open (or failed to open)."""

    # ------------------------------------------------------------------ the chat session

    @property
    def chat(self) -> ChatSession:
        """The controller's chat session this screen draws."""
        if self._chat is None:
            self._chat = self.deck.controller.chat_session()
        return self._chat

    @property
    def session(self) -> Session | None:
        return self.chat.session

    @property
    def backend_id(self) -> str:
        return self.chat.backend_id

    @backend_id.setter
    def backend_id(self, value: str) -> None:
        self.chat.backend_id = value

    @property
    def model(self) -> str:
        return self.chat.model

    @model.setter
    def model(self, value: str) -> None:
        self.chat.model = value

    @property
    def system_prompt(self) -> str:
        return self.chat.system_prompt

    @property
    def options(self) -> dict[str, Any]:
        return self.chat.options

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="chat-body"):
            yield SessionList(id="chat-sessions")
            with Vertical(id="chat-main"):
                yield Static(id="chat-model", markup=False)
                yield VerticalScroll(id="chat-log")
                yield Static(id="chat-status", markup=False)
                yield ChatPrompt(
                    placeholder="Ask something… (enter sends, ctrl+j new line)",
                    id="chat-prompt",
                )
        yield GaugeStrip()
        yield KeyBar()

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    @property
    def prompt(self) -> ChatPrompt:
        return self.query_one("#chat-prompt", ChatPrompt)

    @property
    def streaming(self) -> bool:
        """True while a reply is being generated."""
        return self._turn_worker is not None and self._turn_worker.is_running

    def on_mount(self) -> None:
        self._take_options()
        self._show_model_line()
        self.prompt.focus()
        self._open_store()

    @on(OptionsGiven)
    @on(events.ScreenResume)
    def _resumed(self) -> None:
        # Shown again, maybe by another screen's "chat with it" (app.open_screen).
        if self.is_mounted and self._take_options():
            self._show_model_line()
            if self.streaming:
                # Never cut a reply short: the model asked for answers the next prompt.
                self._keep_session_model()
                self.notify(
                    f"Your next prompt goes to {sanitize(self.model)}; "
                    "the reply streaming now goes on (ctrl+n starts a new chat).",
                    timeout=6,
                    markup=False,
                )
            elif self.session is not None:
                self._switch_to(None)  # a new chat with the model asked for

    def _take_options(self) -> bool:
        """Take the model asked for in ``app.screen_options``; True when there is a new one.

        ``open_screen`` replaces the options dict, so a new dict is a new request and the same
        one (coming back with the screen key) is not.
        """
        opts = self.deck.screen_options
        if opts is self._options_seen:
            return False
        self._options_seen = opts
        if not opts.get("model"):
            return False
        self.backend_id = ""  # until the backend asked for (or one listing the model) is known
        self._wanted = (opts["model"], opts.get("backend", ""))
        self._asked = True
        self.model_problem = ""
        self._resolve_wanted()
        return True

    @work(group="chat-store", exit_on_error=False)
    async def _open_store(self) -> None:
        chat = self.chat
        opened = await chat.open()
        stored = [s for s in chat.sessions if s.stored]
        if opened and not self._asked and stored and chat.session is None and not chat.streaming:
            await self._load_session(stored[0].id)
        else:
            self._show_sessions(chat.sessions)
            self._show_status("")
        self._tell_history()
        self.ready.set()

    def _tell_history(self) -> None:
        """Toast a new history problem once, and its end; the status line keeps saying it."""
        problem = self.chat.problem
        if problem == self._problem_told:
            return
        if problem:
            self.notify(problem, title="Chat history", severity="warning", timeout=12, markup=False)
        elif self.chat.records is not None:
            self.notify(
                f"Chat history is back: saving to {self.chat.records.path}",
                title="Chat history",
                timeout=6,
                markup=False,
            )
        self._problem_told = problem

    def worker_failed(self, worker: Worker[object]) -> None:
        if worker.name == "_open_store":
            self.ready.set()  # opened, or not: nothing waits for it any more

    def _show_sessions(self, sessions: list[Session]) -> None:
        current = self.session.id if self.session else None
        self.query_one(SessionList).show_sessions(sessions, current)

    def _refresh_sessions(self) -> None:
        # The session list is the chat session's own, in memory: nothing is read back.
        self._show_sessions(self.chat.sessions)

    def _show_model_line(self) -> None:
        line = Text()
        if self.model:
            line.append(sanitize(self.model), style="bold")
            if self.model_problem and not self.backend_id:
                line.append("  cannot be used: ctrl+l chooses a model", style="bold yellow")
            else:
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
            if controller.supports(backend_id, Capability.CHAT)
            for m in models
            if can_chat(m)
        ]

    def _resolve_wanted(self) -> None:
        """Find the model asked for among the listed ones; once every backend that can chat has
        answered and none lists it (or it cannot chat), say so."""
        if self._wanted is None:
            return
        name, backend = self._wanted
        controller = self.deck.controller
        if backend:
            self.backend_id, self.model = backend, name  # sendable at once, checked when listed
        else:
            self.model = name
        candidates = [
            m
            for backend_id, models in controller.models.items()
            if not backend or backend_id == backend
            for m in models
            if m.name in (name, f"{name}:latest")
        ]
        usable = [m for m in candidates if can_chat(m)]
        if usable:
            self.backend_id, self.model = usable[0].backend, usable[0].name
            self._wanted = None
            self._set_model_problem("")
            return
        checked = [backend] if backend else controller.backend_ids(Capability.CHAT)
        states = [controller.states[b] for b in checked if b in controller.states]
        if any(s.status is BackendStatus.PROBING for s in states):
            return  # not every backend has answered yet
        self._wanted = None  # said once; a later listing of it is picked with ctrl+l
        if not backend or candidates:
            # The backend named with --backend may serve more than it lists (an OpenAI-compatible
            # server): it is told, and may still answer; with none named there is nowhere to send.
            self.backend_id = ""
        if candidates:
            self._set_model_problem(not_chat_reason(candidates[0]))
            return
        where = ", ".join(
            f"{s.id} ({plural(s.model_count, 'model')})"
            if s.status is BackendStatus.UP
            else f"{s.id} (down)"
            for s in states
        )
        self._set_model_problem(
            f"{sanitize(name)} is not installed: not listed by {where or 'any backend'}."
        )

    def _set_model_problem(self, problem: str) -> None:
        told = problem and problem != self.model_problem
        self.model_problem = problem
        self._show_model_line()
        if told:
            self.notify(problem, title="Chat", severity="warning", timeout=10, markup=False)
        if not self.streaming:
            self._show_status("")

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        if self._wanted is not None and isinstance(message.event, ModelsChanged | BackendChanged):
            self._resolve_wanted()
            self._show_model_line()

    def action_pick_model(self) -> None:
        def picked(model: ModelInfo | None) -> None:
            if model is None:
                return
            self.backend_id, self.model = model.backend, model.name
            self._wanted = None
            self.model_problem = ""
            self._show_model_line()
            self._show_status("")
            self._keep_session_model()
            self.prompt.focus()

        current = (self.backend_id, self.model) if self.model else None
        self.app.push_screen(ModelPicker(self.chat_models(), current), picked)

    def _keep_session_model(self) -> None:
        """Store the chosen model as the open session's, so it comes back with the session."""
        if self.chat.set_model(self.backend_id, self.model):
            self._save_session()

    def action_params(self) -> None:
        def saved(result: ParamsResult | None) -> None:
            if result is None:
                return
            if self.chat.set_parameters(*result):
                self._save_session()
            self._show_model_line()
            self.notify("Parameters saved for this session", timeout=3, markup=False)

        self.app.push_screen(ParamsDialog(self.system_prompt, dict(self.options)), saved)

    # ------------------------------------------------------------------ sessions

    def _save_session(self) -> None:
        # A store that cannot be written keeps the change for the next turn's write.
        self.run_worker(
            self.chat.save_settings(),
            name="save_session",
            group="chat-session",
            exit_on_error=False,
        )

    async def _load_session(self, session_id: int) -> None:
        chat = self.chat
        if not await chat.open_session(session_id):
            self._show_status("")
            self._tell_history()
            return
        session = chat.session
        assert session is not None
        self._wanted = None
        self.model_problem = ""
        log = self.log_view
        views = await self._message_views(chat.messages, session.model)
        with self.app.batch_update():
            await log.remove_children()
            await log.mount_all(views)
            if chat.earlier:
                await log.mount(self._earlier_note(chat.earlier), before=0)
        log.scroll_end(animate=False)
        self._show_model_line()
        self._show_status("")
        self._refresh_sessions()
        self._take_prompt_history()

    @staticmethod
    async def _message_views(messages: list[StoredMessage], model: str) -> list[MessageView]:
        """Views of stored messages; the scans of long texts (sanitizing, finding where the drawn
        end starts) run in a thread, so a 50 MB reply opens without stopping the keys."""
        prepared = await asyncio.to_thread(
            lambda: [
                prepare_message(m.content) if len(m.content) > LONG_TEXT else None for m in messages
            ]
        )
        return [
            MessageView(
                m.role,
                m.content if ready is None else ready[0],
                thinking=m.thinking,
                model=m.model or model,
                status=m.status,
                stats=m.stats,
                message_id=m.id,
                prepared=ready,
            )
            for m, ready in zip(messages, prepared, strict=True)
        ]

    @staticmethod
    def _earlier_note(count: int) -> Static:
        return Static(
            f"… {plural(count, 'earlier message')} not shown: ctrl+u shows more",
            id="chat-earlier",
            markup=False,
        )

    @work(group="chat-earlier", exclusive=True, exit_on_error=False)
    async def action_earlier(self) -> None:
        """Show the page of stored messages before the first one shown."""
        chat = self.chat
        session = chat.session
        older = await chat.load_earlier()
        if not older or session is None:
            return
        log = self.log_view
        for note in log.query("#chat-earlier"):
            await note.remove()
        views = await self._message_views(older, session.model)
        with self.app.batch_update():
            await log.mount_all(views, before=0)
            if chat.earlier:
                await log.mount(self._earlier_note(chat.earlier), before=0)

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
            await self.chat.open_session(None)
            # A new session: the model stays, the parameters are the backend's defaults again.
            self.chat.set_parameters("", {})
            self._show_model_line()
            await self.log_view.remove_children()
            self._show_status("")
            self._refresh_sessions()
            self._take_prompt_history()
        else:
            await self._load_session(session_id)
        self.prompt.focus()

    def _take_prompt_history(self) -> None:
        """Up in the prompt recalls the open session's prompts (those read into memory)."""
        self.prompt.prompts = [m.content for m in self.chat.messages if m.role == "user"]

    def action_new_session(self) -> None:
        self._switch_to(None)

    def action_sessions(self) -> None:
        sessions = self.query_one(SessionList)
        sessions.display = True
        sessions.focus()

    def action_toggle_sessions(self) -> None:
        """Hide the session list (the conversation gets its columns) or show it again."""
        sessions = self.query_one(SessionList)
        sessions.display = not sessions.display
        if not sessions.display and self.focused is sessions:
            self.prompt.focus()

    # ------------------------------------------------------------------ turns

    @on(ChatPrompt.Submitted, "#chat-prompt")
    def _submitted(self, event: ChatPrompt.Submitted) -> None:
        if not event.value.strip():
            return
        # Leading blank lines and trailing space go; the first line's indent (code) stays.
        lines = event.value.rstrip().splitlines()
        while lines and not lines[0].strip():
            lines.pop(0)
        text = "\n".join(lines)
        if self.streaming:
            self.notify(
                "A reply is streaming: press Escape to stop it first.", timeout=3, markup=False
            )
            return
        if not self.model or not self.backend_id:
            self.notify(
                self.model_problem or "Choose a model first (ctrl+l).",
                severity="warning",
                timeout=6,
                markup=False,
            )
            self.action_pick_model()
            return
        self.prompt.prompts.append(text)
        self.prompt.clear_prompt()
        self._turn_worker = self._run_turn(text)

    def action_regenerate(self) -> None:
        if self.streaming or self.session is None:
            return
        if not self.model or not self.backend_id:
            self.action_pick_model()
            return
        self._turn_worker = self._run_turn(None)

    def action_focus_prompt(self) -> None:
        self.prompt.focus()

    def unsaved_work(self) -> list[str]:
        if not self.is_mounted:
            return []
        work: list[str] = []
        if self.streaming:
            work.append(
                f"A reply of {self.model or 'the model'} is streaming; it is kept as far as it got."
            )
        text = self.prompt.value
        if text.strip():
            lines = len(text.strip("\n").splitlines())
            work.append(f"An unsent prompt ({plural(lines, 'line')}) in Chat; it is not kept.")
        return work

    @on(Worker.StateChanged)
    def _turn_started_or_ended(self, event: Worker.StateChanged) -> None:
        if event.worker is self._turn_worker:
            self.refresh_bindings()  # escape: Stop while it runs, leave the prompt after

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # escape is Stop while a reply streams (shown first in the footer), else it leaves the
        # prompt (not shown: it is what escape does in any text field).
        if action == "stop":
            return self.streaming
        if action == "leave_prompt":
            return not self.streaming
        return True

    def action_stop(self) -> None:
        """Stop the reply streaming now; with none, leave the prompt for the conversation, so the
        screen keys (1-8, q) work again (tab or enter comes back to the prompt)."""
        if self.streaming and self._turn_worker is not None:
            self._turn_worker.cancel()
        else:
            self.action_leave_prompt()

    def action_leave_prompt(self) -> None:
        if self.focused is self.prompt:
            self.log_view.focus()

    @work(group="chat-turn", exclusive=True, exit_on_error=False)
    async def _run_turn(self, prompt: str | None) -> None:
        """Send ``prompt`` (None: answer the last prompt again) and stream the reply."""
        chat = self.chat
        log = self.log_view
        new_session = chat.session is None
        if prompt is None:
            if chat.messages and chat.messages[-1].role == "assistant":
                views = log.query(MessageView)
                if views and views.last().role == "assistant":
                    await views.last().remove()
        else:
            await log.mount(MessageView("user", prompt))
        view = MessageView("assistant", model=self.model, status="streaming")
        await log.mount(view)
        await view.begin_stream()
        # The screen follows the reply itself (see _follow): an anchored log would show the
        # blank lines the reply keeps in reserve below its text.
        log.anchor(False)
        # No scrollbar while it streams: its thumb would count the reserve, and it is a column
        # of its own on every line that each scroll redraws (~15 % of the bytes of a frame).
        log.add_class("-streaming")
        self._follow_y = 0.0
        self._view = view
        self.call_after_refresh(self._follow)
        self._pending.clear()
        self._pending_thinking.clear()
        # The prompt's blinking cursor would repaint it twice a second for as long as the reply
        # streams; it stays lit instead.
        self.prompt.cursor_blink = False
        self._last_status = self.clock()
        self._flush_timer = self.set_interval(FLUSH_TICK, self._tick)
        turn = chat.begin(prompt)
        # The view draws the reply's end; the whole (for copy) is the turn's.
        view.text_source = turn.content.text
        if new_session:
            self._refresh_sessions()
        status, error = "stopped", ""
        try:
            result = await chat.stream(self._on_delta, self._stream_ended)
            status, error = result.status, result.error
            if result.error:
                self.notify(
                    result.error, title="Chat failed", severity="error", timeout=10, markup=False
                )
            if result.store_error and not chat.problem:
                self.notify(
                    f"The reply is shown but could not be saved ({result.store_error}). "
                    "ctrl+o exports the session.",
                    title="Chat not saved",
                    severity="warning",
                    timeout=12,
                    markup=False,
                )
        finally:
            if turn.result is not None:  # a stop may land just as the reply completes
                status, error = turn.result.status, turn.result.error
            self._flush_timer.stop()
            await self._flush()
            following = self._following()
            await view.end_stream(turn.result.content if turn.result is not None else None)
            log.remove_class("-streaming")
            if following:
                log.anchor()
            self.prompt.cursor_blink = True
            self._clear_live_rate()
            stats = turn.stats().as_dict()
            if status == "error":
                stats = {"error": error} if turn.chunks == 0 else {**stats, "error": error}
            if view.is_attached:
                view.finish(status, stats)
            # The reply's own stats line says how it ended; the status line does not repeat it.
            line = ""
            if status == "stopped" and prompt is not None and not self.prompt.value:
                # Stopped: give the prompt back for editing.
                self.prompt.value = prompt
                line = "Stopped: your prompt is back in the box to edit and send again."
            self._show_status(line)
            self._view = None
            self._refresh_sessions()
            self._tell_history()

    def _stream_ended(self) -> None:
        # The last words are drawn while the finished reply is being stored.
        self.call_later(self._flush)

    def _on_delta(self, text: str, thinking: str) -> None:
        if not text and not thinking:
            return
        if not self._pending and not self._pending_thinking:
            self._pending_since = self.clock()
            if self._view is not None and not self._view.has_text and not self._view.thinking:
                # The first token is drawn at once: the time to first token is what users see.
                self.call_later(self._flush)
        if text:
            self._pending.append(text)
        if thinking:
            self._pending_thinking.append(thinking)

    async def _tick(self) -> None:
        now = self.clock()
        waiting = len(self._pending) + len(self._pending_thinking)
        if not waiting:
            return
        waited = now - self._pending_since
        if (
            waiting >= FLUSH_TOKENS
            or waited >= FLUSH_INTERVAL
            or (waited >= QUICK_INTERVAL and self._rows_below_reply() >= QUICK_ROWS)
        ):
            await self._flush()

    def _show_status(self, line: str) -> None:
        if not line:
            # No history, or no model to send to: said for as long as it lasts.
            line = self.chat.problem or self.model_problem
        status = self.query_one("#chat-status", Static)
        if line != self._status_line:  # an unchanged line is not drawn again
            self._status_line = line
            status.update(line, layout=False)

    async def _flush(self) -> None:
        view = self._view
        if view is None or not (self._pending or self._pending_thinking):
            return
        text, thinking = "".join(self._pending), "".join(self._pending_thinking)
        self._pending.clear()
        self._pending_thinking.clear()
        await view.write(text, thinking)
        self._follow()
        now = self.clock()
        turn = self.chat.turn
        if now - self._last_status >= STATUS_INTERVAL and turn is not None:
            # Drawn with the text, in the same frame, rather than on a clock of its own.
            self._last_status = now
            rate = turn.live_rate()
            line = f"streaming · {plural(turn.chunks, 'token')}"
            if rate is not None and turn.chunks >= MIN_RATE_TOKENS:
                line += f" · {rate:.0f} tok/s"
            self._show_status(line + " · esc to stop")

    def _following(self) -> bool:
        """False once the user has scrolled up from where the reply was followed to."""
        return self.log_view.scroll_y + 1 >= self._follow_y

    def _rows_below_reply(self) -> int:
        """Blank rows on screen below the streaming reply's last line (0 when it is not shown)."""
        body = self._view.stream_body if self._view is not None else None
        if body is None or not body.is_mounted:
            return 0
        log = self.log_view
        area = log.scrollable_content_region
        return max(0, area.bottom - (body.region.y + body.text_lines))

    def _follow(self, retry: bool = True) -> None:
        """Scroll so the reply's last line is at the bottom, in the same frame as the new text.

        Leaves the log alone while the user has scrolled up, and follows again once they are back
        (scrolling past the text into the blank reserve below it counts as back).
        """
        body = self._view.stream_body if self._view is not None else None
        if body is None or not body.is_mounted or not self._following():
            return
        log = self.log_view
        area = log.scrollable_content_region
        top = log.scroll_y + body.region.y - area.y  # the body's top in the log's own lines
        target = max(0, int(top) + body.text_lines - area.height)
        if target > log.max_scroll_y and retry:
            # The reserve below the text just grew: scroll once the log knows its new size.
            self.call_after_refresh(self._follow, False)
            return
        if target != log.scroll_y:
            log.scroll_to(y=target, animate=False, immediate=True)
            # A scroll alone is drawn by diffing the visible widgets against the last scroll-only
            # frame, and Textual forgets that after any layout, which makes it redraw the whole
            # screen; with a layout in the same frame, only the log is drawn.
            log.refresh(layout=True)
        self._follow_y = log.scroll_y

    def _clear_live_rate(self) -> None:
        # The rate is the chat session's and ended with the turn; the strip drops it now, not at
        # the next sample.
        if self.deck.last_sample is not None:
            self.post_message(MonitorSampled(self.deck.last_sample))

    # ------------------------------------------------------------------ copy / export

    def _last_reply(self) -> MessageView | None:
        replies = [v for v in self.log_view.query(MessageView) if v.role == "assistant"]
        return replies[-1] if replies else None

    def action_copy_reply(self) -> None:
        view = self._last_reply()
        if view is None or not view.content:
            self.notify("There is no reply to copy yet.", timeout=3, markup=False)
            return
        self._copy(view.content, "reply")

    def action_copy_code(self) -> None:
        for view in reversed([v for v in self.log_view.query(MessageView)]):
            blocks = find_code_blocks(view.shown_text)
            if blocks:
                # The last block even when the reply ends inside it (cut by max_tokens).
                self._copy(blocks[-1].text, "code block")
                return
        self.notify("There is no code block to copy.", timeout=3, markup=False)

    def copy_choices(self) -> list[CopyChoice]:
        """Every message shown and each of its code blocks, in order."""
        choices: list[CopyChoice] = []
        for view in self.log_view.query(MessageView):
            if not view.content:
                continue
            user = view.role == "user"
            who = "You" if user else sanitize(view.model) or "assistant"
            head = view.content[:2000]
            first = next((line.strip() for line in head.splitlines() if line.strip()), "")
            lines = plural(view.content.rstrip("\n").count("\n") + 1, "line")
            choices.append(
                CopyChoice(f"{who} ({lines}): {first}", view.content, "prompt" if user else "reply")
            )
            for n, block in enumerate(find_code_blocks(view.shown_text), 1):
                head = next((line.strip() for line in block.text.splitlines() if line.strip()), "")
                kind = ", ".join(
                    x
                    for x in (block.language, plural(block.line_count, "line"))
                    + (("cut",) if not block.closed else ())
                    if x
                )
                choices.append(
                    CopyChoice(f"  └ code {n} ({kind}): {head}", block.text, "code block", True)
                )
        return choices

    def action_copy_pick(self) -> None:
        """Choose any message or code block, with a preview, and copy it."""
        choices = self.copy_choices()
        if not choices:
            self.notify("There is nothing to copy yet.", timeout=3, markup=False)
            return

        def picked(choice: CopyChoice | None) -> None:
            if choice is not None:
                self._copy(choice.text, choice.what)

        self.app.push_screen(CopyPicker(choices), picked)

    @work(group="chat-copy", exit_on_error=False)
    async def _copy(self, text: str, what: str) -> None:
        # OSC 52 reaches the local clipboard even over SSH where the terminal allows it; the file
        # is the fallback for terminals that ignore it.
        terminal = len(text) <= CLIPBOARD_CHARS
        if terminal:
            self.app.copy_to_clipboard(text)
        controller = self.deck.controller
        path = controller.data_dir / "clipboard.txt"
        try:
            await controller.write_file(path, text)
        except OSError as exc:
            self.notify(
                f"Copied the {what} (OSC 52); could not also write {path}: {exc}"
                if terminal
                else f"Could not copy the {what}: writing {path} failed: {exc}",
                markup=False,
            )
            return
        if not terminal:
            self.notify(
                f"The {what} ({len(text):,} characters) is too long for the terminal's clipboard;"
                f" it is in {path}",
                timeout=8,
                markup=False,
            )
            return
        self.notify(
            f"Copied the {what} to the clipboard (OSC 52) and to {path}", timeout=5, markup=False
        )

    @work(group="chat-export", exit_on_error=False)
    async def action_export(self) -> None:
        try:
            md, js = await self.chat.export(self.deck.controller.data_dir / "exports")
        except ValueError as exc:
            self.notify(str(exc), timeout=3, markup=False)
            return
        except ExportError as exc:
            self.notify(f"Export failed: {exc}", severity="error", markup=False)
            return
        self.notify(f"Exported to {md} and {js.name}", title="Export", timeout=8, markup=False)

    def action_thinking(self) -> None:
        views = [v for v in self.log_view.query(MessageView) if v.thinking]
        for view in views:
            view.toggle_thinking()
