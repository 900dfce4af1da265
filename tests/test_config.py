"""Settings: TOML file, environment overrides, and a corrupt file that must not stop the app."""

from __future__ import annotations

import os
from pathlib import Path

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
