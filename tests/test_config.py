"""Settings: TOML file, environment overrides, and a corrupt file that must not stop the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui.config import DEFAULT_OLLAMA_HOST, Config, OpenAIEndpoint, load_config, save_config


def test_defaults_when_no_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "missing.toml", env={})
    assert cfg.ollama_host == DEFAULT_OLLAMA_HOST
    assert cfg.openai == []
    assert cfg.model_dirs == []
    assert cfg.problems == []
    assert cfg.source is None


def test_file_values_and_env_overrides(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[ollama]
host = "http://10.0.0.5:11434"
[onnx]
model_dirs = ["/srv/models"]
[[openai]]
name = "vllm"
url = "http://127.0.0.1:8000/v1"
api_key_env = "VLLM_KEY"
[ui]
theme = "slmdeck-light"
keymap = { "app.quit" = "ctrl+q" }
[monitor]
interval = 0.5
""",
        encoding="utf-8",
    )
    cfg = load_config(path, env={"SLMDECK_MODEL_DIRS": f"/a{os.pathsep}/b"})
    assert cfg.source == path
    assert cfg.ollama_host == "http://10.0.0.5:11434"
    assert cfg.model_dirs == [Path("/srv/models"), Path("/a"), Path("/b")]
    assert cfg.openai == [OpenAIEndpoint("vllm", "http://127.0.0.1:8000/v1", "VLLM_KEY")]
    assert cfg.theme == "slmdeck-light"
    assert cfg.keymap == {"app.quit": "ctrl+q"}
    assert cfg.monitor_interval == 0.5
    cfg = load_config(path, env={"OLLAMA_HOST": ":5000"})
    assert cfg.ollama_host == ":5000"


def test_corrupt_file_gives_message_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[ollama\nhost = ", encoding="utf-8")
    cfg = load_config(path, env={})
    assert cfg.ollama_host == DEFAULT_OLLAMA_HOST
    assert len(cfg.problems) == 1
    assert str(path) in cfg.problems[0]
    assert "not valid TOML" in cfg.problems[0]


def test_wrong_types_are_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[onnx]\nmodel_dirs = "/not/a/list"\n[[openai]]\nname = "x"\n', encoding="utf-8"
    )
    cfg = load_config(path, env={})
    assert cfg.model_dirs == []
    assert cfg.openai == []
    assert any("model_dirs" in p for p in cfg.problems)
    assert any("needs a 'url'" in p for p in cfg.problems)


def test_binary_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    cfg = load_config(path, env={})
    assert cfg.problems and cfg.ollama_host == DEFAULT_OLLAMA_HOST


def test_save_then_load_round_trip(tmp_path: Path) -> None:
    cfg = Config(
        ollama_host="http://127.0.0.1:1234",
        model_dirs=[tmp_path / "m"],
        openai=[OpenAIEndpoint("llama.cpp", "http://127.0.0.1:8080/v1")],
        theme="slmdeck-mono",
    )
    path = save_config(cfg, tmp_path / "sub" / "config.toml")
    again = load_config(path, env={})
    assert again.ollama_host == cfg.ollama_host
    assert again.model_dirs == cfg.model_dirs
    assert again.openai == cfg.openai
    assert again.theme == "slmdeck-mono"
    assert not list(path.parent.glob("*.tmp"))


def test_env_config_path(isolated_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = isolated_env / "elsewhere.toml"
    path.write_text('[ui]\ntheme = "slmdeck-light"\n', encoding="utf-8")
    monkeypatch.setenv("SLMDECK_CONFIG", str(path))
    assert load_config().theme == "slmdeck-light"


def test_save_keeps_environment_values_out_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[ollama]\nhost = "http://10.0.0.5:11434"\n[onnx]\nmodel_dirs = ["/models/a"]\n',
        encoding="utf-8",
    )
    cfg = load_config(path, env={"OLLAMA_HOST": "127.0.0.1:9", "SLMDECK_MODEL_DIRS": "/models/env"})
    assert cfg.ollama_host == "127.0.0.1:9"
    assert cfg.model_dirs == [Path("/models/a"), Path("/models/env")]
    cfg.model_dirs.append(Path("/models/added"))  # what the Models screen's register does
    save_config(cfg, path)
    again = load_config(path, env={})
    assert again.ollama_host == "http://10.0.0.5:11434"
    assert again.model_dirs == [Path("/models/a"), Path("/models/added")]


def test_save_replaces_the_file_atomically_and_leaves_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_config(Config(theme="slmdeck-light"), path)
    save_config(Config(theme="slmdeck-mono"), path)
    assert load_config(path, env={}).theme == "slmdeck-mono"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temp, no backup


def test_save_into_a_read_only_folder_says_why(tmp_path: Path) -> None:
    from tests.readonly import read_only_folder
    from tui.store.files import FileSaveError

    with read_only_folder(tmp_path / "conf", {"config.toml": '[ui]\ntheme = "old"\n'}) as ro:
        path = ro.path / "config.toml"
        with pytest.raises(FileSaveError) as info:
            save_config(Config(theme="new"), path)
        assert isinstance(info.value, OSError)  # what the controller's register handles
        assert str(info.value).startswith(f"Could not save {path}: "), ro.how
        assert path.read_text() == '[ui]\ntheme = "old"\n'
        assert sorted(p.name for p in ro.path.iterdir()) == ["config.toml"]
        with pytest.raises(FileSaveError, match="Could not save"):
            save_config(Config(), ro.path / "sub" / "config.toml")


# ------------------------------------------------------------------ values of the wrong type or range


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})


