"""Settings: a TOML file in the platformdirs config dir, with environment overrides.

Nothing is read or written at import; :func:`load_config` does the reading and never raises for a bad
file: it returns defaults plus a human-readable problem so the app still starts.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_NAME = "slmdeck"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


def config_dir() -> Path:
    """Directory of ``config.toml`` and user themes (XDG on Linux)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Directory of chat history, drafts and caches; ``SLMDECK_DATA_DIR`` overrides it."""
    override = os.environ.get("SLMDECK_DATA_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    """Path of the settings file; ``SLMDECK_CONFIG`` overrides it."""
    override = os.environ.get("SLMDECK_CONFIG")
    return Path(override).expanduser() if override else config_dir() / "config.toml"


@dataclass(slots=True)
class OpenAIEndpoint:
    """One OpenAI-compatible server (vLLM, llama.cpp server, Foundry Local's service, LM Studio)."""

    name: str
    """Shown in the UI; the backend id is ``openai:<name>``."""
    url: str
    """Base URL, e.g. ``http://127.0.0.1:8080/v1``."""
    api_key_env: str = ""
    """Name of an environment variable holding the bearer key (keys are never stored in the file)."""
    enabled: bool = True
    proxy: str = ""
    """Proxy URL for this server only; empty: contacted directly (``HTTP_PROXY`` & co. are ignored)."""


@dataclass(slots=True)
class Config:
    """Every setting slmdeck reads, with its default."""

    ollama_host: str = DEFAULT_OLLAMA_HOST
    """Ollama's URL; ``OLLAMA_HOST`` overrides it (same parsing rules as Ollama's own client)."""
    ollama_enabled: bool = True
    ollama_proxy: str = ""
    """Proxy URL for Ollama only; empty: contacted directly (``HTTP_PROXY`` & co. are ignored)."""
    openai: list[OpenAIEndpoint] = field(default_factory=list)
    """OpenAI-compatible servers to use; none by default (nothing is contacted unless configured)."""
    model_dirs: list[Path] = field(default_factory=list)
    """Folders holding ONNX Runtime GenAI models (``genai_config.json``); ``SLMDECK_MODEL_DIRS``
    (os.pathsep-separated) adds to them."""
    foundry_cache: Path | None = None
    """Foundry Local's model cache; default ``~/.foundry/cache/models`` when it exists."""
    theme: str = "slmdeck-dark"
    monitor_interval: float = 1.0
    """Seconds between resource samples."""
    probe_timeout: float = 2.0
    """Seconds a backend may take to answer the start-up probe."""
    retry_interval: float = 15.0
    """Seconds between re-probes of a backend that is down."""
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id → keys, e.g. ``{"app.quit" = "ctrl+q"}``."""
    source: Path | None = None
    """The file this was read from (None: defaults only)."""
    problems: list[str] = field(default_factory=list)
    """Readable problems met while loading (the app shows them and goes on)."""
    env_only: dict[str, Any] = field(default_factory=dict)
    """Values that came from the environment or a default found on disk, not from the file, keyed
    by field (``ollama_host`` maps to the file's own value, ``model_dirs`` to the added dirs,
    ``foundry_cache`` to None): :func:`save_config` writes the file's values back, never these."""


def _as_paths(values: Any, problems: list[str], key: str) -> list[Path]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        problems.append(f"'{key}' must be a list of paths; ignored")
        return []
    return [Path(v).expanduser() for v in values]


def _apply_file(cfg: Config, data: dict[str, Any], problems: list[str]) -> None:
    ollama = data.get("ollama", {})
    if isinstance(ollama, dict):
        if isinstance(ollama.get("host"), str):
            cfg.ollama_host = ollama["host"]
        if isinstance(ollama.get("enabled"), bool):
            cfg.ollama_enabled = ollama["enabled"]
        if isinstance(ollama.get("proxy"), str):
            cfg.ollama_proxy = ollama["proxy"]
    for i, item in enumerate(data.get("openai", []) or []):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            problems.append(f"[[openai]] entry {i + 1} needs a 'url'; ignored")
            continue
        cfg.openai.append(
            OpenAIEndpoint(
                name=str(item.get("name") or f"server{i + 1}"),
                url=item["url"],
                api_key_env=str(item.get("api_key_env", "")),
                enabled=bool(item.get("enabled", True)),
                proxy=str(item.get("proxy") or ""),
            )
        )
    onnx = data.get("onnx", {})
    if isinstance(onnx, dict):
        if "model_dirs" in onnx:
            cfg.model_dirs = _as_paths(onnx["model_dirs"], problems, "onnx.model_dirs")
        if isinstance(onnx.get("foundry_cache"), str):
            cfg.foundry_cache = Path(onnx["foundry_cache"]).expanduser()
    ui = data.get("ui", {})
    if isinstance(ui, dict):
        if isinstance(ui.get("theme"), str):
            cfg.theme = ui["theme"]
        keymap = ui.get("keymap", {})
        if isinstance(keymap, dict):
            cfg.keymap = {str(k): str(v) for k, v in keymap.items()}
    monitor = data.get("monitor", {})
    if isinstance(monitor, dict) and isinstance(monitor.get("interval"), int | float):
        cfg.monitor_interval = max(0.1, float(monitor["interval"]))
    backends = data.get("backends", {})
    if isinstance(backends, dict):
        if isinstance(backends.get("probe_timeout"), int | float):
            cfg.probe_timeout = float(backends["probe_timeout"])
        if isinstance(backends.get("retry_interval"), int | float):
            cfg.retry_interval = float(backends["retry_interval"])


def load_config(path: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read settings from ``path`` (default :func:`config_path`) and the environment.

    A missing file means defaults; an unreadable or malformed one adds a message to
    ``Config.problems`` and defaults are used for what could not be read.
    """
    environ = os.environ if env is None else env
    cfg = Config()
    problems = cfg.problems
    path = path or config_path()
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path} is not valid TOML ({exc}); using defaults")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path} could not be read ({exc}); using defaults")
        else:
            cfg.source = path
            _apply_file(cfg, data, problems)
    if environ.get("OLLAMA_HOST") is not None:
        cfg.env_only["ollama_host"] = cfg.ollama_host
        cfg.ollama_host = environ["OLLAMA_HOST"]
    extra_dirs = environ.get("SLMDECK_MODEL_DIRS", "")
    added = [Path(p).expanduser() for p in extra_dirs.split(os.pathsep) if p]
    added = [p for p in added if p not in cfg.model_dirs]
    if added:
        cfg.env_only["model_dirs"] = added
        cfg.model_dirs += added
    if cfg.foundry_cache is None:
        default_cache = Path.home() / ".foundry" / "cache" / "models"
        if default_cache.is_dir():
            cfg.env_only["foundry_cache"] = None
            cfg.foundry_cache = default_cache
    return cfg


def to_toml_dict(cfg: Config) -> dict[str, Any]:
    """The file form of ``cfg`` (what :func:`save_config` writes)."""
    env_dirs = cfg.env_only.get("model_dirs", [])
    data: dict[str, Any] = {
        "ollama": {
            "host": cfg.env_only.get("ollama_host", cfg.ollama_host),
            "enabled": cfg.ollama_enabled,
        },
        "onnx": {"model_dirs": [str(p) for p in cfg.model_dirs if p not in env_dirs]},
        "ui": {"theme": cfg.theme, "keymap": dict(cfg.keymap)},
        "monitor": {"interval": cfg.monitor_interval},
        "backends": {"probe_timeout": cfg.probe_timeout, "retry_interval": cfg.retry_interval},
        "openai": [
            {"name": e.name, "url": e.url, "api_key_env": e.api_key_env, "enabled": e.enabled}
            | ({"proxy": e.proxy} if e.proxy else {})
            for e in cfg.openai
        ],
    }
    if cfg.ollama_proxy:
        data["ollama"]["proxy"] = cfg.ollama_proxy
    if cfg.foundry_cache is not None and "foundry_cache" not in cfg.env_only:
        data["onnx"]["foundry_cache"] = str(cfg.foundry_cache)
    return data


def save_config(cfg: Config, path: Path | None = None) -> Path:
    """Write ``cfg`` atomically (temp file, fsync, rename) and return the path."""
    import tomli_w

    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as fh:
        tomli_w.dump(to_toml_dict(cfg), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
