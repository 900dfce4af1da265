"""Settings: a TOML file in the platformdirs config dir, with environment overrides.

Nothing is read or written at import; :func:`load_config` does the reading and never raises for a bad
file: it returns defaults plus a human-readable problem so the app still starts.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.safe_files import read_regular_text

if TYPE_CHECKING:
    from tui.fleet.hosts import FleetSettings, Host

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
    hardware_memory_gib: float | None = None
    """``[hardware] memory_gib``: RAM the fit may use, in GiB, instead of the detected available
    RAM (on unified memory, the whole shared pool); None: detected."""
    hardware_vram_gib: float | None = None
    """``[hardware] vram_gib``: free VRAM of the discrete GPU, in GiB (0: grade as CPU only);
    None: detected."""
    hardware_unified: bool | None = None
    """``[hardware] unified``: the CPU and GPU share one memory pool (true) or not (false);
    None: detected (Jetson, AMD APU, Intel iGPU are unified)."""
    hosts: list[Host] = field(default_factory=list)
    """The fleet: ``[[hosts]]`` (and ``[fleet] hostfile``'s), the local host first; empty until
    :func:`load_config` reads them (the controller then knows the local host only)."""
    fleet: FleetSettings = field(default_factory=lambda: _fleet_defaults())
    """``[fleet]``: hostfile, prometheus, interval, timeout, readonly (``--readonly`` too)."""
    fleet_tables: dict[str, Any] = field(default_factory=dict)
    """The file's own ``[[hosts]]`` and ``[fleet]``, written back unchanged by :func:`save_config`."""
    source: Path | None = None
    """The file this was read from (None: defaults only)."""
    problems: list[str] = field(default_factory=list)
    """Readable problems met while loading (the app shows them and goes on)."""
    env_only: dict[str, Any] = field(default_factory=dict)
    """Values that came from the environment or a default found on disk, not from the file, keyed
    by field (``ollama_host`` maps to the file's own value, ``model_dirs`` to the added dirs,
    ``foundry_cache`` to None): :func:`save_config` writes the file's values back, never these."""


def _fleet_defaults() -> FleetSettings:
    from tui.fleet.hosts import FleetSettings

    return FleetSettings()


def local_fleet_host(cfg: Config) -> Host:
    """The local host of the fleet, from the single-host settings (Ollama, ``[[openai]]``)."""
    from tui.fleet.hosts import check_url, local_host

    host = cfg.ollama_host.strip()
    if "://" not in host:
        host = f"http://{host}"
    if check_url(host) is not None:
        host = DEFAULT_OLLAMA_HOST
    return local_host(
        host if cfg.ollama_enabled else "",
        [(e.name, e.url, e.api_key_env) for e in cfg.openai if e.enabled and not check_url(e.url)],
    )


def read_fleet(cfg: Config, data: dict[str, Any], base_dir: Path) -> None:
    """Fill ``cfg.hosts`` and ``cfg.fleet`` from the file's ``[[hosts]]`` and ``[fleet]``; each
    problem met becomes one line of ``cfg.problems``."""
    from tui.fleet.hosts import hosts_from_toml

    cfg.fleet_tables = {k: data[k] for k in ("hosts", "fleet") if k in data}
    hosts, settings, problems = hosts_from_toml(data, base_dir, local_fleet_host(cfg))
    cfg.hosts, cfg.fleet = hosts, settings
    cfg.problems.extend(problems)


def _as_paths(values: Any, problems: list[str], key: str) -> list[Path]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        problems.append(f"'{key}' must be a list of paths; ignored")
        return []
    return [Path(v).expanduser() for v in values]


SECONDS_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("monitor", "interval"): (0.1, 3600.0),
    ("backends", "probe_timeout"): (0.1, 300.0),
    ("backends", "retry_interval"): (1.0, 86400.0),
}
"""Accepted seconds per ``(table, key)``; a value outside (or not a finite number) is reported
and the default kept."""