def test_wrong_typed_values_are_reported_and_defaults_kept(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        """
[ollama]
host = 5
enabled = "yes"
[ui]
theme = 3
keymap = { "app.quit" = 3, "app.help" = "f1" }
[monitor]
interval = "fast"
[backends]
probe_timeout = "x"
retry_interval = 30
[[openai]]
url = "http://127.0.0.1:8000"
enabled = "false"
""",
    )
    defaults = Config()
    assert cfg.ollama_host == DEFAULT_OLLAMA_HOST and cfg.ollama_enabled is True
    assert cfg.theme == defaults.theme
    assert cfg.keymap == {"app.help": "f1"}
    assert cfg.monitor_interval == defaults.monitor_interval
    assert cfg.probe_timeout == defaults.probe_timeout
    assert cfg.retry_interval == 30.0  # a good value next to bad ones still counts
    assert cfg.openai == [OpenAIEndpoint("server1", "http://127.0.0.1:8000", enabled=True)]
    assert cfg.problems == [
        '[ollama] host = 5 is not a URL (text); using "http://127.0.0.1:11434"',
        '[ollama] enabled = "yes" is not true or false; using true',
        '[[openai]] entry 1 enabled = "false" is not true or false; using true',
        '[ui] theme = 3 is not a theme name (text); using "slmdeck-dark"',
        '[ui.keymap] "app.quit" = 3 is not keys (text, like "ctrl+q"); ignored',
        '[monitor] interval = "fast" is not a number of seconds from 0.1 to 3600; using 1',
        '[backends] probe_timeout = "x" is not a number of seconds from 0.1 to 300; using 2',
    ]


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "true", "1e9"])
@pytest.mark.parametrize(
    ("table", "key", "accepted", "default"),
    [
        ("monitor", "interval", "0.1 to 3600", "1"),
        ("backends", "probe_timeout", "0.1 to 300", "2"),
        ("backends", "retry_interval", "1 to 86400", "15"),
    ],
)
def test_out_of_range_seconds_are_rejected(
    tmp_path: Path, table: str, key: str, accepted: str, default: str, value: str
) -> None:
    cfg = _load(tmp_path, f"[{table}]\n{key} = {value}\n")
    field = {"interval": "monitor_interval"}.get(key, key)
    assert getattr(cfg, field) == float(default)
    shown = {"1e9": "1e+09"}.get(value, value)
    assert cfg.problems == [
        f"[{table}] {key} = {shown} is not a number of seconds from {accepted}; using {default}"
    ]


def test_seconds_in_range_are_taken(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        "[monitor]\ninterval = 0.1\n[backends]\nprobe_timeout = 5\nretry_interval = 1\n",
    )
    assert (cfg.monitor_interval, cfg.probe_timeout, cfg.retry_interval) == (0.1, 5.0, 1.0)
    assert cfg.problems == []


def test_tables_of_the_wrong_shape_are_reported(tmp_path: Path) -> None:
    cfg = _load(tmp_path, 'ui = 3\nmonitor = "x"\n[openai]\nurl = "http://127.0.0.1:8000"\n')
    assert cfg.openai == [] and cfg.theme == Config().theme
    assert cfg.problems == [
        "'openai' must be an array of tables (write each server as [[openai]]); ignored",
        "[ui] must be a table, not 3; ignored",
        '[monitor] must be a table, not "x"; ignored',
    ]


def test_control_characters_in_a_bad_value_are_made_visible(tmp_path: Path) -> None:
    cfg = _load(tmp_path, '[ui]\ntheme = ""\n[backends]\nprobe_timeout = "\\u001b[2J"\n')
    assert cfg.problems == [
        '[ui] theme = "" is not a theme name (text); using "slmdeck-dark"',
        '[backends] probe_timeout = "\\u001b[2J" is not a number of seconds from 0.1 to 300; using 2',
    ]


def test_hardware_overrides_are_read_and_saved(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "[hardware]\nmemory_gib = 7.5\nvram_gib = 0\nunified = true\n")
    assert (cfg.hardware_memory_gib, cfg.hardware_vram_gib, cfg.hardware_unified) == (
        7.5,
        0.0,
        True,
    )
    assert cfg.problems == []
    path = save_config(cfg, tmp_path / "saved.toml")
    again = load_config(path, env={})
    assert (again.hardware_memory_gib, again.hardware_vram_gib, again.hardware_unified) == (
        7.5,
        0.0,
        True,
    )
    # Nothing set, nothing written: detection decides.
    plain = save_config(Config(), tmp_path / "plain.toml")
    assert "[hardware]" not in plain.read_text()
    assert load_config(plain, env={}).hardware_unified is None


def test_bad_hardware_values_are_reported_like_other_problems(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        '[hardware]\nmemory_gib = -2\nvram_gib = "8"\nunified = "yes"\nram_gib = 4\n',
    )
    assert (cfg.hardware_memory_gib, cfg.hardware_vram_gib, cfg.hardware_unified) == (
        None,
        None,
        None,
    )
    assert cfg.problems == [
        "[hardware] memory_gib = -2 is not a number of GiB from 0.1 to 16384; using the "
        "detected value",
        '[hardware] vram_gib = "8" is not a number of GiB from 0 to 16384; using the detected '
        "value",
        '[hardware] unified = "yes" is not true or false; using the detected value',
        '[hardware] "ram_gib" is not a setting (memory_gib, vram_gib, unified); ignored',
    ]
    for value in ("nan", "inf", "true", "1e9"):
        assert _load(tmp_path, f"[hardware]\nvram_gib = {value}\n").hardware_vram_gib is None
    assert _load(tmp_path, "hardware = 3\n").problems == [
        "[hardware] must be a table, not 3; ignored"
    ]
