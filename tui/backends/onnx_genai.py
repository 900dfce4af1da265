"""ONNX Runtime GenAI, in-process: the engine under Foundry Local, with no server at all.

Models are folders holding ``genai_config.json`` (and optionally Foundry Local's
``inference_model.json``), found in the configured model dirs (a dir may be a model folder itself or
hold model folders up to three levels down) and in Foundry Local's cache
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
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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
from tui.core.safe_files import file_kind, open_regular, read_regular_text

CONFIG = "genai_config.json"
INFERENCE_MODEL = "inference_model.json"
MODEL_DIR_DEPTH = 3
"""Levels below a configured model dir searched for model folders."""
FOUNDRY_DEPTH = 4
"""``<Publisher>/<model-id>/v<N>/<variant>`` below Foundry Local's cache root."""
WINDOW = 32
"""Tokens the generation thread may run ahead of the consumer (back-pressure)."""
GRAPH_SCAN_BYTES = 16 * 1024 * 1024
_PRECISION_WORDS = ("int4", "int8", "fp16", "bf16", "fp32")
_FLOAT_WORDS = ("fp16", "bf16", "fp32")
# ONNX AttributeProto as protobuf bytes: name (field 1) "bits", then i (field 3, varint).
_BITS_ATTR = re.compile(rb"\n\x04bits\x18([\x01-\x7f])")
TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
"""Both native libraries' telemetry opt-out. The Linux/macOS wheels (checked: onnxruntime 1.32.0,
onnxruntime-genai 0.18.0) each ship a 1DS uploader to mobile.events.data.microsoft.com with an
offline queue (``onnxruntime.db``, ``onnxruntime-genai.db``) and a ``deviceid`` file in
``$XDG_CACHE_HOME`` or ``~/.cache``/``Microsoft/DeveloperTools/.onnxruntime``. Each library reads
the variable once, when its telemetry starts (its first environment / model load), and then never
creates the uploader, the queue or the id. ``og.disable_telemetry_events()`` alone only drops the
detailed events: the uploader, the queue, the id and the DNS lookups remain."""


def disable_native_telemetry() -> None:
    """Turn ONNX Runtime's and ONNX Runtime GenAI's telemetry off for this process, for good.

    Must run before the first model load (it is called before ``onnxruntime_genai`` is imported);
    it overrides any value already set, since slmdeck contacts nothing but configured backends.
    """
    os.environ[TELEMETRY_ENV] = "1"


def telemetry_dir() -> Path:
    """Where the native libraries would keep their telemetry queue and device id (their source:
    ``GetDeviceIdStorageDir``); slmdeck never lets them create it."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "Microsoft" / "DeveloperTools" / ".onnxruntime"


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
    folder: _Folder
    load_seconds: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Unusable(Exception):
    """A model folder that cannot be used; ``str(err)`` is the whole sentence, path included."""


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a regular file; a FIFO or device is refused, never opened (it would
    block the scanning thread for good)."""
    data = json.loads(read_regular_text(path))
    if not isinstance(data, dict):
        raise ValueError("the top level is not a JSON object")
    return data


def _files(folder: Path) -> tuple[list[tuple[str, int, float]], list[tuple[str, str]]]:
    """(relative path, size, mtime) of every regular file under ``folder`` (sub-folders
    included), and (relative path, kind) of every FIFO, socket or device there."""
    out: list[tuple[str, int, float]] = []
    special: list[tuple[str, str]] = []
    for entry in sorted(folder.rglob("*")):
        try:
            st = entry.stat()
        except OSError:  # a dangling symlink, or gone since the listing
            continue
        rel = entry.relative_to(folder).as_posix()
        if stat.S_ISREG(st.st_mode):
            out.append((rel, st.st_size, st.st_mtime))
        elif not stat.S_ISDIR(st.st_mode):
            special.append((rel, file_kind(st.st_mode)))
    return out, special


def _graph_file(config: Mapping[str, Any]) -> str:
    """The decoder's ONNX file name from a genai_config (``model.onnx`` when it names none)."""
    model = config.get("model", {})
    decoder = model.get("decoder", {}) if isinstance(model, dict) else {}
    graph_name = decoder.get("filename", "model.onnx") if isinstance(decoder, dict) else ""
    return str(graph_name or "model.onnx")


