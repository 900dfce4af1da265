"""ONNX Runtime GenAI in-process, for real, on the tiny trained model committed in tests/fixtures.

The model answers "What is the capital of France?" greedily with exactly "The capital of France is
Paris." (see tests/fixtures/build_tiny_model.py), so the chat tests check the exact text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import AsyncGeneratorType

import pytest

from tests.conftest import REPO, TINY_ONNX
from tui.backends.base import (
    BackendResponseError,
    BackendUnavailable,
    Capability,
    ChatChunk,
    ChatMessage,
    ChatOptions,
    ModelNotFound,
)
from tui.backends.onnx_genai import WINDOW, OnnxGenAIBackend, detect_precision, render_prompt

QUESTION = [ChatMessage("user", "What is the capital of France?")]
ANSWER = "The capital of France is Paris."
FOLDER = TINY_ONNX.name
GENAI = f"onnxruntime-genai {metadata.version('onnxruntime-genai')}"
"""What probe names: the installed version (the dependency is a ``>=`` pin, not one release)."""
CHATML_HEADERS = {  # ChatML with the reply header in "assistant" (Foundry's catalog style)
    "system": "<|im_start|>system\n{Content}<|im_end|>\n",
    "user": "<|im_start|>user\n{Content}<|im_end|>\n",
    "assistant": "<|im_start|>assistant\n{Content}<|im_end|>\n",
    "prompt": "<|im_start|>user\n{Content}<|im_end|>\n<|im_start|>assistant\n",
}


async def collect(
    backend: OnnxGenAIBackend,
    name: str,
    messages: Sequence[ChatMessage] = QUESTION,
    options: ChatOptions | None = None,
) -> tuple[str, ChatChunk]:
    text, last = "", None
    async for chunk in backend.chat(name, messages, options):
        assert last is None or not last.done, "nothing may follow the done chunk"
        text += chunk.content
        last = chunk
    assert last is not None and last.done and last.stats is not None
    return text, last


def generation_threads(before: Sequence[threading.Thread] = ()) -> list[threading.Thread]:
    """Live generation threads, leaving out ``before`` (threads of earlier chats still exiting)."""
    return [
        t for t in threading.enumerate() if t.name.startswith("onnx-generate:") and t not in before
    ]


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(TINY_ONNX, root / FOLDER)
    return root


def never_ending(folder: Path) -> None:
    """Point EOS (and pad) at a token the model never emits: generation runs to the context."""
    path = folder / "genai_config.json"
    config = json.loads(path.read_text())
    config["model"]["eos_token_id"] = config["model"]["vocab_size"] - 1
    config["model"]["pad_token_id"] = config["model"]["vocab_size"] - 1
    path.write_text(json.dumps(config))


# ------------------------------------------------------------------------------------ list and show


async def test_probe_list_and_show_the_committed_model() -> None:
    backend = OnnxGenAIBackend([TINY_ONNX])  # a configured dir may be a model folder itself
    assert backend.kind == "onnx"
    assert backend.capabilities == {
        Capability.LIST,
        Capability.SHOW,
        Capability.CHAT,
        Capability.PS,
        Capability.UNLOAD,
    }
    assert await backend.probe() == f"{GENAI}, 1 model dir"
    [info] = await backend.list_models()
    assert info.name == "tiny-llama"  # from inference_model.json
    assert (info.backend, info.family, info.format) == ("onnx", "llama", "onnx")
    assert info.quantization == "int4"
    assert info.size == sum(p.stat().st_size for p in TINY_ONNX.iterdir())
    assert info.path == str(TINY_ONNX) and info.context_length == 256
    assert info.modified is not None
    newest = max(p.stat().st_mtime for p in TINY_ONNX.iterdir())
    assert info.modified.timestamp() == pytest.approx(newest, abs=1e-3)
    assert info.parameter_size.startswith("~") and info.parameter_size.endswith("K")

    details = await backend.show("tiny-llama")
    assert details.info == info
    assert details.model_info["num_hidden_layers"] == 2
    assert details.model_info["num_attention_heads"] == 4
    assert details.model_info["num_key_value_heads"] == 2
    assert details.model_info["head_size"] == 16 and details.model_info["hidden_size"] == 64
    assert details.model_info["context_length"] == 256 == details.context_length
    assert details.model_info["vocab_size"] == 323
    assert details.parameters["max_length"] == 256 and details.parameters["do_sample"] is False
    assert (
        json.loads(details.template)
        == json.loads((TINY_ONNX / "inference_model.json").read_text())["PromptTemplate"]
    )
    assert details.capabilities == ("completion",)
    assert ("model.onnx.data", (TINY_ONNX / "model.onnx.data").stat().st_size) in details.files
    assert {name for name, _ in details.files} == {p.name for p in TINY_ONNX.iterdir()}


def test_probe_does_not_import_onnxruntime_genai() -> None:
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from tui.backends.onnx_genai import OnnxGenAIBackend\n"
        f"b = OnnxGenAIBackend([Path({str(TINY_ONNX)!r})])\n"
        "print(asyncio.run(b.probe()))\n"
        "print(len(asyncio.run(b.list_models())))\n"
        "print('onnxruntime_genai' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [f"{GENAI}, 1 model dir", "1", "False"]


async def test_probe_down_reasons(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="no ONNX model folders configured"):
        await OnnxGenAIBackend([]).probe()
    with pytest.raises(BackendUnavailable, match=r"model folder not found: .*nope"):
        await OnnxGenAIBackend([tmp_path / "nope"]).probe()
    both = OnnxGenAIBackend([tmp_path, tmp_path / "nope"], foundry_cache=tmp_path)
    assert await both.probe() == f"{GENAI}, 2 model dirs"


async def test_nested_dirs_depth_and_unique_names(tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(TINY_ONNX, root / "a" / "b" / "tiny")  # 3 levels down: found
    shutil.copytree(TINY_ONNX, root / "c" / "tiny")
    (root / "c" / "tiny" / "inference_model.json").unlink()
    shutil.copytree(TINY_ONNX, root / "x" / "y" / "z" / "w")  # 4 levels down: too deep
    shutil.copytree(TINY_ONNX, root / ".hidden" / "tiny")
    backend = OnnxGenAIBackend([root, tmp_path / "missing"])
    infos = await backend.list_models()
    assert {i.name: i.path for i in infos} == {
        "tiny-llama": str(root / "a" / "b" / "tiny"),
        "tiny": str(root / "c" / "tiny"),
    }
    # the same folder reached twice is listed once; a second model of one name gets a suffix
    shutil.copytree(TINY_ONNX, tmp_path / "more" / "tiny-llama")
    backend = OnnxGenAIBackend([root, root / "a", tmp_path / "more"])
    names = [i.name for i in await backend.list_models()]
    assert names == ["tiny-llama", "tiny", "tiny-llama-2"]
    assert (await backend.show("tiny-llama-2")).info.path == str(tmp_path / "more" / "tiny-llama")


async def test_foundry_cache_layout(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "models"
    model = cache / "Microsoft" / "tiny-llama-generic-cpu"
    shutil.copytree(TINY_ONNX, model / "v1" / "cpu-int4-rtn-block-32")
    # Foundry keeps inference_model.json at the version's root, the config one level down
    (model / "v1" / "cpu-int4-rtn-block-32" / "inference_model.json").rename(
        model / "v1" / "inference_model.json"
    )
    plain = cache / "Microsoft" / "plain-cpu" / "v2"
    shutil.copytree(TINY_ONNX, plain)
    (plain / "inference_model.json").unlink()
    pending = cache / "Microsoft" / "pending" / "v1"
    shutil.copytree(TINY_ONNX, pending)
    (pending / "download.tmp").write_text("")  # a download still under way is not listed
    backend = OnnxGenAIBackend([], foundry_cache=cache)
    assert await backend.probe() == f"{GENAI}, 1 model dir"
    infos = {i.name: i for i in await backend.list_models()}
    assert set(infos) == {"tiny-llama", "plain-cpu/v2"}
    assert infos["tiny-llama"].quantization == "int4"
    assert infos["tiny-llama"].path == str(model / "v1" / "cpu-int4-rtn-block-32")
    text, _ = await collect(backend, "tiny-llama")
    assert text == ANSWER
    text, _ = await collect(backend, "plain-cpu/v2")  # the tokenizer's own template
    assert text == ANSWER
    await backend.aclose()


async def test_corrupt_config_is_reported_and_others_still_listed(models: Path) -> None:
    bad = models / "broken"
    bad.mkdir()
    (bad / "genai_config.json").write_text("{not json")
    empty = models / "nomodel"
    empty.mkdir()
    (empty / "genai_config.json").write_text('{"search": {}}')
    backend = OnnxGenAIBackend([models])
    assert [m.name for m in await backend.list_models()] == ["tiny-llama"]
    problems = backend.problems
    assert len(problems) == 2
    assert any(
        f"{bad / 'genai_config.json'} cannot be used: it is not valid JSON" in p for p in problems
    )
    assert any("it has no 'model' section" in p for p in problems)
    with pytest.raises(BackendResponseError, match=r"broken/genai_config\.json cannot be used"):
        await backend.show("broken")
    with pytest.raises(BackendResponseError, match="it is not valid JSON"):
        await collect(backend, "broken")
    with pytest.raises(ModelNotFound, match="no ONNX model named 'other'"):
        await backend.show("other")
    with pytest.raises(ModelNotFound, match="no ONNX model named 'other'"):
        await collect(backend, "other")


def test_precision_detection(tmp_path: Path) -> None:
    config = json.loads((TINY_ONNX / "genai_config.json").read_text())
    assert detect_precision(TINY_ONNX, config, 1) == "int4"

    def graph(folder: str, content: bytes) -> Path:
        path = tmp_path / folder
        path.mkdir(parents=True)
        (path / "model.onnx").write_bytes(content)
        return path

    # MatMulNBits with bits=8: the attribute as protobuf bytes (name "bits", i=8, type INT)
    int8 = graph("q8", b"..MatMulNBits..*\x0b\n\x04bits\x18\x08\xa0\x01\x02..")
    assert detect_precision(int8, config, 1) == "int8"
    assert detect_precision(graph("qi", b"..MatMulInteger.."), config, 1) == "int8"
    # a float graph in a folder named int4 is not int4; a float word in the name is believed
    params = 2 * 323 * 64 + 2 * (2 * 64 * 4 * 16 + 2 * 64 * 2 * 16 + 8 * 64 * 64)
    assert detect_precision(graph("cpu-int4", b"..MatMul.."), config, 4 * params) == "fp32"
    assert detect_precision(graph("gpu-fp16", b"..MatMul.."), config, 4 * params) == "fp16"
    assert detect_precision(graph("plain", b"..MatMul.."), config, 2 * params) == "fp16"
    # no graph to read: the folder's name is all there is
    (tmp_path / "cuda-int4").mkdir()
    assert detect_precision(tmp_path / "cuda-int4", config, 0) == "int4"
    (tmp_path / "unknown").mkdir()
    assert detect_precision(tmp_path / "unknown", config, 0) == ""


# ------------------------------------------------------------------------------------ prompts


def test_prompt_template_rendering_matches_the_tokenizer_template() -> None:
    import onnxruntime_genai as og

    tokenizer = og.Tokenizer(og.Model(str(TINY_ONNX)))
    conversation = [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "What is the capital of France?"),
    ]
    expected = tokenizer.apply_chat_template(
        json.dumps([{"role": r, "content": c} for r, c in conversation]),
        add_generation_prompt=True,
    )
    fixture = json.loads((TINY_ONNX / "inference_model.json").read_text())["PromptTemplate"]
    # the fixture's "assistant" has no header: the answered user turn opens the reply via "prompt"
    assert fixture["assistant"] == "{Content}<|im_end|>\n"
    assert render_prompt(fixture, conversation) == expected
    assert render_prompt(CHATML_HEADERS, conversation) == expected
    assert render_prompt(fixture, conversation[3:]) == fixture["prompt"].replace(
        "{Content}", "What is the capital of France?"
    )


def test_prompt_template_defaults_and_odd_roles() -> None:
    # missing keys are "{Content}"; a tool turn reads as a user turn; a trailing reply opens nothing
    assert render_prompt({}, [("system", "s"), ("user", "u"), ("tool", "t")]) == "sut"
    template = {"user": "U:{Content};", "assistant": "A:{Content};", "prompt": "P:{Content};A:"}
    assert render_prompt(template, [("user", "1"), ("tool", "2")]) == "U:1;P:2;A:"
    assert render_prompt(template, [("user", "1"), ("assistant", "2")]) == "U:1;A:2;"
    braces = {"prompt": "{x} {Content} {Content}"}
    assert render_prompt(braces, [("user", "{y}")]) == "{x} {y} {y}"


# ------------------------------------------------------------------------------------ chat


async def test_chat_answers_exactly_then_ps_and_unload(models: Path) -> None:
    backend = OnnxGenAIBackend([models])
    assert await backend.ps() == []
    text, last = await collect(backend, "tiny-llama")
    assert text == ANSWER
    stats = last.stats
    assert stats is not None and stats.done_reason == "stop"
    assert stats.prompt_tokens is not None and stats.prompt_tokens > 5
    assert stats.completion_tokens is not None and 5 <= stats.completion_tokens < 20
    assert stats.load_duration_ns is not None and stats.load_duration_ns > 0
    assert stats.eval_duration_ns is not None and stats.eval_duration_ns > 0
    assert stats.prompt_eval_duration_ns is not None and stats.total_duration_ns is not None
    assert stats.total_duration_ns >= stats.load_duration_ns
    [running] = await backend.ps()
    folder_size = sum(p.stat().st_size for p in (models / FOLDER).iterdir())
    assert (running.name, running.backend, running.size) == ("tiny-llama", "onnx", folder_size)
    assert running.context_length == 256

    # the second chat reuses the loaded model
    text, again = await collect(backend, "tiny-llama")
    assert text == ANSWER
    assert again.stats is not None and again.stats.load_duration_ns == 0

    await backend.unload("tiny-llama")
    assert await backend.ps() == []
    await backend.unload("tiny-llama")  # a known model that is not loaded: nothing to do
    with pytest.raises(ModelNotFound):
        await backend.unload("no-such-model")
    _, reloaded = await collect(backend, "tiny-llama")
    assert reloaded.stats is not None and reloaded.stats.load_duration_ns
    await backend.aclose()
    assert await backend.ps() == []


async def test_chat_with_tokenizer_template_when_no_inference_model(models: Path) -> None:
    (models / FOLDER / "inference_model.json").unlink()
    backend = OnnxGenAIBackend([models])
    [info] = await backend.list_models()
    assert info.name == FOLDER
    details = await backend.show(FOLDER)
    assert details.template == (models / FOLDER / "chat_template.jinja").read_text()
    text, _ = await collect(backend, FOLDER)
    assert text == ANSWER


async def test_concurrent_chats_on_one_model(models: Path) -> None:
    backend = OnnxGenAIBackend([models])
    results = await asyncio.gather(*(collect(backend, "tiny-llama") for _ in range(3)))
    assert [text for text, _ in results] == [ANSWER] * 3
    assert len(await backend.ps()) == 1  # loaded once


async def test_max_tokens_ends_with_length(models: Path) -> None:
    backend = OnnxGenAIBackend([models])
    text, last = await collect(backend, "tiny-llama", options=ChatOptions(max_tokens=3))
    assert last.stats is not None
    assert last.stats.completion_tokens == 3 and last.stats.done_reason == "length"
    assert ANSWER.startswith(text) and text != ANSWER


async def test_num_ctx_caps_generation(models: Path) -> None:
    never_ending(models / FOLDER)
    backend = OnnxGenAIBackend([models])
    _, last = await collect(backend, "tiny-llama", options=ChatOptions(num_ctx=40))
    assert last.stats is not None and last.stats.prompt_tokens is not None
    assert last.stats.done_reason == "length"
    assert last.stats.prompt_tokens + (last.stats.completion_tokens or 0) == 40
    with pytest.raises(BackendResponseError, match="more than tiny-llama's context of 4"):
        await collect(backend, "tiny-llama", options=ChatOptions(num_ctx=4))


async def test_sampling_with_a_seed_is_repeatable(models: Path) -> None:
    backend = OnnxGenAIBackend([models])
    sampled = ChatOptions(temperature=1.5, top_p=0.95, seed=7, max_tokens=12)
    first, a = await collect(backend, "tiny-llama", options=sampled)
    second, _ = await collect(backend, "tiny-llama", options=sampled)
    assert first == second and a.stats is not None and a.stats.completion_tokens
    greedy, _ = await collect(backend, "tiny-llama", options=ChatOptions(temperature=0, seed=1))
    assert greedy == ANSWER


async def test_cancelling_the_consumer_stops_the_thread(models: Path) -> None:
    never_ending(models / FOLDER)  # 230-odd tokens possible after this prompt
    backend = OnnxGenAIBackend([models])
    first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in backend.chat("tiny-llama", QUESTION):
            first.set()
            await asyncio.Event().wait()  # a consumer that stops reading, then is cancelled

    before = generation_threads()
    task = asyncio.create_task(consume())
    await first.wait()
    threads = generation_threads(before)
    assert len(threads) == 1
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.to_thread(threads[0].join, 120)  # a bound only a broken stop reaches
    assert not threads[0].is_alive()
    stats = backend.last_stats
    assert stats is not None and stats.done_reason == "cancelled"
    assert stats.prompt_tokens is not None
    # Back-pressure makes the bound exact, whatever the machine's speed: the thread ran at most
    # WINDOW tokens ahead of the one token read, plus the one it generated before it stopped.
    assert stats.completion_tokens is not None
    assert stats.completion_tokens <= 1 + WINDOW + 1 < 256 - stats.prompt_tokens


async def test_closing_the_stream_stops_the_thread(models: Path) -> None:
    never_ending(models / FOLDER)
    backend = OnnxGenAIBackend([models])
    before = generation_threads()
    stream = backend.chat("tiny-llama", QUESTION)
    assert isinstance(stream, AsyncGeneratorType)
    chunk = await anext(stream)
    assert chunk.content and not chunk.done
    [thread] = generation_threads(before)
    await stream.aclose()
    await asyncio.to_thread(thread.join, 120)  # a bound only a broken stop reaches
    assert not thread.is_alive()
    stats = backend.last_stats
    assert stats is not None and stats.done_reason == "cancelled"
    # One token read, WINDOW more queued for it, one generated before the stop was seen.
    assert stats.completion_tokens is not None and stats.completion_tokens <= 1 + WINDOW + 1
    # the model stays loaded and answers the next question normally
    text, last = await collect(backend, "tiny-llama", options=ChatOptions(max_tokens=2))
    assert ANSWER.startswith(text) and last.stats is not None
    assert last.stats.done_reason == "length" and last.stats.load_duration_ns == 0


async def test_unloadable_model_is_a_clear_error(models: Path) -> None:
    (models / FOLDER / "model.onnx").write_bytes(b"garbage")
    backend = OnnxGenAIBackend([models])
    with pytest.raises(BackendResponseError) as err:
        await collect(backend, "tiny-llama")
    message = str(err.value)
    assert message.startswith(f"Could not load ONNX model at {models / FOLDER}: ")
    assert "Traceback" not in message and "\n" not in message
    assert await backend.ps() == []
