"""The async controller: the only thing screens talk to.

It owns the backends, discovers them concurrently at start with short timeouts (never delaying the
first paint), keeps each one's up/down state with a readable reason, retries those that are down,
and runs long operations (pull, create, import, bench) as cancellable tasks that report progress.
Listeners receive small event objects; the Textual app turns them into messages.

Every model operation a screen asks for (show, delete, copy, rename, pull, import, create, unload,
adding a model folder) is a method here, and each one that changes a model store is written to the
audit log. The records on disk (chat history, editor drafts, bench results, documents) are reached
through it too, so a screen never calls a backend or a store itself.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from tui.backends.base import (
    Backend,
    BackendError,
    BackendResponseError,
    BackendUnavailable,
    Capability,
    ChatChunk,
    ChatMessage,
    ChatOptions,
    CreateRequest,
    InvalidInput,
    ModelDetails,
    ModelInfo,
    ModelNotFound,
    Progress,
    RunningModel,
    Unsupported,
)
from tui.core.coalesce import Coalescer, Scheduler, loop_scheduler

if TYPE_CHECKING:
    from tui.config import Config
    from tui.core.benchmark import Benchmark, BenchSpec
    from tui.core.chat.session import ChatSession
    from tui.fleet.collector import FleetCollector
    from tui.fleet.hosts import FleetSettings, Host
    from tui.fleet.model import HostView
    from tui.monitor.monitor import Monitor
    from tui.monitor.sample import Sample
    from tui.persist import BenchResults, ChatHistory, DraftBook
    from tui.store.chats import ChatStore
    from tui.store.files import FileSystem, SaveResult

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
    problems: tuple[str, ...] = ()
    """What the last model listing left out, one sentence each (a folder that is no model)."""


class OperationState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_KEPT = 20
"""Finished operations the controller remembers (the progress panel shows the recent ones)."""


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
    retryable: bool = True
    """Whether running it again may succeed (False: e.g. the name is not in the registry)."""
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


@dataclass(frozen=True, slots=True)
class FleetChanged:
    """The fleet's views changed (at most every few tenths of a second while a poll runs, and
    once at its end); ``hosts`` is the whole snapshot, the local host first."""

    hosts: tuple[HostView, ...]


@dataclass(frozen=True, slots=True)
class HostChanged:
    """The current host changed: every backend, model list and state now belongs to ``name``."""

    name: str
    readonly: bool


class ReadOnlyRefused(InvalidInput):
    """A mutating operation (pull, delete, create, copy, rename, unload, import) asked for while
    the current host, or the whole app, is read-only."""


Event = BackendChanged | ModelsChanged | OperationUpdated | FleetChanged | HostChanged
Listener = Callable[[Event], None]


class AuditWriter(Protocol):
    """Where the controller records model operations; blocking, called in a thread."""

    def record(
        self, backend: str, operation: str, target: str, outcome: str, detail: str = ""
    ) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FolderAdded:
    """What :meth:`Controller.register_model_dir` did."""

    state: BackendState
    """The backend's state after re-reading its folders."""
    settings_error: str = ""
    """Why the folder could not be saved in the settings (it is used for now), or ""."""


_Store = TypeVar("_Store", "ChatHistory", "DraftBook", "BenchResults")

_MUTATING = frozenset(
    {
        Capability.PULL,
        Capability.DELETE,
        Capability.CREATE,
        Capability.COPY,
        Capability.UNLOAD,
        Capability.IMPORT,
    }
)
"""Capabilities a read-only host does not offer (so screens hide their keys)."""


@dataclass(slots=True)
class _HostContext:
    """One host's backend clients, their states and models (the controller's while current)."""

    backends: dict[str, Backend]
    states: dict[str, BackendState]
    models: dict[str, tuple[ModelInfo, ...]]


_KIND_WORDS = {"ollama": "Ollama", "openai": "OpenAI-compatible server", "onnx": "ONNX"}
"""How messages name a backend of each kind (as the backends' own errors do)."""


def _default_config() -> Config:
    from tui.config import Config

    return Config()


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


