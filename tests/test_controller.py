"""The controller over real backends: concurrent discovery, up/down with reasons, retries, operations."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import closed_port
from tests.ollama_replay import start_replay_server
from tests.waiting import until_loop
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
        controller = Controller([OllamaBackend(server.url)], retry_interval=0)
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
        controller = Controller([OllamaBackend(server.url)], retry_interval=0)
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
