"""Themes load from themes/*.toml (shipped) and the user's config dir; bad files are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.theming import load_themes, theme_from_toml

REPO = Path(__file__).resolve().parent.parent


def test_shipped_themes_load() -> None:
    themes, problems = load_themes(None)
    names = {t.name for t in themes}
    assert {"slmdeck-dark", "slmdeck-light", "slmdeck-mono"} <= names
    assert problems == []
    shipped = {p.stem for p in (REPO / "themes").glob("*.toml")}
    assert shipped <= names


def test_user_theme_and_bad_theme(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#112233"\n', encoding="utf-8")
    (tmp_path / "broken.toml").write_text('name = "x"\nprimary = \n', encoding="utf-8")
    (tmp_path / "odd.toml").write_text(
        'name = "odd"\nprimary = "#fff"\ncolour = 1\n', encoding="utf-8"
    )
    themes, problems = load_themes(tmp_path)
    assert "mine" in {t.name for t in themes}
    assert len(problems) == 2
    assert any("broken.toml" in p and "not valid TOML" in p for p in problems)
    assert any("odd.toml" in p and "colour" in p for p in problems)


def test_bad_colour_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nope"):
        theme_from_toml('name = "nope"\nprimary = "not-a-colour"\n', "nope")


def test_a_fifo_among_user_themes_is_reported_not_waited_on(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "blocking.toml")
    themes, problems = load_themes(tmp_path)  # returns: the FIFO is never opened
    assert themes and any("blocking.toml" in p and "FIFO" in p for p in problems)