def backends_for_host(config: Config, host: Host) -> list[Backend]:
    """The backend clients of a remote ``host``: its Ollama and OpenAI-compatible servers, built
    as :func:`build_backends` builds the local ones, from a copy of ``config`` with that host's
    URLs (no proxy, no ONNX folders: those run in this process, on this machine)."""
    from dataclasses import replace as copy_with

    from tui.config import OpenAIEndpoint

    remote = copy_with(
        config,
        ollama_host=host.ollama or config.ollama_host,
        ollama_enabled=bool(host.ollama),
        ollama_proxy="",
        openai=[OpenAIEndpoint(s.name, s.url, s.api_key_env) for s in host.openai],
        model_dirs=[],
        foundry_cache=None,
    )
    return [b for b in build_backends(remote) if b.kind != "onnx"]


def _write_export(path: Path, text: str) -> None:
    """Write an export (or the clipboard file) atomically, creating its folder; blocking.

    Raises:
        OSError: It could not be written (the message says why).
    """
    from tui.store.files import FileSaveError, save_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(path, text, backup=False)
    except FileSaveError as exc:
        raise OSError(str(exc)) from exc


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


async def copy_folder(source: Path, target: Path) -> AsyncIterator[Progress]:
    """Copy a model folder to ``target`` with byte progress; nothing is left half-written.

    Files go to a hidden sibling first, renamed into place only when all are copied; a failure or
    cancellation removes the partial copy.

    Raises:
        InvalidInput: ``target`` exists already.
    """

    def plan() -> tuple[list[tuple[Path, int]], bool]:
        found = [(p, p.stat().st_size) for p in sorted(source.rglob("*")) if p.is_file()]
        return found, target.exists()

    files, exists = await asyncio.to_thread(plan)
    if exists:
        raise InvalidInput(f"{target} exists already; remove it or register it in place")
    total = sum(size for _, size in files) or 1
    tmp = target.with_name(f".{target.name}.partial")
    await asyncio.to_thread(shutil.rmtree, tmp, True)
    done = 0
    try:
        for file, size in files:
            dest = tmp / file.relative_to(source)
            await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.copy2, file, dest)
            done += size
            yield Progress(f"copying {file.name}", completed=done, total=total)
        await asyncio.to_thread(os.replace, tmp, target)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        raise


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
        audit: AuditWriter | None = None,
        data_dir: Path | None = None,
        hosts: Sequence[Host] = (),
        fleet_settings: FleetSettings | None = None,
        host_backends: Callable[[Host], Sequence[Backend]] | None = None,
    ) -> None:
        """Args (the less obvious):
        hosts: The fleet (``[[hosts]]``), the local host first; none: the local host only.
        fleet_settings: ``[fleet]`` (interval, timeout, read-only…).
        host_backends: Builds the backend clients of a remote host when it becomes the current
            one (default: :func:`backends_for_host` with default settings).
        """
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
        self._other_rate: float | None = None
        self._chat_session: ChatSession | None = None
        self.loaded_models: tuple[RunningModel, ...] | None = None
        """What the backends held at the last :meth:`refresh_loaded_models` (``None``: not yet)."""
        self.audit = audit
        """Where model operations are recorded (``None``: nowhere)."""
        self._audit_writes: set[asyncio.Task[None]] = set()
        self._data_dir = data_dir
        self._stores: dict[str, object] = {}
        self._store_lock: asyncio.Lock | None = None
        self._init_fleet(hosts, fleet_settings, host_backends)

    @classmethod
    def from_config(cls, config: Config, *, monitor: Monitor | None = None) -> Controller:
        """Build the controller the settings describe (``monitor``: a replay, for tests)."""
        from tui.config import data_dir
        from tui.persist import AuditFile

        folder = data_dir()
        return cls(
            build_backends(config),
            monitor=monitor,
            probe_timeout=config.probe_timeout,
            retry_interval=config.retry_interval,
            monitor_interval=config.monitor_interval,
            disk_paths=monitor_disk_paths(config),
            audit=AuditFile(folder),
            data_dir=folder,
            hosts=config.hosts,
            fleet_settings=config.fleet,
            host_backends=lambda host: backends_for_host(config, host),
        )

    @property
    def data_dir(self) -> Path:
        """The folder of slmdeck's own data (history, drafts, exports, managed models)."""
        if self._data_dir is None:
            from tui.config import data_dir

            return data_dir()
        return self._data_dir

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
            BackendError: The backend cannot unload models or refused (the message says why);
                :class:`ReadOnlyRefused` on a read-only host.
        """
        self._refuse("unload", backend_id)
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

    # ------------------------------------------------------------------ hosts and the fleet

    def _init_fleet(
        self,
        hosts: Sequence[Host],
        settings: FleetSettings | None,
        host_backends: Callable[[Host], Sequence[Backend]] | None,
    ) -> None:
        from tui.fleet.hosts import LOCAL, FleetSettings, Host

        listed = list(hosts)
        if not listed or listed[0].name != LOCAL:
            listed.insert(0, Host(name=LOCAL))
        self.hosts: tuple[Host, ...] = tuple(listed)
        """The fleet, the local host first (the default context)."""
        self.fleet_settings: FleetSettings = settings or FleetSettings()
        self.current_host: str = LOCAL
        """The host every screen acts on (:meth:`use_host` changes it)."""
        self._host_backends = host_backends
        self._contexts: dict[str, _HostContext] = {
            LOCAL: _HostContext(self.backends, self.states, self.models)
        }
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._fleet: FleetCollector | None = None
        self._fleet_unsubscribe: Callable[[], None] | None = None

    def host(self, name: str | None = None) -> Host:
        """The host named ``name`` (default: the current one).

        Raises:
            BackendUnavailable: No host of that name is configured.
        """
        wanted = self.current_host if name is None else name
        for host in self.hosts:
            if host.name == wanted:
                return host
        names = ", ".join(h.name for h in self.hosts)
        raise BackendUnavailable(f"No host named {wanted!r} is configured (hosts: {names})")

    def fleet(self) -> list[HostView]:
        """Every host's latest view (empty until :meth:`start_fleet`); never waits on a host."""
        return self._fleet.snapshot() if self._fleet is not None else []

    def host_view(self, name: str | None = None) -> HostView | None:
        """The fleet's latest view of host ``name`` (default: the current one); None before the
        fleet is polled or for a host it does not know. Never waits on a host."""
        if self._fleet is None:
            return None
        return self._fleet.view(self.current_host if name is None else name)

    def strip_sample(self, local: Sample) -> tuple[Sample | None, str]:
        """What the gauge strip shows: ``local`` on the local host; on a remote one its own
        figures (node_exporter, GPU exporter, Prometheus) as a sample, or None and why not."""
        from tui.fleet.hosts import LOCAL

        if self.current_host == LOCAL:
            return local, ""
        from tui.fleet import figures

        host, view = self.host(), self.host_view()
        sample = figures.strip_sample(view, local)
        if sample is not None:
            return sample, ""
        return None, f"no host figures for {host.name} ({figures.missing(view, host)})"

    @property
    def fleet_started(self) -> bool:
        return self._fleet is not None

    def start_fleet(self, collector: FleetCollector | None = None, *, run: bool = True) -> None:
        """Begin polling the fleet (the Fleet screen's first showing, or start-up with hosts
        configured); later calls do nothing.

        Args:
            collector: One to use instead of one built from :attr:`hosts` (tests, benchmarks).
            run: Poll every interval in a task; False: only when :meth:`poll_fleet` (or the
                collector's ``poll_once``) is called, as tests do with a clock of their own.
        """
        if self._fleet is not None:
            return
        if collector is None:
            from tui.fleet.collector import FleetCollector

            collector = FleetCollector(self.hosts, self.fleet_settings)
        self._fleet = collector
        self._fleet_unsubscribe = collector.subscribe(
            lambda views: self._emit(FleetChanged(tuple(views)))
        )
        if run:
            self._spawn(collector.start(), "fleet:start")

    async def poll_fleet(self) -> list[HostView]:
        """Poll every due endpoint of the fleet now (key r on the Fleet screen)."""
        if self._fleet is None:
            self.start_fleet()
        assert self._fleet is not None
        return await self._fleet.poll_once()

    def read_only(self, backend_id: str = "") -> bool:
        """True when mutating operations (pull, delete, create, copy, rename, unload, import) are
        refused on ``backend_id`` (every backend of the current host shares its setting)."""
        from tui.fleet.hosts import ReadOnlyPolicy

        host = self.host()
        return not ReadOnlyPolicy.of([host], self.fleet_settings).allows("delete", host.name)

    def _refuse(self, operation: str, backend_id: str = "") -> None:
        """Raise :class:`ReadOnlyRefused` when ``operation`` may not run on the current host."""
        from tui.fleet.hosts import ReadOnlyError, check_mutation

        try:
            check_mutation(
                "delete" if operation == "rename" else operation, self.host(), self.fleet_settings
            )
        except ReadOnlyError as exc:
            scope = str(exc).partition(": ")[2]
            raise ReadOnlyRefused(f"{operation} refused: {scope}", backend=backend_id) from None

    async def use_host(self, name: str) -> None:
        """Make host ``name`` the current context: the controller's backends become its Ollama
        and OpenAI-compatible servers, which are probed again; listeners get the backends' states
        and models (as at start-up) and :class:`HostChanged`.

        A host's clients are kept once built, so running operations on the host left go on, and
        coming back is instant.

        Raises:
            BackendUnavailable: No host of that name is configured.
        """
        host = self.host(name)
        if name == self.current_host:
            return
        context = self._contexts.get(name)
        if context is None:
            factory = self._host_backends or (lambda h: backends_for_host(_default_config(), h))
            built = list(factory(host))
            context = _HostContext(
                {b.id: b for b in built},
                {
                    b.id: BackendState(b.id, b.kind, b.location, capabilities=b.capabilities)
                    for b in built
                },
                {b.id: () for b in built},
            )
            self._contexts[name] = context
        for task in self._watches.values():
            task.cancel()
        self._watches = {}
        gone = [b for b in self.backends if b not in context.backends]
        self.backends, self.states, self.models = context.backends, context.states, context.models
        self.current_host = name
        self.loaded_models = None
        if self._monitor is not None:
            self._monitor.set_loaded_models(())
        for backend_id in gone:
            self._emit(ModelsChanged(backend_id, ()))
        for backend_id, state in self.states.items():
            self._emit(BackendChanged(state))
            self._emit(ModelsChanged(backend_id, self.models[backend_id]))
        self._emit(HostChanged(name, self.read_only()))
        if self._started:
            self._watch_all()

    def _watch_all(self) -> None:
        for backend_id in self.backends:
            self._watches[backend_id] = self._spawn(self._watch(backend_id), f"watch:{backend_id}")

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
        """Begin probing every backend concurrently, and polling the fleet when hosts are
        configured; returns at once."""
        if self._started:
            return
        self._started = True
        self._watch_all()
        if len(self.hosts) > 1:
            self.start_fleet()

    async def _watch(self, backend_id: str) -> None:
        while True:
            state = await self.refresh(backend_id)
            if state.status is BackendStatus.UP or self.retry_interval <= 0:
                return
            await asyncio.sleep(self.retry_interval)

    async def refresh(self, backend_id: str) -> BackendState:
        """Probe one backend and re-read its models; never raises."""
        backend = self.backends[backend_id]
        # The host may change while this waits: what it learns goes to the host it asked.
        states, models_of = self.states, self.models
        try:
            detail = await asyncio.wait_for(backend.probe(), self.probe_timeout)
            models: tuple[ModelInfo, ...] = ()
            if backend.supports(Capability.LIST):
                models = tuple(await asyncio.wait_for(backend.list_models(), 30.0))
        except TimeoutError:
            state = self._set_state(
                states,
                backend_id,
                BackendStatus.DOWN,
                f"{_KIND_WORDS.get(backend.kind, backend.kind)} at "
                f"{getattr(backend, 'address', backend.location)} did not answer within "
                f"{self.probe_timeout:g} s",
            )
        except BackendError as exc:
            state = self._set_state(states, backend_id, BackendStatus.DOWN, str(exc))
        except Exception as exc:  # an unexpected bug in a backend: show it, don't crash
            log.exception("probe of %s failed", backend_id)
            state = self._set_state(
                states,
                backend_id,
                BackendStatus.DOWN,
                f"unexpected error: {type(exc).__name__}: {exc}",
            )
        else:
            models_of[backend_id] = models
            state = self._set_state(
                states,
                backend_id,
                BackendStatus.UP,
                detail,
                len(models),
                tuple(getattr(backend, "problems", ())),
            )
            if states is self.states:
                self._emit(ModelsChanged(backend_id, models))
            return state
        if models_of[backend_id]:
            models_of[backend_id] = ()
            if states is self.states:
                self._emit(ModelsChanged(backend_id, ()))
        return state

    async def refresh_all(self) -> list[BackendState]:
        return list(await asyncio.gather(*(self.refresh(b) for b in self.backends)))

    async def discover(self) -> list[BackendState]:
        """Probe all backends once (for headless commands) and return their states."""
        return await self.refresh_all()

    def _set_state(
        self,
        states: dict[str, BackendState],
        backend_id: str,
        status: BackendStatus,
        detail: str,
        count: int = 0,
        problems: tuple[str, ...] = (),
    ) -> BackendState:
        state = replace(
            states[backend_id],
            status=status,
            detail=detail,
            model_count=count,
            checked_at=time.time(),
            problems=problems,
        )
        states[backend_id] = state
        if states is self.states:
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

    def capabilities(self, backend_id: str) -> frozenset[Capability]:
        """What ``backend_id`` can do (nothing, for a backend that is not configured); on a
        read-only host, nothing that changes a model store or frees memory."""
        backend = self.backends.get(backend_id)
        if backend is None:
            return frozenset()
        if self.read_only(backend_id):
            return backend.capabilities - _MUTATING
        return backend.capabilities

    def supports(self, backend_id: str, capability: Capability) -> bool:
        return capability in self.capabilities(backend_id)

    def kind_of(self, backend_id: str) -> str:
        """The kind of ``backend_id`` (``ollama``, ``onnx``, ``openai``), or "" if unknown."""
        backend = self.backends.get(backend_id)
        return backend.kind if backend is not None else ""

    def backend_ids(
        self, capability: Capability | None = None, *, up: bool = False, kind: str = ""
    ) -> list[str]:
        """Configured backends, in order: those with ``capability``, of ``kind``, and up if asked."""
        return [
            b.id
            for b in self.backends.values()
            if (capability is None or capability in self.capabilities(b.id))
            and (not kind or b.kind == kind)
            and (not up or self.states[b.id].status is BackendStatus.UP)
        ]

    def can_rename(self, backend_id: str) -> bool:
        """True when the backend renames models, or can copy and delete them."""
        backend = self.backends.get(backend_id)
        if backend is None or self.read_only(backend_id):
            return False
        return (
            callable(getattr(backend, "rename", None))
            or {
                Capability.COPY,
                Capability.DELETE,
            }
            <= backend.capabilities
        )

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

        The rate of a reply streamed by the chat session is :attr:`live_tokens_per_second`.
        """
        return self.backend(backend_id).chat(model, messages, options)

    def chat_session(self) -> ChatSession:
        """The chat (history in the data dir, the open conversation, the reply streaming now),
        built on first use; the history is opened by its :meth:`~ChatSession.open`."""
        if self._chat_session is None:
            from tui.core.chat.session import ChatSession

            self._chat_session = ChatSession(self._open_chat_records, self.chat, _write_export)
        return self._chat_session

    def _open_chat_records(self) -> ChatStore:
        from tui.store.chats import open_chat_store

        return open_chat_store(self.data_dir)

    @property
    def live_tokens_per_second(self) -> float | None:
        """Rate of the reply streaming now, ``None`` when none is: the chat session's own, read
        when asked (nothing writes it per token); else a rate set by another source."""
        session = self._chat_session
        rate = session.live_rate if session is not None else None
        return rate if rate is not None else self._other_rate

    @live_tokens_per_second.setter
    def live_tokens_per_second(self, rate: float | None) -> None:
        self._other_rate = rate

    # ------------------------------------------------------------------ models

    async def show(self, backend_id: str, name: str) -> ModelDetails:
        """Everything ``backend_id`` says about model ``name``.

        Raises:
            BackendError: The backend is unknown, cannot show models or failed (says why).
        """
        return await self.backend(backend_id).show(name)

    async def delete(self, backend_id: str, name: str) -> None:
        """Delete model ``name``, record it in the audit log, then re-read the backend's models.

        Raises:
            BackendError: The model was not deleted (the message says why).
        """
        self._refuse("delete", backend_id)
        try:
            await self.backend(backend_id).delete(name)
        except BackendError as exc:
            self.record(backend_id, "delete", name, "failed", str(exc))
            raise
        self.record(backend_id, "delete", name, "done")
        await self.refresh(backend_id)

    async def copy(self, backend_id: str, source: str, target: str) -> None:
        """Copy model ``source`` as ``target`` (recorded), then re-read the backend's models.

        Raises:
            BackendError: Nothing was copied (the message says why).
        """
        self._refuse("copy", backend_id)
        what = f"{source} -> {target}"
        try:
            await self.backend(backend_id).copy(source, target)
        except BackendError as exc:
            self.record(backend_id, "copy", what, "failed", str(exc))
            raise
        self.record(backend_id, "copy", what, "done")
        await self.refresh(backend_id)

    async def rename(self, backend_id: str, source: str, target: str) -> None:
        """Rename model ``source`` to ``target`` (recorded), then re-read the backend's models.

        A backend with a ``rename`` of its own renames in one step. Otherwise the model is copied,
        the copy is checked to be there (``show``, or the model list), and only then is the
        source deleted: a failure at any step leaves the source as it was.

        Raises:
            BackendError: The rename did not happen, or only its copy did (the message says which).
        """
        self._refuse("rename", backend_id)
        backend = self.backend(backend_id)
        what = f"{source} -> {target}"
        try:
            native = getattr(backend, "rename", None)
            renamed = False
            if callable(native):
                try:
                    await native(source, target)
                    renamed = True
                except Unsupported:
                    pass  # a rename that says it cannot: copy and delete instead
            if not renamed:
                await backend.copy(source, target)
                await self._verify_copy(backend, source, target)
                try:
                    await backend.delete(source)
                except BackendError as exc:
                    raise BackendError(
                        f"{target} was created, but {source} could not be removed: {exc}",
                        backend=backend_id,
                    ) from exc
        except BackendError as exc:
            self.record(backend_id, "rename", what, "failed", str(exc))
            await self.refresh(backend_id)
            raise
        self.record(backend_id, "rename", what, "done")
        await self.refresh(backend_id)

    async def _verify_copy(self, backend: Backend, source: str, target: str) -> None:
        """Raise unless ``target`` exists now (so deleting ``source`` loses nothing)."""
        problem = f"the copy {target} could not be found after copying, so {source} was kept"
        if backend.supports(Capability.SHOW):
            try:
                await backend.show(target)
            except BackendError as exc:
                raise BackendResponseError(f"{problem} ({exc})", backend=backend.id) from exc
            return
        if backend.supports(Capability.LIST):
            names = {m.name for m in await backend.list_models()}
            if target in names or f"{target}:latest" in names:
                return
            raise BackendResponseError(problem, backend=backend.id)

    def pull(self, backend_id: str, name: str) -> Operation:
        """Start pulling model ``name`` into ``backend_id`` as an operation.

        Raises:
            ReadOnlyRefused: The current host is read-only (nothing is started).
        """
        self._refuse("pull", backend_id)
        backend = self.backend(backend_id)
        return self.run_operation("pull", f"pull {name}", backend_id, lambda: backend.pull(name))

    def import_gguf(self, backend_id: str, path: Path, name: str) -> Operation:
        """Import a local GGUF file as model ``name`` (hash, upload the blob, create)."""
        self._refuse("import", backend_id)
        backend = self.backend(backend_id)
        return self.run_operation(
            "import", f"import {name}", backend_id, lambda: backend.import_gguf(path, name)
        )

    def create(
        self,
        backend_id: str,
        request: CreateRequest,
        *,
        files: Sequence[Path] = (),
        adapters: Sequence[Path] = (),
    ) -> Operation:
        """Create model ``request.model``; local weight and adapter files are uploaded first."""
        self._refuse("create", backend_id)
        backend = self.backend(backend_id)

        def steps() -> AsyncIterator[Progress]:
            if files or adapters:
                # Local weights or an adapter: uploaded as blobs first (air-gapped: no registry).
                return backend.create_with_uploads(request, files=files, adapters=adapters)
            return backend.create(request)

        return self.run_operation("create", f"create {request.model}", backend_id, steps)

    async def save_settings(self, config: Config) -> str:
        """Write ``config`` to its file off the loop; returns why it could not be ("" when saved)."""
        from tui.config import save_config

        try:
            await asyncio.to_thread(save_config, config)
        except OSError as exc:
            return str(exc)
        return ""

    async def register_model_dir(
        self, backend_id: str, folder: Path, *, config: Config | None = None
    ) -> FolderAdded:
        """Make ``backend_id`` read models from ``folder`` too, and keep it in ``config``.

        The folder is added to ``config.model_dirs`` and the settings saved (a failure to save
        is told in the result: the folder is used for now); the entry goes to the audit log.

        Raises:
            BackendError: The backend does not read models from folders.
        """
        settings_error = ""
        if config is not None and folder not in config.model_dirs:
            from tui.config import save_config

            config.model_dirs.append(folder)
            try:
                await asyncio.to_thread(save_config, config)
            except OSError as exc:
                settings_error = str(exc)
        try:
            state = await self.add_model_dir(backend_id, folder)
        except BackendError as exc:
            self.record(backend_id, "register", str(folder), "failed", str(exc))
            raise
        self.record(backend_id, "register", str(folder), "done")
        return FolderAdded(state, settings_error)

    def copy_model_folder(
        self,
        backend_id: str,
        folder: Path,
        *,
        config: Config | None = None,
        registered: Callable[[FolderAdded | BackendError], None] | None = None,
    ) -> Operation:
        """Copy ``folder`` into ``<data dir>/models`` and register that managed folder.

        ``registered`` is told the outcome of the registration once the copy is done.
        """
        self._refuse("import", backend_id)
        managed = self.data_dir / "models"
        target = managed / folder.name

        async def steps() -> AsyncIterator[Progress]:
            await asyncio.to_thread(managed.mkdir, parents=True, exist_ok=True)
            async for step in copy_folder(folder, target):
                yield step
            try:
                added: FolderAdded | BackendError = await self.register_model_dir(
                    backend_id, managed, config=config
                )
            except BackendError as exc:
                added = exc
            if registered is not None:
                registered(added)

        return self.run_operation(
            "import", f"copy {folder.name}", backend_id, steps, refresh_after=False
        )

    def bench(
        self, targets: Sequence[tuple[str, str]], spec: BenchSpec, *, vram_source: str = ""
    ) -> tuple[Benchmark, Operation]:
        """Run ``spec`` on each ``(backend id, model)`` in turn, as one cancellable operation.

        The benchmark's :attr:`~tui.core.benchmark.Benchmark.results` fill in as models finish.

        Raises:
            BackendError: A backend is not configured (nothing is started).
        """
        from tui.core.benchmark import Benchmark, gpu_memory_used
        from tui.core.sanitize import sanitize

        chosen = [(self.backend(b), name) for b, name in targets]

        def vram() -> int | None:
            return gpu_memory_used(self.monitor.latest)

        from tui.monitor.procs import HostProcesses

        bench = Benchmark(
            chosen, spec, vram=vram, vram_source=vram_source, processes=HostProcesses()
        )
        names = ", ".join(sanitize(name) for _, name in targets)
        title = f"Bench {names}" if len(targets) < 3 else f"Bench {len(targets)} models"

        async def steps() -> AsyncIterator[Progress]:
            async for event in bench.run():
                yield Progress(event.status, event.completed, event.total)

        backends = ",".join(sorted({b for b, _ in targets}))
        return bench, self.run_operation("bench", title, backends, steps, refresh_after=False)

    # ------------------------------------------------------------------ audit

    def record(
        self, backend: str, operation: str, target: str, outcome: str, detail: str = ""
    ) -> None:
        """Append an entry to the audit log, in a thread; a failure is logged, never raised."""
        audit = self.audit
        if audit is None:
            return

        async def write() -> None:
            try:
                await asyncio.to_thread(audit.record, backend, operation, target, outcome, detail)
            except Exception:  # the log is a record, not a gate: the operation already happened
                log.exception("audit entry %s %s %s not written", operation, target, outcome)

        task = asyncio.get_running_loop().create_task(write(), name=f"audit:{operation}")
        self._audit_writes.add(task)
        task.add_done_callback(self._audit_writes.discard)

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
            # A snapshot, without the task: listeners keep events, and a done task holds all
            # that it last raised (its traceback and every frame in it).
            lambda _: self._emit(OperationUpdated(replace(op, task=None))),
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
                op.retryable = not isinstance(exc, ModelNotFound)
            except Exception as exc:
                log.exception("operation %s failed", title)
                op.state = OperationState.FAILED
                op.error = f"unexpected error: {type(exc).__name__}: {exc}"
            op.finished_at = time.monotonic()
            updates.finish(None)
            self._forget_finished()
            self.record(backend_id, kind, title.partition(" ")[2], op.state.value, op.error)
            if refresh_after and op.state is not OperationState.CANCELLED:
                await self.refresh(backend_id)

        op.task = self._spawn(runner(), f"op:{op.id}:{kind}")
        updates.push(None)  # the start, at once
        return op

    def _forget_finished(self) -> None:
        """Keep the running operations and the last :data:`FINISHED_KEPT` finished ones: a long
        session pulls and creates without end, and each done task holds what it last raised."""
        finished = [i for i, o in self.operations.items() if o.state is not OperationState.RUNNING]
        for op_id in finished[: max(0, len(finished) - FINISHED_KEPT)]:
            del self.operations[op_id]

    def cancel_operation(self, op_id: int) -> bool:
        op = self.operations.get(op_id)
        if op is None or op.task is None or op.task.done():
            return False
        op.task.cancel()
        return True

    def running_operations(self) -> list[Operation]:
        return [o for o in self.operations.values() if o.state is OperationState.RUNNING]

    # ------------------------------------------------------------------ records on disk

    async def chat_history(self) -> ChatHistory:
        """The chat history in the data dir, opened on first use (replies a crash left
        streaming are marked interrupted then).

        Raises:
            StoreError: The database cannot be opened (the message says why and where).
        """
        from tui.persist import ChatHistory

        return await self._store("chats", ChatHistory.open)

    async def drafts(self) -> DraftBook:
        """The editor's drafts in the data dir, opened on first use.

        Raises:
            StoreError: The database cannot be opened.
        """
        from tui.persist import DraftBook

        return await self._store("drafts", DraftBook.open)

    async def bench_results(self) -> BenchResults:
        """Stored bench results in the data dir, opened on first use.

        Raises:
            StoreError: The database cannot be opened.
        """
        from tui.persist import BenchResults

        return await self._store("bench", BenchResults.open)

    async def _store(self, name: str, opener: Callable[[Path], _Store]) -> _Store:
        # One of each, opened in a thread; two screens asking at once share the one opened.
        if self._store_lock is None:
            self._store_lock = asyncio.Lock()
        async with self._store_lock:
            store = self._stores.get(name)
            if store is None:
                store = await asyncio.to_thread(opener, self.data_dir)
                self._stores[name] = store
        return store  # type: ignore[return-value]

    async def read_document(self, path: Path) -> str:
        """The text of a Modelfile or inference_model.json on disk.

        Raises:
            FileReadError: It cannot be read (the message says why).
        """
        from tui.store.files import read_document

        return await asyncio.to_thread(read_document, path)

    async def save_document(
        self, path: Path, text: str, *, fs: FileSystem | None = None
    ) -> SaveResult:
        """Save ``text`` to ``path`` atomically, keeping the previous version as ``.bak``.

        Raises:
            FileSaveError: Nothing was written (the message says why); the file is unchanged.
        """
        from tui.store.files import DEFAULT_FS, save_atomic

        return await asyncio.to_thread(save_atomic, path, text, fs=fs or DEFAULT_FS)

    async def write_file(self, path: Path, text: str) -> None:
        """Write ``text`` to ``path`` atomically (an export, the clipboard file), creating its
        folder.

        Raises:
            OSError: It could not be written.
        """
        await asyncio.to_thread(_write_export, path, text)

    # ------------------------------------------------------------------ shutdown

    async def aclose(self) -> None:
        """Cancel background work, close every backend and store, release the monitor (NVML)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Audit entries are never cancelled: each is a short write, and the record must land.
        if self._audit_writes:
            await asyncio.gather(*self._audit_writes, return_exceptions=True)
        if self._chat_session is not None:
            try:
                await self._chat_session.close()
            except Exception:
                log.exception("closing the chat history failed")
        closers: list[Callable[[], None]] = [s.close for s in self._stores.values()]  # type: ignore[attr-defined]
        self._stores.clear()
        if self.audit is not None:
            closers.append(self.audit.close)
        for close in closers:
            try:
                await asyncio.to_thread(close)
            except Exception:
                log.exception("closing a store failed")
        if self._monitor is not None:
            self._monitor.close()
        if self._fleet is not None:
            if self._fleet_unsubscribe is not None:
                self._fleet_unsubscribe()
            try:
                await self._fleet.aclose()
            except Exception:
                log.exception("closing the fleet collector failed")
        every = [b for context in self._contexts.values() for b in context.backends.values()]
        for backend in every or list(self.backends.values()):
            try:
                await backend.aclose()
            except Exception:
                log.exception("closing %s failed", backend.id)