def _dims(config: Mapping[str, Any]) -> tuple[int, int, int, int, int, int]:
    """vocab, hidden, layers, heads, kv heads, head size from a genai_config (0 when absent)."""
    model = config.get("model", {})
    decoder = model.get("decoder", {}) if isinstance(model, dict) else {}

    def num(source: Any, key: str) -> int:
        value = source.get(key, 0) if isinstance(source, dict) else 0
        return value if isinstance(value, int) else 0

    hidden = num(decoder, "hidden_size")
    heads = num(decoder, "num_attention_heads")
    head_size = num(decoder, "head_size") or (hidden // heads if heads else 0)
    return (
        num(model, "vocab_size"),
        hidden,
        num(decoder, "num_hidden_layers"),
        heads,
        num(decoder, "num_key_value_heads") or heads,
        head_size,
    )


def estimate_parameters(config: Mapping[str, Any]) -> int:
    """Approximate parameter count from genai_config's dims (0 when they are missing).

    genai_config.json has no MLP width, so the MLP is taken as Llama-like (``3 * hidden * 8/3
    hidden``) and the embeddings as untied; the result is an estimate, shown with ``~``.
    """
    vocab, hidden, layers, heads, kv_heads, head_size = _dims(config)
    if not (vocab and hidden and layers):
        return 0
    attention = 2 * hidden * heads * head_size + 2 * hidden * kv_heads * head_size
    mlp = 8 * hidden * hidden
    return 2 * vocab * hidden + layers * (attention + mlp)


def _format_parameters(params: int) -> str:
    if not params:
        return ""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= div:
            return f"~{params / div:.1f}{unit}"
    return f"~{params}"


def detect_precision(folder: Path, config: Mapping[str, Any], weight_bytes: int) -> str:
    """int4 / int8 / fp16 / bf16 / fp32 of an ONNX GenAI folder ("" when it cannot tell).

    onnxruntime-genai's builder (0.18) writes no precision into genai_config.json or the model's
    metadata (only ``producer_name``), so this reads the graph itself: the node list comes first in
    the file and quantized graphs use ``MatMulNBits`` (its ``bits`` attribute: 4 unless said
    otherwise) or ``MatMulInteger`` / ``DynamicQuantizeLinear`` / ``QLinearMatMul`` (int8). A graph
    without them is float: fp16/bf16/fp32 from the folder's name (builder output and Foundry Local
    use names like ``cpu-int4-rtn-block-32`` or ``gpu-fp16``), else from bytes per estimated
    parameter. A quantized label is only taken from the name when the graph cannot be read.
    """
    words = re.split(r"[^a-z0-9]+", "/".join(folder.parts[-3:]).lower())
    named = next((w for w in _PRECISION_WORDS if w in words), "")
    try:
        # Never a plain open(): a FIFO in the graph's place would block this thread for good.
        with open_regular(folder / _graph_file(config)) as fh:
            head = fh.read(GRAPH_SCAN_BYTES)
    except OSError:
        return named
    if b"MatMulNBits" in head:
        bits = {m.group(1)[0] for m in _BITS_ATTR.finditer(head)}
        return "int8" if bits and bits <= {8} else "int4"
    if any(op in head for op in (b"MatMulInteger", b"DynamicQuantizeLinear", b"QLinearMatMul")):
        return "int8"
    if named in _FLOAT_WORDS:
        return named
    params = estimate_parameters(config)
    if params and weight_bytes:
        return "fp32" if weight_bytes / params >= 3 else "fp16"
    return ""


# --------------------------------------------------------------------------------------------- prompt


# --------------------------------------------------------------------------------------------- backend


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
        self.model_dirs = [Path(p).expanduser().absolute() for p in model_dirs]
        self.foundry_cache = (
            Path(foundry_cache).expanduser().absolute() if foundry_cache is not None else None
        )
        roots = [*self.model_dirs, *([self.foundry_cache] if self.foundry_cache else [])]
        super().__init__(backend_id, ", ".join(map(str, roots)) or "no model dirs configured")
        self.roots = roots
        self._folders: dict[str, _Folder] = {}
        self._problems: dict[Path, str] = {}
        self._loaded: dict[str, _Loaded] = {}
        self._load_lock = threading.Lock()
        self._precision_cache: dict[tuple[Path, int, float], str] = {}
        self.last_stats: ChatStats | None = None
        """Figures of the last generation that ended, cancelled ones included (set by its thread)."""

    # ------------------------------------------------------------------ discovery

    async def probe(self) -> str:
        """Check onnxruntime-genai is installed and a model dir exists, without importing it.

        Returns:
            e.g. ``"onnxruntime-genai 0.18.0, 2 model dirs"``.

        Raises:
            BackendUnavailable: Not installed, nothing configured, or no configured dir exists.
        """
        try:
            version = metadata.version("onnxruntime-genai")
        except metadata.PackageNotFoundError:
            raise BackendUnavailable(
                "onnxruntime-genai is not installed (pip install onnxruntime-genai)",
                backend=self.id,
            ) from None
        if not self.roots:
            raise BackendUnavailable(
                "no ONNX model folders configured (set [onnx] model_dirs or SLMDECK_MODEL_DIRS)",
                backend=self.id,
            )
        existing = [p for p in self.roots if p.is_dir()]
        if not existing:
            missing = ", ".join(str(p) for p in self.roots)
            raise BackendUnavailable(f"model folder not found: {missing}", backend=self.id)
        plural = "dir" if len(existing) == 1 else "dirs"
        return f"onnxruntime-genai {version}, {len(existing)} model {plural}"

    def add_model_dir(self, path: Path) -> None:
        """Look for models in ``path`` too from the next listing on (already there: no change)."""
        path = Path(path).expanduser().absolute()
        if path in self.model_dirs:
            return
        self.model_dirs.append(path)
        self.roots.append(path)
        self.location = ", ".join(map(str, self.roots))

    def _scan(self) -> tuple[dict[str, _Folder], dict[Path, str]]:
        found: dict[str, _Folder] = {}
        problems: dict[Path, str] = {}
        seen: set[Path] = set()
        walks = [(p, MODEL_DIR_DEPTH) for p in self.model_dirs]
        if self.foundry_cache is not None:
            walks.append((self.foundry_cache, FOUNDRY_DEPTH))
        for root, max_depth in walks:
            if not root.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                here = Path(dirpath)
                if len(here.relative_to(root).parts) >= max_depth:
                    dirnames[:] = []
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                if CONFIG not in filenames or here.resolve() in seen:
                    continue
                seen.add(here.resolve())
                if (here / "download.tmp").exists() or (here.parent / "download.tmp").exists():
                    continue  # Foundry Local: a download still under way
                try:
                    folder = self._read_folder(here, root)
                except _Unusable as exc:
                    problems[here] = str(exc)
                    continue
                except (OSError, ValueError) as exc:
                    problems[here] = f"{here / CONFIG} cannot be used: {exc}"
                    continue
                base, n = folder.name, 2
                while folder.name in found:
                    folder.name = f"{base}-{n}"
                    n += 1
                found[folder.name] = folder
        return found, problems

    def _read_folder(self, here: Path, root: Path) -> _Folder:
        try:
            config = _read_json(here / CONFIG)
        except json.JSONDecodeError as exc:
            raise ValueError(f"it is not valid JSON ({exc})") from None
        if not isinstance(config.get("model"), dict):
            raise ValueError("it has no 'model' section")
        inference: dict[str, Any] | None = None
        # Foundry Local keeps inference_model.json at the model's root while genai_config.json may
        # sit one level down (v1/cpu-int4/); never look above the configured root.
        candidates = [here / INFERENCE_MODEL]
        if here != root:
            candidates.append(here.parent / INFERENCE_MODEL)
        for candidate in candidates:
            if candidate.is_file():
                with contextlib.suppress(ValueError, OSError):
                    inference = _read_json(candidate)
                break
        entries, special = _files(here)
        if special:
            # onnxruntime-genai would open it on load and block there for good.
            rel, kind = special[0]
            more = f" (and {len(special) - 1} more)" if len(special) > 1 else ""
            raise _Unusable(
                f"{here / rel} is {kind}, not a regular file{more}, so the model folder {here} "
                "cannot be used"
            )
        files = [(f, s) for f, s, _ in entries]
        size = sum(s for _, s in files)
        mtimes = [m for _, _, m in entries]
        newest = max(mtimes, default=0.0)
        weights = sum(s for f, s in files if f.endswith((".onnx", ".onnx.data", ".onnx_data")))
        key = (here, size, newest)
        if key not in self._precision_cache:
            self._precision_cache[key] = detect_precision(here, config, weights)
        name = inference.get("Name") if inference else None
        if not isinstance(name, str) or not name.strip():
            name = here.name
            if re.fullmatch(r"v\d+", name) or here.parent.name.lower() in ("cpu", "cuda", "gpu"):
                name = f"{here.parent.name}/{here.name}"
            elif re.fullmatch(r"v\d+", here.parent.name):  # <model-id>/v1/cpu-int4
                name = f"{here.parent.parent.name}/{here.name}"
        return _Folder(
            name=name.strip(),
            path=here,
            config=config,
            inference_model=inference,
            files=files,
            size=size,
            modified=datetime.fromtimestamp(newest, UTC) if mtimes else None,
            precision=self._precision_cache[key],
        )

    async def list_models(self) -> list[ModelInfo]:
        """Scan the model dirs (in a thread) for folders with a readable genai_config.json."""
        folders, problems = await asyncio.to_thread(self._scan)
        self._folders, self._problems = folders, problems
        return [self._info(f) for f in folders.values()]

    @property
    def problems(self) -> list[str]:
        """Folders that looked like models but could not be read, each with the reason."""
        return list(self._problems.values())

    def _info(self, f: _Folder) -> ModelInfo:
        ctx = f.config["model"].get("context_length")
        return ModelInfo(
            name=f.name,
            backend=self.id,
            family=str(f.config["model"].get("type", "")),
            parameter_size=_format_parameters(estimate_parameters(f.config)),
            quantization=f.precision,
            size=f.size,
            modified=f.modified,
            format="onnx",
            path=str(f.path),
            context_length=ctx if isinstance(ctx, int) else None,
        )

    async def _folder(self, name: str) -> _Folder:
        if name not in self._folders:
            await self.list_models()
        if name in self._folders:
            return self._folders[name]
        for path, problem in self._problems.items():
            if name in (path.name, str(path)):
                raise BackendResponseError(problem, backend=self.id)
        raise ModelNotFound(f"no ONNX model named {name!r} in {self.location}", backend=self.id)

    async def show(self, name: str) -> ModelDetails:
        """Search settings, decoder dims, files and prompt template of model ``name``."""
        f = await self._folder(name)
        model = f.config["model"]
        decoder = model.get("decoder", {}) if isinstance(model.get("decoder"), dict) else {}
        search = f.config.get("search", {}) if isinstance(f.config.get("search"), dict) else {}
        dims: dict[str, Any] = {
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
        for key in ("context_length", "vocab_size", "type", "bos_token_id", "eos_token_id"):
            if key in model:
                dims[key] = model[key]
        prompt_template = (f.inference_model or {}).get("PromptTemplate")
        if isinstance(prompt_template, dict):
            template = json.dumps(prompt_template, indent=2)
        else:
            template = self._chat_template_text(f.path)
        ctx = dims.get("context_length")
        return ModelDetails(
            info=self._info(f),
            parameters={k: v for k, v in search.items() if isinstance(v, int | float | bool | str)},
            template=template,
            capabilities=("completion",),
            context_length=ctx if isinstance(ctx, int) else None,
            model_info=dims,
            files=tuple(f.files),
            extra={
                "inference_model": f.inference_model,
                "precision": f.precision,
                "parameters_estimated": estimate_parameters(f.config),
            },
        )

    @staticmethod
    def _chat_template_text(folder: Path) -> str:
        jinja = folder / "chat_template.jinja"
        if jinja.is_file():
            with contextlib.suppress(OSError):
                return read_regular_text(jinja, errors="replace")
        try:
            value = _read_json(folder / "tokenizer_config.json").get("chat_template")
        except (OSError, ValueError):
            return ""
        return value if isinstance(value, str) else ""

    # ------------------------------------------------------------------ running

    async def ps(self) -> list[RunningModel]:
        """Models loaded in this process (size is the folder's size on disk)."""
        return [
            RunningModel(
                name=name,
                backend=self.id,
                size=loaded.folder.size,
                context_length=self._info(loaded.folder).context_length,
            )
            for name, loaded in self._loaded.items()
        ]

    async def unload(self, name: str) -> None:
        """Drop a loaded model; a generation still running keeps it until it ends.

        Unloading a known model that is not loaded does nothing (as in Ollama).

        Raises:
            ModelNotFound: ``name`` is neither loaded nor a known model.
        """
        if self._loaded.pop(name, None) is None:
            await self._folder(name)

    def _load(self, f: _Folder) -> _Loaded:
        with self._load_lock:
            if f.name in self._loaded:
                return self._loaded[f.name]
            disable_native_telemetry()  # before the import and the first load: read only then
            try:
                import onnxruntime_genai as og
            except ImportError as exc:
                raise BackendUnavailable(
                    f"onnxruntime-genai cannot be imported ({exc})", backend=self.id
                ) from None
            with contextlib.suppress(Exception):
                og.disable_telemetry_events()  # air-gapped by default
            start = time.perf_counter()
            try:
                model = og.Model(str(f.path))
                tokenizer = og.Tokenizer(model)
            except Exception as exc:  # onnxruntime-genai raises plain RuntimeError
                reason = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                raise BackendResponseError(
                    f"Could not load ONNX model at {f.path}: {reason}", backend=self.id
                ) from None
            loaded = _Loaded(model, tokenizer, f, time.perf_counter() - start)
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
                f"{f.name} has no PromptTemplate in inference_model.json and its tokenizer has "
                f"no usable chat template ({exc})",
                backend=self.id,
            ) from None

    async def chat(
        self, model: str, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Stream a reply token by token; the last chunk has ``done`` and :class:`ChatStats`.

        The model is loaded on first use and stays loaded. Closing this iterator or cancelling
        the task consuming it stops the generation thread before its next token.
        """
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
                    if value:
                        yield ChatChunk(content=value)
                elif kind == "stats":
                    stats = value
                elif kind == "error":
                    if isinstance(value, BackendResponseError | BackendUnavailable):
                        raise value
                    raise BackendResponseError(
                        f"ONNX generation with {model} failed: {value}", backend=self.id
                    ) from value
                elif kind == "end":
                    break
        finally:
            stop.set()  # cancellation or early close: the thread stops before its next token
        if stats is None:
            stats = ChatStats(total_duration_ns=int((time.perf_counter() - started) * 1e9))
        yield ChatChunk(done=True, stats=stats)

    def _search_options(self, f: _Folder, prompt_tokens: int, opts: ChatOptions) -> dict[str, Any]:
        context = f.config["model"].get("context_length")
        context = context if isinstance(context, int) and context > 0 else 2048
        if opts.num_ctx:
            context = min(context, opts.num_ctx)
        if prompt_tokens >= context:
            raise BackendResponseError(
                f"the prompt is {prompt_tokens} tokens, more than {f.name}'s context of {context}",
                backend=self.id,
            )
        search: dict[str, Any] = {"max_length": context}
        if opts.max_tokens:
            search["max_length"] = min(context, prompt_tokens + opts.max_tokens)
        if opts.temperature is not None:
            # temperature 0 means greedy, as in Ollama and the OpenAI API
            search["do_sample"] = opts.temperature > 0
            if opts.temperature > 0:
                search["temperature"] = opts.temperature
        if opts.top_p is not None:
            search["top_p"] = opts.top_p
            search.setdefault("do_sample", True)
        if opts.seed is not None:
            search["random_seed"] = opts.seed
        return search

    def _generate(
        self,
        f: _Folder,
        loaded: _Loaded,
        prompt: str,
        opts: ChatOptions,
        stop: threading.Event,
        put: Callable[[str, Any], bool],
        load_ns: int,
    ) -> ChatStats:
        import onnxruntime_genai as og

        total_start = time.perf_counter()
        with loaded.lock:  # one generation at a time per loaded model
            tokens = loaded.tokenizer.encode(prompt)
            search = self._search_options(f, len(tokens), opts)
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
                # Every token passes the window, even one that decodes to no text yet, so the
                # thread is never more than WINDOW tokens ahead of the consumer.
                if not put("text", text):
                    reason = "cancelled"
                    break
            else:
                if len(tokens) + count >= search["max_length"]:
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
        """Drop every loaded model."""
        self._loaded.clear()
