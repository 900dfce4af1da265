"""The controller over real backends: concurrent discovery, up/down with reasons, retries, operations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import REACHABLE, closed_port
from tests.ollama_replay import start_replay_server
from tests.waiting import until_loop
from tui.backends.base import Progress
from tui.backends.ollama import OllamaBackend
from tui.controller import (
    BackendChanged,
    BackendStatus,
    Controller,
    Event,
    ModelsChanged,
    OperationState,
    OperationUpdated,
)


async def test_discovers_up_and_down_concurrently() -> None:
    with start_replay_server() as server:
        up = OllamaBackend(server.url, backend_id="ollama")
        down = OllamaBackend(f"127.0.0.1:{closed_port()}", backend_id="ollama-2")
        controller = Controller([up, down], probe_timeout=2.0, retry_interval=0)
        events: list[Event] = []
        controller.subscribe(events.append)
        states = await controller.discover()
        await controller.aclose()
    by_id = {s.id: s for s in states}
    assert by_id["ollama"].status is BackendStatus.UP
    assert by_id["ollama"].detail.startswith("Ollama ")
    assert by_id["ollama"].model_count == len(controller.models["ollama"]) > 0
    assert by_id["ollama-2"].status is BackendStatus.DOWN
    assert "is not running (connection refused)" in by_id["ollama-2"].detail
    assert any(isinstance(e, ModelsChanged) and e.backend_id == "ollama" for e in events)
    assert {e.state.id for e in events if isinstance(e, BackendChanged)} == {"ollama", "ollama-2"}
    names = {m.name for m in controller.all_models()}
    assert "llama3.2:latest" in names


async def test_retries_a_down_backend_until_it_comes_up() -> None:
    port = closed_port()
    backend = OllamaBackend(f"127.0.0.1:{port}")
    controller = Controller([backend], probe_timeout=2.0, retry_interval=0.2)
    controller.start()
    await until_loop(lambda: controller.states["ollama"].status is BackendStatus.DOWN)
    assert controller.states["ollama"].status is BackendStatus.DOWN
    with start_replay_server(port=port):
        await until_loop(lambda: controller.states["ollama"].status is BackendStatus.UP)
        assert controller.states["ollama"].status is BackendStatus.UP
        await controller.aclose()


async def test_pull_operation_reports_progress_and_can_be_cancelled() -> None:
    with start_replay_server(pull_rate=2_000_000) as server:
        controller = Controller(
            [OllamaBackend(server.url)], retry_interval=0, probe_timeout=REACHABLE
        )
        await controller.discover()
        updates: list[OperationUpdated] = []
        controller.subscribe(
            lambda e: updates.append(e) if isinstance(e, OperationUpdated) else None
        )
        backend = controller.backend("ollama")
        op = controller.run_operation(
            "pull", "pull smollm2", "ollama", lambda: backend.pull("smollm2:135m")
        )
        await until_loop(lambda: op.progress is not None and op.progress.completed)
        assert op.state is OperationState.RUNNING
        assert op.progress is not None and op.progress.total
        assert controller.cancel_operation(op.id)
        assert op.task is not None
        await asyncio.gather(op.task, return_exceptions=True)
        assert op.state is OperationState.CANCELLED
        assert not controller.cancel_operation(op.id)
        assert updates[-1].operation.state is OperationState.CANCELLED
        await controller.aclose()


async def test_failed_operation_keeps_a_readable_error() -> None:
    with start_replay_server() as server:
        controller = Controller(
            [OllamaBackend(server.url)], retry_interval=0, probe_timeout=REACHABLE
        )
        backend = controller.backend("ollama")
        op = controller.run_operation(
            "pull", "pull nosuch", "ollama", lambda: backend.pull("nosuchmodel-xyz:1b")
        )
        assert op.task is not None
        await op.task
        assert op.state is OperationState.FAILED
        assert op.error and "Traceback" not in op.error
        await controller.aclose()


async def test_unknown_backend_is_a_clear_error() -> None:
    controller = Controller([], retry_interval=0)
    from tui.backends.base import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="No backend named 'x'"):
        controller.backend("x")


# ------------------------------------------------------------------ services and the audit log


class Audit:
    """An audit writer that keeps entries in memory (or fails, like a full disk)."""

    def __init__(self, fail: bool = False) -> None:
        self.entries: list[tuple[str, str, str, str, str]] = []
        self.fail = fail
        self.closed = False

    def record(
        self, backend: str, operation: str, target: str, outcome: str, detail: str = ""
    ) -> None:
        if self.fail:
            from tui.store.db import StoreError

            raise StoreError("Could not write to slmdeck.db: database or disk is full")
        self.entries.append((backend, operation, target, outcome, detail))

    def close(self) -> None:
        self.closed = True


async def test_model_changes_are_recorded_and_reread() -> None:
    with start_replay_server() as server:
        audit = Audit()
        controller = Controller([OllamaBackend(server.url)], retry_interval=0, audit=audit)
        await controller.discover()
        await controller.copy("ollama", "qwen2.5:0.5b", "mine:a")
        assert "mine:a" in {m.name for m in controller.all_models()}
        await controller.rename("ollama", "mine:a", "mine:b")
        names = {m.name for m in controller.all_models()}
        assert "mine:b" in names and "mine:a" not in names
        await controller.delete("ollama", "mine:b")
        assert "mine:b" not in {m.name for m in controller.all_models()}
        from tui.backends.base import BackendError

        with pytest.raises(BackendError):
            await controller.delete("ollama", "no-such-model:1b")
        op = controller.pull("ollama", "nosuchmodel-xyz:1b")
        assert op.task is not None
        await op.task
        await controller.aclose()
    assert [(e[1], e[2], e[3]) for e in audit.entries] == [
        ("copy", "qwen2.5:0.5b -> mine:a", "done"),
        ("rename", "mine:a -> mine:b", "done"),
        ("delete", "mine:b", "done"),
        ("delete", "no-such-model:1b", "failed"),
        ("pull", "nosuchmodel-xyz:1b", "failed"),
    ]
    assert audit.entries[3][4] and audit.entries[4][4] == op.error  # the reason is kept
    assert audit.closed


async def test_a_failing_audit_log_is_logged_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with start_replay_server() as server:
        controller = Controller([OllamaBackend(server.url)], retry_interval=0, audit=Audit(True))
        await controller.discover()
        await controller.copy("ollama", "qwen2.5:0.5b", "mine:a")  # does not raise
        await controller.aclose()  # waits for the audit write
    assert "mine:a" in {m.name for m in controller.all_models()}
    assert any("audit entry copy" in r.getMessage() for r in caplog.records)


class Renaming:
    """A fake backend: copy that claims success but copies nothing, or a rename of its own."""

    def __init__(self, *, native: bool) -> None:
        from tui.backends.base import Capability

        self.id, self.kind, self.location = "fake", "fake", "memory"
        self.capabilities = frozenset({Capability.LIST, Capability.COPY, Capability.DELETE})
        self.models = {"a"}
        self.calls: list[str] = []
        if native:
            self.rename = self._rename

    def supports(self, capability: object) -> bool:
        return capability in self.capabilities

    async def probe(self) -> str:
        return "fake"

    async def list_models(self) -> list[object]:
        from tui.backends.base import ModelInfo

        return [ModelInfo(name, "fake") for name in sorted(self.models)]

    async def copy(self, source: str, target: str) -> None:
        self.calls.append("copy")  # and loses it

    async def delete(self, name: str) -> None:
        self.calls.append("delete")
        self.models.discard(name)

    async def _rename(self, source: str, target: str) -> None:
        self.calls.append("rename")
        self.models = (self.models - {source}) | {target}

    async def aclose(self) -> None:
        pass


async def test_rename_keeps_the_source_when_the_copy_is_not_there() -> None:
    from tui.backends.base import BackendError

    backend = Renaming(native=False)
    audit = Audit()
    controller = Controller([backend], retry_interval=0, audit=audit)  # type: ignore[list-item]
    await controller.discover()
    assert controller.can_rename("fake")
    with pytest.raises(BackendError, match="so a was kept"):
        await controller.rename("fake", "a", "b")
    assert backend.calls == ["copy"] and backend.models == {"a"}
    await controller.aclose()
    assert [(e[1], e[3]) for e in audit.entries] == [("rename", "failed")]


async def test_rename_is_one_step_where_the_backend_can() -> None:
    backend = Renaming(native=True)
    controller = Controller([backend], retry_interval=0)  # type: ignore[list-item]
    await controller.discover()
    await controller.rename("fake", "a", "b")
    assert backend.calls == ["rename"]
    assert [m.name for m in controller.all_models()] == ["b"]
    await controller.aclose()


async def test_stores_are_opened_once_and_closed_with_the_controller(tmp_path) -> None:  # type: ignore[no-untyped-def]
    controller = Controller([], retry_interval=0, data_dir=tmp_path)
    first, again = await asyncio.gather(controller.chat_history(), controller.chat_history())
    assert first is again
    session = await first.create_session("t", "ollama", "m")
    drafts = await controller.drafts()
    await drafts.save("new:1", "modelfile", "FROM x")
    assert [d.key for d in await drafts.pending()] == ["new:1"]
    assert (tmp_path / "slmdeck.db").is_file()
    await controller.aclose()
    from tui.persist import ChatHistory

    reopened = ChatHistory.open(tmp_path)
    assert [s.id for s in await reopened.sessions()] == [session.id]
    reopened.close()


async def test_finished_operations_are_forgotten_but_the_recent_and_running_kept() -> None:
    """A long session runs operations without end: the controller keeps the running ones and
    the last FINISHED_KEPT finished ones (each done task holds what it last raised)."""
    from tui.controller import FINISHED_KEPT

    controller = Controller([], retry_interval=0)
    release = asyncio.Event()

    async def waits() -> AsyncIterator[Progress]:
        await release.wait()
        yield Progress("done")

    async def quick() -> AsyncIterator[Progress]:
        yield Progress("done")

    running = controller.run_operation("pull", "pull slow", "ollama", waits, refresh_after=False)
    ops = [
        controller.run_operation("pull", f"pull m{i}", "ollama", quick, refresh_after=False)
        for i in range(FINISHED_KEPT + 15)
    ]
    for op in ops:
        assert op.task is not None
        await op.task
    kept = set(controller.operations)
    assert running.id in kept and running.state is OperationState.RUNNING
    assert kept - {running.id} == {op.id for op in ops[-FINISHED_KEPT:]}
    release.set()
    assert running.task is not None
    await running.task
    assert len(controller.operations) == FINISHED_KEPT
    await controller.aclose()


async def test_operation_events_are_snapshots_without_the_task() -> None:
    """Listeners keep the events they are sent (a panel, a screen catching up); a done task holds
    what it last raised, its traceback and every frame in it, so no event carries the task."""
    controller = Controller([], retry_interval=0)
    events: list[OperationUpdated] = []
    controller.subscribe(lambda e: events.append(e) if isinstance(e, OperationUpdated) else None)

    async def cancelled() -> AsyncIterator[Progress]:
        yield Progress("pulling")
        await asyncio.Event().wait()  # until cancelled
        yield Progress("done")

    op = controller.run_operation("pull", "pull m", "ollama", cancelled, refresh_after=False)
    assert op.task is not None
    await until_loop(lambda: any(e.operation.progress for e in events), "the progress")
    assert controller.cancel_operation(op.id)
    await asyncio.gather(op.task, return_exceptions=True)
    await until_loop(lambda: events[-1].operation.state is OperationState.CANCELLED, "the end")
    assert events and all(e.operation.task is None for e in events)
    assert all(e.operation is not op for e in events)
    await controller.aclose()
