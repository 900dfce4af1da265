"""What ``slmdeck doctor`` says about the config file: read, read with problems, invalid (and
why), or not present; a wrong-typed setting is reported, not ignored."""

from __future__ import annotations

from pathlib import Path

from tui.commands.doctor import config_report
from tui.config import load_config


def report(path: Path) -> list[str]:
    return config_report(path, load_config(path, env={}))


def test_absent_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert report(path) == [f"config: {path} (not present, defaults used)"]


def test_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[monitor]\ninterval = 2\n")
    assert report(path) == [f"config: {path} (read)"]


def test_invalid_toml_says_invalid_and_why(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[monitor\ninterval = 2\n")
    lines = report(path)
    assert lines[0] == f"config: {path} (invalid, defaults used)"
    assert "not present" not in "\n".join(lines)
    assert len(lines) == 2 and "is not valid TOML" in lines[1] and "line 1" in lines[1]


def test_not_utf8_is_invalid_too(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[ui]\ntheme = "\xff"\n')
    lines = report(path)
    assert lines[0] == f"config: {path} (invalid, defaults used)"
    assert "could not be read" in lines[1]


def test_a_wrong_typed_setting_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[monitor]\ninterval = "fast"\n')
    lines = report(path)
    assert lines[0] == (f"config: {path} (read, 1 problem: those settings use their defaults)")
    assert lines[1].startswith('  problem: [monitor] interval = "fast" is not a number')
