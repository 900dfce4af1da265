"""The async controller: the only thing screens talk to.

It owns the backends, discovers them concurrently at start with short timeouts (never delaying the
first paint), keeps each one's up/down state with a readable reason, retries those that are down,
and runs long operations (pull, create, import) as cancellable tasks that report progress.
Listeners receive small event objects; the Textual app turns them into messages.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tui.backends.base import (
    Backend,
    BackendError,
    BackendUnavailable,
    Capability,
    ChatChunk,
    ChatMessage,
    ChatOptions,
    ModelInfo,
    Progress,
    RunningModel,
    Unsupported,
)
from tui.core.coalesce import Coalescer, Scheduler, loop_scheduler

if TYPE_CHECKING:
    from pathlib import Path

    from tui.config import Config
    from tui.monitor.monitor import Monitor

log = logging.getLogger(__name__)


class BackendStatus(enum.StrEnum):
    PROBING = "probing"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class BackendState:
    """What the backends panel shows for one backend."""

    id: str
    kind: str
    location: str
    status: BackendStatus = BackendStatus.PROBING
    detail: str = ""
    """Version or description when up; the reason when down."""
    model_count: int = 0
    capabilities: frozenset[Capability] = frozenset()
    checked_at: float = 0.0


class OperationState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Operation:
    """A long-running, cancellable task (pull, create, import) and its latest progress."""

    id: int
    kind: str
    title: str
    backend_id: str
    state: OperationState = OperationState.RUNNING
    progress: Progress | None = None
    error: str = ""
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class BackendChanged:
    state: BackendState


@dataclass(frozen=True, slots=True)
class ModelsChanged:
    backend_id: str
    models: tuple[ModelInfo, ...]


@dataclass(frozen=True, slots=True)
class OperationUpdated:
    """An operation started, progressed or ended.

    ``operation`` is a copy taken when the event was sent, so a listener that handles it later
    sees the state it describes, not a newer one (an end handled twice is not possible).
    Progress is coalesced: at most one update per :attr:`Controller.progress_interval` per
    operation, always the latest, and the start and the end always.
    """

    operation: Operation


Event = BackendChanged | ModelsChanged | OperationUpdated
Listener = Callable[[Event], None]


def build_backends(config: Config) -> list[Backend]:
    """Create the backend clients named by ``config``; creating one contacts nothing."""
    from tui.backends.onnx_genai import OnnxGenAIBackend

    backends: list[Backend] = []
    if config.ollama_enabled:
        from tui.backends.ollama import OllamaBackend

        backends.append(OllamaBackend(config.ollama_host, proxy=config.ollama_proxy or None))
    backends.append(OnnxGenAIBackend(config.model_dirs, foundry_cache=config.foundry_cache))
    if config.openai:
        import os

        from tui.backends.openai_compat import OpenAICompatBackend

        for endpoint in config.openai:
            if endpoint.enabled:
                key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
                backends.append(
                    OpenAICompatBackend(
                        endpoint.url,
                        backend_id=f"openai:{endpoint.name}",
                        api_key=key,
                        proxy=endpoint.proxy or None,
                    )
                )
    return backends


def monitor_disk_paths(config: Config) -> list[Path]:
    """Model stores whose disks the monitor reports, one per file system.

    The configured model dirs, Foundry Local's cache and Ollama's store (``OLLAMA_MODELS`` or
    ``~/.ollama/models``); a path not created yet counts as its nearest existing parent.
    """
    from tui.monitor.stores import ollama_store, one_per_filesystem

    candidates = [*config.model_dirs]
    if config.foundry_cache is not None:
        candidates.append(config.foundry_cache)
    if config.ollama_enabled:
        candidates.append(ollama_store())
    return one_per_filesystem(candidates)


class Controller:
    """Owns backends and operations; every method is safe to call from the event loop."""

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        probe_timeout: float = 2.0,
        retry_interval: float = 15.0,
        monitor: Monitor | None = None,
        monitor_interval: float = 1.0,
        disk_paths: Sequence[Path] = (),
        progress_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        schedule: Scheduler = loop_scheduler,
    ) -> None:
        self.backends: dict[str, Backend] = {b.id: b for b in backends}
        self.states: dict[str, BackendState] = {
            b.id: BackendState(b.id, b.kind, b.location, capabilities=b.capabilities)
            for b in backends
        }
        self.models: dict[str, tuple[ModelInfo, ...]] = {b.id: () for b in backends}
        self.operations: dict[int, Operation] = {}
        self.probe_timeout = probe_timeout
        self.retry_interval = retry_interval
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._op_ids = itertools.count(1)
        self._started = False
        self._monitor = monitor
        self.monitor_interval = monitor_interval
        self.disk_paths = tuple(disk_paths)
        self.progress_interval = progress_interval
        """Operations report progress to listeners at most once per this many seconds."""
        self._clock = clock
        self._schedule = schedule
        self.live_tokens_per_second: float | None = None
        """Rate of the reply streaming now (set by the chat screen while it streams; back to
        ``None`` when the stream from :meth:`chat` ends), ``None`` when none is."""
        self.loaded_models: tuple[RunningModel, ...] | None = None
        """What the backends held at the last :meth:`refresh_loaded_models` (``None``: not yet)."""

    @classmethod
    def from_config(cls, config: Config, *, monitor: Monitor | None = None) -> Controller:
        """Build the controller the settings describe (``monitor``: a replay, for tests)."""
        return cls(
            build_backends(config),
            monitor=monitor,
            probe_timeout=config.probe_timeout,
            retry_interval=config.retry_interval,
            monitor_interval=config.monitor_interval,
            disk_paths=monitor_disk_paths(config),
        )

    # ------------------------------------------------------------------ resources

    @property
    def monitor(self) -> Monitor:
        """The resource monitor, created on first use (that first use imports psutil: keep it
        off the event loop and after the first paint)."""
        if self._monitor is None:
            from tui.monitor.monitor import Monitor

            self._monitor = Monitor(interval=self.monitor_interval, disk_paths=self.disk_paths)
        return self._monitor

    async def refresh_loaded_models(self) -> tuple[RunningModel, ...]:
        """Ask every backend which models it holds; the monitor's later samples carry them."""
        models = tuple(await self.running_models())
        self.loaded_models = models
        if self._monitor is not None:
            self._monitor.set_loaded_models(models)
        return models

    async def unload(self, backend_id: str, name: str) -> None:
        """Free a loaded model's memory now, then re-read what is loaded.

        Raises:
            BackendError: The backend cannot unload models or refused (the message says why).
        """
        await self.backend(backend_id).unload(name)
        await self.refresh_loaded_models()

    async def add_model_dir(self, backend_id: str, path: Path) -> BackendState:
        """Make a folder-scanning backend (ONNX GenAI) look in ``path`` too, then re-read it.

        Saving the folder in the settings is the caller's part; this changes the running backend.

        Raises:
            Unsupported: The backend does not read models from folders.
        """
        backend = self.backend(backend_id)
        add = getattr(backend, "add_model_dir", None)
        if not callable(add):
            raise Unsupported(f"{backend_id} does not read models from folders", backend=backend_id)
        add(path)
        self.states[backend_id] = replace(self.states[backend_id], location=backend.location)
        return await self.refresh(backend_id)

    # ------------------------------------------------------------------ events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the controller
                log.exception("listener failed on %r", event)

    def _spawn(self, coro: object, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ discovery

    def start(self) -> None:
        """Begin probing every backend concurrently; returns at once."""
        if self._started:
            return
        self._started = True
        for backend_id in self.backends:
            self._spawn(self._watch(backend_id), f"watch:{backend_id}")

    async def _watch(self, backend_id: str) -> None:
        while True:
            state = await self.refresh(backend_id)
            if state.status is BackendStatus.UP or self.retry_interval <= 0:
                return
            await asyncio.sleep(self.retry_interval)

    async def refresh(self, backend_id: str) -> BackendState:
        """Probe one backend and re-read its models; never raises."""
        backend = self.backends[backend_id]
        try:
            detail = await asyncio.wait_for(backend.probe(), self.probe_timeout)
            models: tuple[ModelInfo, ...] = ()
            if backend.supports(Capability.LIST):
                models = tuple(await asyncio.wait_for(backend.list_models(), 30.0))
        except TimeoutError:
            state = self._set_state(
                backend_id,
                BackendStatus.DOWN,
                f"{backend.location} did not answer within {self.probe_timeout:g} s",
            )
        except BackendError as exc:
            state = self._set_state(backend_id, BackendStatus.DOWN, str(exc))
        except Exception as exc:  # an unexpected bug in a backend: show it, don't crash
            log.exception("probe of %s failed", backend_id)
            state = self._set_state(
                backend_id, BackendStatus.DOWN, f"unexpected error: {type(exc).__name__}: {exc}"
            )
        else:
            self.models[backend_id] = models
            state = self._set_state(backend_id, BackendStatus.UP, detail, len(models))
            self._emit(ModelsChanged(backend_id, models))
            return state
        if self.models[backend_id]:
            self.models[backend_id] = ()
            self._emit(ModelsChanged(backend_id, ()))
        return state

    async def refresh_all(self) -> list[BackendState]:
        return list(await asyncio.gather(*(self.refresh(b) for b in self.backends)))

    async def discover(self) -> list[BackendState]:
        """Probe all backends once (for headless commands) and return their states."""
        return await self.refresh_all()

    def _set_state(
        self, backend_id: str, status: BackendStatus, detail: str, count: int = 0
    ) -> BackendState:
        state = replace(
            self.states[backend_id],
            status=status,
            detail=detail,
            model_count=count,
            checked_at=time.time(),
        )
        self.states[backend_id] = state
        self._emit(BackendChanged(state))
        return state

    # ------------------------------------------------------------------ queries

    def all_models(self) -> list[ModelInfo]:
        return [m for models in self.models.values() for m in models]

    def backend(self, backend_id: str) -> Backend:
        try:
            return self.backends[backend_id]
        except KeyError:
            raise BackendUnavailable(f"No backend named {backend_id!r} is configured") from None

    async def running_models(self) -> list[RunningModel]:
        """Loaded models of every backend that can say; backends that fail are skipped."""

        async def one(b: Backend) -> list[RunningModel]:
            if not b.supports(Capability.PS) or self.states[b.id].status is not BackendStatus.UP:
                return []
            try:
                return await asyncio.wait_for(b.ps(), self.probe_timeout)
            except (BackendError, TimeoutError):
                return []

        results = await asyncio.gather(*(one(b) for b in self.backends.values()))
        return [r for rs in results for r in rs]

    def chat(
        self,
        backend_id: str,
        model: str,
        messages: Sequence[ChatMessage],
        options: ChatOptions | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """Stream a reply; cancel the consuming task to stop generation.

        When the stream ends (finished, failed, stopped or closed), :attr:`live_tokens_per_second`
        goes back to ``None``, so the gauge strip never shows the rate of a reply that is over.
        """
        stream = self.backend(backend_id).chat(model, messages, options)

        async def tracked() -> AsyncIterator[ChatChunk]:
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                self.live_tokens_per_second = None
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()

        return tracked()

    # ------------------------------------------------------------------ operations

    def run_operation(
        self,
        kind: str,
        title: str,
        backend_id: str,
        steps: Callable[[], AsyncIterator[Progress]],
        *,
        refresh_after: bool = True,
    ) -> Operation:
        """Run ``steps()`` as a cancellable task, reporting each Progress to listeners."""
        op = Operation(next(self._op_ids), kind, title, backend_id)
        self.operations[op.id] = op
        updates: Coalescer[None] = Coalescer(
            lambda _: self._emit(OperationUpdated(replace(op))),
            self.progress_interval,
            clock=self._clock,
            schedule=self._schedule,
        )

        async def runner() -> None:
            try:
                async for progress in steps():
                    op.progress = progress
                    updates.push(None)
                op.state = OperationState.DONE
            except asyncio.CancelledError:
                op.state = OperationState.CANCELLED
                op.error = "cancelled"
            except BackendError as exc:
                op.state = OperationState.FAILED
                op.error = str(exc)
            except Exception as exc:
                log.exception("operation %s failed", title)
                op.state = OperationState.FAILED
                op.error = f"unexpected error: {type(exc).__name__}: {exc}"
            op.finished_at = time.monotonic()
            updates.finish(None)
            if refresh_after and op.state is not OperationState.CANCELLED:
                await self.refresh(backend_id)

        op.task = self._spawn(runner(), f"op:{op.id}:{kind}")
        updates.push(None)  # the start, at once
        return op

    def cancel_operation(self, op_id: int) -> bool:
        op = self.operations.get(op_id)
        if op is None or op.task is None or op.task.done():
            return False
        op.task.cancel()
        return True

    def running_operations(self) -> list[Operation]:
        return [o for o in self.operations.values() if o.state is OperationState.RUNNING]

    # ------------------------------------------------------------------ shutdown

    async def aclose(self) -> None:
        """Cancel background work, close every backend and release the monitor (NVML)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._monitor is not None:
            self._monitor.close()
        for backend in self.backends.values():
            try:
                await backend.aclose()
            except Exception:
                log.exception("closing %s failed", backend.id)