GIB_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("hardware", "memory_gib"): (0.1, 16384.0),
    ("hardware", "vram_gib"): (0.0, 16384.0),
}
"""Accepted GiB per ``(table, key)``, checked like :data:`SECONDS_RANGES`."""


def _shown(value: Any) -> str:
    """A value as TOML writes it, made safe for a terminal: ``"x"``, ``nan``, ``true``, ``3``."""
    from tui.core.sanitize import sanitize

    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = f"{value:g}"  # nan, inf, -inf, 2, 1e+09
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = str(value)
    text = sanitize(text)
    return text if len(text) <= 60 else text[:59] + "…"


class _Table:
    """One ``[table]`` of the file, read with checks: a wrong value is a problem, never a crash
    and never silently ignored."""

    def __init__(self, name: str, data: Any, problems: list[str], label: str = "") -> None:
        self.name = name
        self.label = label or f"[{name}]"
        self.problems = problems
        self.data: dict[str, Any] = {}
        if isinstance(data, dict):
            self.data = data
        elif data is not None:
            problems.append(f"{self.label} must be a table, not {_shown(data)}; ignored")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _bad(self, key: str, wanted: str, default: Any) -> None:
        self.problems.append(
            f"{self.label} {key} = {_shown(self.data[key])} is not {wanted}; "
            f"using {_shown(default)}"
        )

    def text(self, key: str, default: str, wanted: str = "text") -> str:
        value = self.data.get(key, default)
        if isinstance(value, str):
            return value
        self._bad(key, wanted, default)
        return default

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if isinstance(value, bool):
            return value
        self._bad(key, "true or false", default)
        return default

    def seconds(self, key: str, default: float) -> float:
        low, high = SECONDS_RANGES[(self.name, key)]
        value = self.data.get(key, default)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and low <= value <= high
        ):
            return float(value)
        self._bad(key, f"a number of seconds from {low:g} to {high:g}", default)
        return default

    def gib(self, key: str) -> float | None:
        """An optional size in GiB within :data:`GIB_RANGES`; None when absent or wrong."""
        if key not in self.data:
            return None
        low, high = GIB_RANGES[(self.name, key)]
        value = self.data[key]
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and low <= value <= high
        ):
            return float(value)
        self.problems.append(
            f"{self.label} {key} = {_shown(value)} is not a number of GiB from {low:g} to "
            f"{high:g}; using the detected value"
        )
        return None

    def optional_flag(self, key: str) -> bool | None:
        """An optional true/false; None when absent or wrong."""
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, bool):
            return value
        self.problems.append(
            f"{self.label} {key} = {_shown(value)} is not true or false; using the detected value"
        )
        return None


