"""ONNX Runtime GenAI, in-process: the engine under Foundry Local, with no server at all.

Models are folders holding ``genai_config.json`` (and optionally Foundry Local's
``inference_model.json``), found in the configured model dirs and in Foundry Local's cache
(``<cache>/<Publisher>/<model-id>/v<N>/``, the config possibly one level further down).
``onnxruntime_genai`` is imported on first chat, never at start. Generation runs in a thread, token
by token; tokens cross to the event loop through a queue, and a stop flag checked between tokens
makes cancellation real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tui.backends.base import (
    Backend,
    BackendResponseError,
    BackendUnavailable,
    Capability,
    ChatChunk,
    ChatMessage,
    ChatOptions,
    ChatStats,
    ModelDetails,
    ModelInfo,
    ModelNotFound,
    RunningModel,
)
from tui.core.prompt_template import render_prompt

CONFIG = "genai_config.json"
INFERENCE_MODEL = "inference_model.json"
MAX_DEPTH = 4
WINDOW = 32
_PRECISION_WORDS = ("int4", "int8", "fp16", "bf16", "fp32")
_SEARCH_KEYS = ("max_length", "temperature", "top_p", "top_k", "do_sample", "repetition_penalty")


@dataclass(slots=True)
class _Folder:
    name: str
    path: Path
    config: dict[str, Any]
    inference_model: dict[str, Any] | None
    files: list[tuple[str, int]]
    size: int
    modified: datetime | None
    precision: str


@dataclass(slots=True)
class _Loaded:
    model: Any
    tokenizer: Any
    size: int
    loaded_at: float
    load_seconds: float
    lock: threading.Lock = field(default_factory=threading.Lock)


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("the top level is not a JSON object")
    return data


def _files(folder: Path) -> list[tuple[str, int]]:
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            out.append((entry.name, entry.stat().st_size))
    return out


def detect_precision(folder: Path, config: dict[str, Any], weights: int) -> str:
    """int4 / int8 / fp16 / fp32 of an ONNX GenAI folder.

    The folder's own name says it for Foundry Local and builder output (``cpu-int4-rtn-block-32``);
    otherwise the graph is scanned for quantized ops (MatMulNBits: int4 unless ``bits`` is 8;
    MatMulInteger: int8); a float graph is told apart by bytes per estimated parameter.
    """
    words = re.split(r"[^a-z0-9]+", "/".join(folder.parts[-3:]).lower())
    for word in _PRECISION_WORDS:
        if word in words:
            return word
    graph_name = str(config.get("model", {}).get("decoder", {}).get("filename", "model.onnx"))
    graph = folder / graph_name
    try:
        with graph.open("rb") as fh:
            head = fh.read(64 * 1024 * 1024)  # the graph; weights live in .onnx.data
    except OSError:
        head = b""
    if b"MatMulNBits" in head:
        # the "bits" attribute is stored as name b"bits" then a varint field; 8 bits is rare
        return "int8" if re.search(rb"bits\x20\x08", head) else "int4"
    if b"MatMulInteger" in head or b"DynamicQuantizeLinear" in head:
        return "int8"
    decoder = config.get("model", {}).get("decoder", {})
    hidden = int(decoder.get("hidden_size", 0) or 0)
    layers = int(decoder.get("num_hidden_layers", 0) or 0)
    vocab = int(config.get("model", {}).get("vocab_size", 0) or 0)
    params = 2 * vocab * hidden + 12 * layers * hidden * hidden
    if params and weights:
        return "fp32" if weights / params >= 3 else "fp16"
    return ""


def _param_estimate(config: dict[str, Any]) -> str:
    decoder = config.get("model", {}).get("decoder", {})
    hidden = int(decoder.get("hidden_size", 0) or 0)
    layers = int(decoder.get("num_hidden_layers", 0) or 0)
    vocab = int(config.get("model", {}).get("vocab_size", 0) or 0)
    params = 2 * vocab * hidden + 12 * layers * hidden * hidden
    if not params:
        return ""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= div:
            return f"~{params / div:.1f}{unit}"
    return f"~{params}"


class OnnxGenAIBackend(Backend):
    """Models in local folders, run in this process by onnxruntime-genai."""

    kind = "onnx"
    capabilities = frozenset(
        {Capability.LIST, Capability.SHOW, Capability.CHAT, Capability.PS, Capability.UNLOAD}
    )

    def __init__(
        self,
        model_dirs: Sequence[Path],
        *,
        backend_id: str = "onnx",
        foundry_cache: Path | None = None,
    ) -> None:
        roots = [Path(p).expanduser().absolute() for p in model_dirs]
        if foundry_cache is not None:
            roots.append(Path(foundry_cache).expanduser().absolute())
        location = ", ".join(str(p) for p in roots) or "no model dirs configured"
        super().__init__(backend_id, location)
        self.roots = roots
        self.foundry_cache = foundry_cache
        self._folders: dict[str, _Folder] = {}
        self._problems: list[str] = []
        self._loaded: dict[str, _Loaded] = {}
        self._load_lock = threading.Lock()
        self.last_stats: ChatStats | None = None
        """Figures of the last generation that ended, cancelled ones included (set by its thread)."""

    # ------------------------------------------------------------------ discovery

    async def probe(self) -> str:
        try:
            version = metadata.version("onnxruntime-genai")
        except metadata.PackageNotFoundError:
            raise BackendUnavailable(
                "onnxruntime-genai is not installed (pip install onnxruntime-genai)",
                backend=self.id,
            ) from None
        existing = [p for p in self.roots if p.is_dir()]
        if not self.roots:
            raise BackendUnavailable(
                "no ONNX model folders configured (set [onnx] model_dirs or SLMDECK_MODEL_DIRS)",
                backend=self.id,
            )
        if not existing:
            missing = ", ".join(str(p) for p in self.roots)
            raise BackendUnavailable(f"model folder not found: {missing}", backend=self.id)
        return f"onnxruntime-genai {version}, {len(existing)} model dir(s)"

    def _scan(self) -> tuple[dict[str, _Folder], list[str]]:
        found: dict[str, _Folder] = {}
        problems: list[str] = []
        seen: set[Path] = set()
        for root in self.roots:
            if not root.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                here = Path(dirpath)
                depth = len(here.relative_to(root).parts)
                if depth >= MAX_DEPTH:
                    dirnames[:] = []
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                if CONFIG not in filenames or here in seen:
                    continue
                if (here / "download.tmp").exists() or (here.parent / "download.tmp").exists():
                    continue  # Foundry Local: a download still under way
                seen.add(here)
                try:
                    folder = self._read_folder(here, root)
                except (OSError, ValueError) as exc:
                    problems.append(f"{here / CONFIG}: {exc}")
                    continue
                name = folder.name
                n = 2
                while name in found:
                    name = f"{folder.name}-{n}"
                    n += 1
                folder.name = name
                found[name] = folder
        return found, problems

    def _read_folder(self, here: Path, root: Path) -> _Folder:
        try:
            config = _read_json(here / CONFIG)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        if not isinstance(config.get("model"), dict):
            raise ValueError("no 'model' section")
        inference: dict[str, Any] | None = None
        # Foundry Local keeps inference_model.json at the model's root, genai_config.json may be one
        # level down (v1/); never look above the configured root.
        candidates = [here / INFERENCE_MODEL]
        if here != root:
            candidates.append(here.parent / INFERENCE_MODEL)
        for candidate in candidates:
            if candidate.is_file():
                try:
                    inference = _read_json(candidate)
                except (ValueError, OSError):
                    inference = None
                break
        files = _files(here)
        size = sum(s for _, s in files)
        mtimes = [(here / f).stat().st_mtime for f, _ in files]
        modified = datetime.fromtimestamp(max(mtimes), UTC) if mtimes else None
        weights = sum(s for f, s in files if f.endswith((".onnx", ".onnx.data")))
        name = ""
        if inference and isinstance(inference.get("Name"), str):
            name = inference["Name"]
        if not name:
            name = here.name
            if re.fullmatch(r"v\d+", name) or here.parent.name.lower() in ("cpu", "cuda", "gpu"):
                name = f"{here.parent.name}/{here.name}"
        return _Folder(
            name,
            here,
            config,
            inference,
            files,
            size,
            modified,
            detect_precision(here, config, weights),
        )

    async def list_models(self) -> list[ModelInfo]:
        folders, problems = await asyncio.to_thread(self._scan)
        self._folders, self._problems = folders, problems
        return [self._info(f) for f in folders.values()]

    @property
    def problems(self) -> list[str]:
        """Folders that looked like models but could not be read, with the reason."""
        return list(self._problems)

    def _info(self, f: _Folder) -> ModelInfo:
        model = f.config.get("model", {})
        ctx = model.get("context_length")
        return ModelInfo(
            name=f.name,
            backend=self.id,
            family=str(model.get("type", "")),
            parameter_size=_param_estimate(f.config),
            quantization=f.precision,
            size=f.size,
            modified=f.modified,
            format="onnx",
            path=str(f.path),
            context_length=int(ctx) if isinstance(ctx, int) else None,
        )

    async def _folder(self, name: str) -> _Folder:
        if name not in self._folders:
            await self.list_models()
        try:
            return self._folders[name]
        except KeyError:
            raise ModelNotFound(
                f"no ONNX model named {name!r} in {self.location}", backend=self.id
            ) from None

    async def show(self, name: str) -> ModelDetails:
        f = await self._folder(name)
        model = f.config.get("model", {})
        decoder = model.get("decoder", {})
        search = f.config.get("search", {})
        dims = {
            k: decoder[k]
            for k in (
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "head_size",
                "hidden_size",
            )
            if k in decoder
        }
        for key in ("context_length", "vocab_size", "type"):
            if key in model:
                dims[key] = model[key]
        template = ""
        prompt_template = (f.inference_model or {}).get("PromptTemplate")
        if isinstance(prompt_template, dict):
            template = json.dumps(prompt_template, indent=2)
        else:
            template = self._chat_template_text(f.path)
        return ModelDetails(
            info=self._info(f),
            parameters={k: v for k, v in search.items() if isinstance(v, int | float | bool | str)},
            template=template,
            capabilities=("completion",),
            context_length=dims.get("context_length"),
            model_info=dims,
            files=tuple(f.files),
            extra={"inference_model": f.inference_model, "precision": f.precision},
        )

    @staticmethod
    def _chat_template_text(folder: Path) -> str:
        jinja = folder / "chat_template.jinja"
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8", errors="replace")
        try:
            tc = _read_json(folder / "tokenizer_config.json")
        except (OSError, ValueError):
            return ""
        value = tc.get("chat_template")
        return value if isinstance(value, str) else ""

    # ------------------------------------------------------------------ running

    async def ps(self) -> list[RunningModel]:
        return [
            RunningModel(name=name, backend=self.id, size=loaded.size)
            for name, loaded in self._loaded.items()
        ]

    async def unload(self, name: str) -> None:
        if self._loaded.pop(name, None) is None:
            raise ModelNotFound(f"{name} is not loaded", backend=self.id)

    def _load(self, f: _Folder) -> _Loaded:
        with self._load_lock:
            if f.name in self._loaded:
                return self._loaded[f.name]
            try:
                import onnxruntime_genai as og
            except ImportError as exc:
                raise BackendUnavailable(
                    f"onnxruntime-genai cannot be imported: {exc}", backend=self.id
                ) from None
            with contextlib.suppress(Exception):
                og.disable_telemetry_events()  # air-gapped by default
            start = time.perf_counter()
            try:
                model = og.Model(str(f.path))
                tokenizer = og.Tokenizer(model)
            except Exception as exc:  # onnxruntime-genai raises plain RuntimeError
                raise BackendResponseError(
                    f"Could not load ONNX model at {f.path}: {exc}", backend=self.id
                ) from None
            loaded = _Loaded(model, tokenizer, f.size, time.time(), time.perf_counter() - start)
            self._loaded[f.name] = loaded
            return loaded

    def _prompt(self, f: _Folder, loaded: _Loaded, messages: Sequence[ChatMessage]) -> str:
        prompt_template = (f.inference_model or {}).get("PromptTemplate")
        if isinstance(prompt_template, dict):
            return render_prompt(prompt_template, [(m.role, m.content) for m in messages])
        payload = json.dumps([{"role": m.role, "content": m.content} for m in messages])
        try:
            return str(loaded.tokenizer.apply_chat_template(payload, add_generation_prompt=True))
        except Exception as exc:
            raise BackendResponseError(
                f"{f.name} has no PromptTemplate and its tokenizer has no usable chat template ({exc})",
                backend=self.id,
            ) from None

    async def chat(
        self, model: str, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        f = await self._folder(model)
        opts = options or ChatOptions()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        # Back-pressure: the thread runs at most WINDOW tokens ahead of the consumer, so a slow
        # screen never buffers a whole reply and a stopped consumer stops generation at once.
        window = threading.Semaphore(WINDOW)
        started = time.perf_counter()

        def put(kind: str, value: Any) -> bool:
            if kind == "text":
                while not window.acquire(timeout=0.05):
                    if stop.is_set():
                        return False
            with contextlib.suppress(RuntimeError):  # the loop closed while we finished
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            return True

        def generate() -> None:
            try:
                was_loaded = f.name in self._loaded
                load_start = time.perf_counter()
                loaded = self._load(f)
                load_ns = 0 if was_loaded else int((time.perf_counter() - load_start) * 1e9)
                prompt = self._prompt(f, loaded, messages)
                put("stats", self._generate(f, loaded, prompt, opts, stop, put, load_ns))
            except Exception as exc:
                put("error", exc)
            finally:
                put("end", None)

        thread = threading.Thread(target=generate, name=f"onnx-generate:{model}", daemon=True)
        thread.start()
        stats: ChatStats | None = None
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    window.release()
                    yield ChatChunk(content=value)
                elif kind == "stats":
                    stats = value
                elif kind == "error":
                    if isinstance(value, BackendResponseError | BackendUnavailable):
                        raise value
                    raise BackendResponseError(
                        f"ONNX generation failed: {value}", backend=self.id
                    ) from value
                elif kind == "end":
                    break
        finally:
            stop.set()  # cancellation or early close: the thread stops before its next token
        if stats is None:
            stats = ChatStats(total_duration_ns=int((time.perf_counter() - started) * 1e9))
        yield ChatChunk(done=True, stats=stats)

    def _generate(
        self,
        f: _Folder,
        loaded: _Loaded,
        prompt: str,
        opts: ChatOptions,
        stop: threading.Event,
        put: Any,
        load_ns: int,
    ) -> ChatStats:
        import onnxruntime_genai as og

        total_start = time.perf_counter()
        with loaded.lock:  # one generation at a time per loaded model
            tokens = loaded.tokenizer.encode(prompt)
            context = int(f.config.get("model", {}).get("context_length") or 2048)
            if len(tokens) >= context:
                raise BackendResponseError(
                    f"the prompt is {len(tokens)} tokens, more than {f.name}'s context of {context}",
                    backend=self.id,
                )
            max_length = context
            if opts.max_tokens:
                max_length = min(context, len(tokens) + opts.max_tokens)
            search: dict[str, Any] = {"max_length": max_length}
            if opts.temperature is not None:
                search["temperature"] = opts.temperature
                search["do_sample"] = opts.temperature > 0
            if opts.top_p is not None:
                search["top_p"] = opts.top_p
            if opts.seed is not None:
                search["random_seed"] = opts.seed
            params = og.GeneratorParams(loaded.model)
            params.set_search_options(**search)
            generator = og.Generator(loaded.model, params)
            prompt_start = time.perf_counter()
            generator.append_tokens(tokens)
            stream = loaded.tokenizer.create_stream()
            count = 0
            first_token_at: float | None = None
            reason = "stop"
            while not generator.is_done():
                if stop.is_set():
                    reason = "cancelled"
                    break
                generator.generate_next_token()
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                token = generator.get_next_tokens()[0]
                count += 1
                text = stream.decode(token)
                if text and not put("text", text):
                    reason = "cancelled"
                    break
            else:
                if len(tokens) + count >= max_length:
                    reason = "length"
            end = time.perf_counter()
            first = first_token_at or end
            self.last_stats = ChatStats(
                prompt_tokens=len(tokens),
                completion_tokens=count,
                prompt_eval_duration_ns=int((first - prompt_start) * 1e9),
                # The first step also runs the prefill, so decode time is measured over the
                # count-1 later steps and scaled to count tokens (tokens/s stays exact).
                eval_duration_ns=int((end - first) * 1e9 * count / (count - 1))
                if count > 1
                else None,
                total_duration_ns=int((end - total_start) * 1e9) + load_ns,
                load_duration_ns=load_ns,
                done_reason=reason,
            )
            return self.last_stats

    async def aclose(self) -> None:
        self._loaded.clear()
