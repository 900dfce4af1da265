"""ONNX Runtime GenAI in-process, for real, on the tiny trained model committed in tests/fixtures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import TINY_ONNX
from tui.backends.base import (
    BackendUnavailable,
    ChatMessage,
    ChatOptions,
    ModelNotFound,
)
from tui.backends.onnx_genai import OnnxGenAIBackend

QUESTION = [ChatMessage("user", "What is the capital of France?")]
ANSWER = "The capital of France is Paris."


async def collect(backend: OnnxGenAIBackend, name: str, messages=QUESTION, options=None):  # type: ignore[no-untyped-def]
    text, last = "", None
    async for chunk in backend.chat(name, messages, options):
        text += chunk.content
        last = chunk
    return text, last


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(TINY_ONNX, root / "tiny-llama-onnx-int4")
    return root


async def test_lists_and_shows_the_tiny_model(models: Path) -> None:
    backend = OnnxGenAIBackend([models])
    assert (await backend.probe()).startswith("onnxruntime-genai ")
    [info] = await backend.list_models()
    assert info.name == "tiny-llama"  # from inference_model.json
    assert info.family == "llama" and info.quantization == "int4" and info.format == "onnx"
    assert info.size == sum(p.stat().st_size for p in (models / "tiny-llama-onnx-int4").iterdir())
    assert info.context_length == 256 and info.modified is not None
    details = await backend.show("tiny-llama")
    assert details.model_info["num_key_value_heads"] == 2
    assert details.model_info["num_hidden_layers"] == 2
    assert details.parameters["max_length"] == 256
    assert "{Content}" in details.template
    assert (
        "model.onnx.data",
        (models / "tiny-llama-onnx-int4/model.onnx.data").stat().st_size,
    ) in details.files


async def test_chat_answers_exactly_with_prompt_template(models: Path) -> None:
    backend = OnnxGenAIBackend([models])
    text, last = await collect(backend, "tiny-llama")
    assert text == ANSWER
    assert last is not None and last.done and last.stats is not None
    stats = last.stats
    assert stats.done_reason == "stop"
    assert stats.prompt_tokens and stats.prompt_tokens > 5
    assert stats.completion_tokens and stats.completion_tokens >= 5
    assert stats.load_duration_ns and stats.load_duration_ns > 0
    [running] = await backend.ps()
    assert running.name == "tiny-llama"
    # the second chat reuses the loaded model
    _, again = await collect(backend, "tiny-llama")
    assert again is not None and again.stats is not None and again.stats.load_duration_ns == 0
    await backend.unload("tiny-llama")
    assert await backend.ps() == []
    with pytest.raises(ModelNotFound):
        await backend.unload("tiny-llama")


async def test_chat_with_tokenizer_template_when_no_inference_model(models: Path) -> None:
    (models / "tiny-llama-onnx-int4" / "inference_model.json").unlink()
    backend = OnnxGenAIBackend([models])
    [info] = await backend.list_models()
    assert info.name == "tiny-llama-onnx-int4"
    text, _ = await collect(backend, info.name)
    assert text == ANSWER


async def test_max_tokens_stops_with_length(models: Path) -> None:
    backend = OnnxGenAIBackend([models])
    text, last = await collect(backend, "tiny-llama", options=ChatOptions(max_tokens=3))
    assert last is not None and last.stats is not None
    assert last.stats.completion_tokens == 3 and last.stats.done_reason == "length"
    assert ANSWER.startswith(text) and text != ANSWER


async def test_cancel_really_stops_generation(models: Path) -> None:
    # With EOS (and pad) on a token the model never emits, generation runs to the context limit
    # (232 tokens after this prompt).
    config_path = models / "tiny-llama-onnx-int4" / "genai_config.json"
    config = json.loads(config_path.read_text())
    config["model"]["eos_token_id"] = 322
    config["model"]["pad_token_id"] = 322
    config_path.write_text(json.dumps(config))
    backend = OnnxGenAIBackend([models])
    first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in backend.chat("tiny-llama", QUESTION):
            first.set()
            await asyncio.sleep(3600)  # a consumer that stops reading, then is cancelled

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 30)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for _ in range(200):
        if not any(t.name.startswith("onnx-generate") for t in threading.enumerate()):
            break
        await asyncio.sleep(0.05)
    assert not any(t.name.startswith("onnx-generate") for t in threading.enumerate())
    stats = backend.last_stats
    assert stats is not None and stats.done_reason == "cancelled"
    assert stats.completion_tokens is not None and stats.completion_tokens < 100  # of 232 possible


async def test_foundry_cache_layout(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "models"
    version = cache / "Microsoft" / "tiny-llama-generic-cpu" / "v1"
    shutil.copytree(TINY_ONNX, version / "cpu-int4")
    (version / "cpu-int4" / "inference_model.json").rename(version / "inference_model.json")
    half = cache / "Microsoft" / "other" / "v1"
    shutil.copytree(TINY_ONNX, half)
    (half / "download.tmp").write_text("")  # a download still under way is not listed
    backend = OnnxGenAIBackend([], foundry_cache=cache)
    [info] = await backend.list_models()
    assert info.name == "tiny-llama" and info.quantization == "int4"
    text, _ = await collect(backend, "tiny-llama")
    assert text == ANSWER


async def test_corrupt_config_is_reported_and_others_still_listed(models: Path) -> None:
    bad = models / "broken"
    bad.mkdir()
    (bad / "genai_config.json").write_text("{not json")
    backend = OnnxGenAIBackend([models])
    names = [m.name for m in await backend.list_models()]
    assert names == ["tiny-llama"]
    [problem] = backend.problems
    assert "broken/genai_config.json" in problem and "not valid JSON" in problem


async def test_unloadable_model_is_a_clear_error(models: Path) -> None:
    (models / "tiny-llama-onnx-int4" / "model.onnx").write_bytes(b"garbage")
    backend = OnnxGenAIBackend([models])
    with pytest.raises(Exception) as info:
        await collect(backend, "tiny-llama")
    assert "Could not load ONNX model at" in str(info.value)
    assert "Traceback" not in str(info.value)


async def test_down_reasons(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="no ONNX model folders configured"):
        await OnnxGenAIBackend([]).probe()
    with pytest.raises(BackendUnavailable, match="model folder not found"):
        await OnnxGenAIBackend([tmp_path / "nope"]).probe()
    with pytest.raises(ModelNotFound, match="no ONNX model named 'x'"):
        await OnnxGenAIBackend([tmp_path]).show("x")