def _apply_file(cfg: Config, data: dict[str, Any], problems: list[str]) -> None:
    ollama = _Table("ollama", data.get("ollama"), problems)
    cfg.ollama_host = ollama.text("host", cfg.ollama_host, "a URL (text)")
    cfg.ollama_enabled = ollama.flag("enabled", cfg.ollama_enabled)
    cfg.ollama_proxy = ollama.text("proxy", cfg.ollama_proxy, "a proxy URL (text)")
    servers = data.get("openai", [])
    if not isinstance(servers, list):
        problems.append(
            "'openai' must be an array of tables (write each server as [[openai]]); ignored"
        )
        servers = []
    for i, item in enumerate(servers):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            problems.append(f"[[openai]] entry {i + 1} needs a 'url'; ignored")
            continue
        entry = _Table("openai", item, problems, label=f"[[openai]] entry {i + 1}")
        cfg.openai.append(
            OpenAIEndpoint(
                name=entry.text("name", f"server{i + 1}") or f"server{i + 1}",
                url=item["url"],
                api_key_env=entry.text("api_key_env", "", "the name of a variable (text)"),
                enabled=entry.flag("enabled", True),
                proxy=entry.text("proxy", "", "a proxy URL (text)"),
            )
        )
    onnx = _Table("onnx", data.get("onnx"), problems)
    if "model_dirs" in onnx:
        cfg.model_dirs = _as_paths(onnx.data["model_dirs"], problems, "onnx.model_dirs")
    if "foundry_cache" in onnx:
        cache = onnx.text("foundry_cache", "", "a folder (text)")
        if cache:
            cfg.foundry_cache = Path(cache).expanduser()
    ui = _Table("ui", data.get("ui"), problems)
    theme = ui.text("theme", cfg.theme, "a theme name (text)")
    if theme.strip():
        cfg.theme = theme
    else:
        ui._bad("theme", "a theme name (text)", cfg.theme)
    keymap = ui.data.get("keymap", {})
    if isinstance(keymap, dict):
        for k, v in keymap.items():
            if isinstance(v, str):
                cfg.keymap[str(k)] = v
            else:
                problems.append(
                    f"[ui.keymap] {_shown(k)} = {_shown(v)} is not keys (text, like "
                    '"ctrl+q"); ignored'
                )
    else:
        problems.append(f"[ui] keymap = {_shown(keymap)} is not a table of keys; ignored")
    monitor = _Table("monitor", data.get("monitor"), problems)
    cfg.monitor_interval = monitor.seconds("interval", cfg.monitor_interval)
    backends = _Table("backends", data.get("backends"), problems)
    cfg.probe_timeout = backends.seconds("probe_timeout", cfg.probe_timeout)
    cfg.retry_interval = backends.seconds("retry_interval", cfg.retry_interval)
    hardware = _Table("hardware", data.get("hardware"), problems)
    cfg.hardware_memory_gib = hardware.gib("memory_gib")
    cfg.hardware_vram_gib = hardware.gib("vram_gib")
    cfg.hardware_unified = hardware.optional_flag("unified")
    for key in sorted(set(hardware.data) - {"memory_gib", "vram_gib", "unified"}):
        problems.append(
            f"[hardware] {_shown(key)} is not a setting (memory_gib, vram_gib, unified); ignored"
        )


def load_config(path: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read settings from ``path`` (default :func:`config_path`) and the environment.

    A missing file means defaults; an unreadable or malformed one adds a message to
    ``Config.problems`` and defaults are used for what could not be read.
    """
    environ = os.environ if env is None else env
    cfg = Config()
    problems = cfg.problems
    path = path or config_path()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            # Never a plain open(): a FIFO or device as the config file would block for good.
            data = tomllib.loads(read_regular_text(path))
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
    # After OLLAMA_HOST: the local host of the fleet is the Ollama slmdeck talks to.
    read_fleet(cfg, data if cfg.source is not None else {}, path.parent)
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
    hardware = {
        key: value
        for key, value in (
            ("memory_gib", cfg.hardware_memory_gib),
            ("vram_gib", cfg.hardware_vram_gib),
            ("unified", cfg.hardware_unified),
        )
        if value is not None
    }
    if hardware:  # TOML has no null: only what the user set is written
        data["hardware"] = hardware
    if cfg.foundry_cache is not None and "foundry_cache" not in cfg.env_only:
        data["onnx"]["foundry_cache"] = str(cfg.foundry_cache)
    # The fleet is edited in the file only: kept as written (a --readonly run never saves it).
    data.update(cfg.fleet_tables)
    return data


def save_config(cfg: Config, path: Path | None = None) -> Path:
    """Write ``cfg`` atomically (unique temp file, fsync, rename, fsync of the folder) and return
    the path.

    Raises:
        FileSaveError: It could not be written (an ``OSError``; the message says why, and the old
            file is unchanged).
    """
    import tomli_w

    from tui.store.files import FileSaveError, describe_os_error, save_atomic

    path = path or config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileSaveError(describe_os_error(exc, path), errno_=exc.errno) from exc
    save_atomic(path, tomli_w.dumps(to_toml_dict(cfg)), backup=False)
    return path
