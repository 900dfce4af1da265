"""The one-line dialog every screen asks with: one answer to an empty value, and Tab completion
of paths (longest common prefix, candidates when ambiguous, capped listing, special files
skipped), both as a pure function and in a running dialog."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input, Static

from tests.waiting import until
from tui.core.model_names import model_name_problem
from tui.core.path_complete import complete_path
from tui.widgets.prompt import PathCompletion, PromptDialog, empty_problem


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "qwen2.5-0.5b-q4_k_m.gguf").write_bytes(b"GGUF")
    (tmp_path / "models" / "qwen2.5-0.5b-q8_0.gguf").write_bytes(b"GGUF")
    (tmp_path / "models" / "qwen2.5-notes.txt").write_text("notes")
    (tmp_path / "models" / "phi-onnx").mkdir()
    (tmp_path / "models" / ".hidden.gguf").write_bytes(b"GGUF")
    os.mkfifo(tmp_path / "models" / "qwen2.5-pipe.gguf")  # opening it would block
    return tmp_path


def test_completes_to_the_longest_common_prefix(tree: Path) -> None:
    base = f"{tree}/models/"
    got = complete_path(base + "qw")
    # The FIFO is never offered; the notes file is (any file, no suffix filter).
    assert got.text == base + "qwen2.5-"
    assert got.candidates == (
        "qwen2.5-0.5b-q4_k_m.gguf",
        "qwen2.5-0.5b-q8_0.gguf",
        "qwen2.5-notes.txt",
    )
    gguf = complete_path(base + "qwen2.5-", suffixes=(".gguf",))
    assert gguf.text == base + "qwen2.5-0.5b-q"
    assert len(gguf.candidates) == 2
    one = complete_path(base + "qwen2.5-0.5b-q8", suffixes=(".gguf",))
    assert (one.text, one.candidates) == (base + "qwen2.5-0.5b-q8_0.gguf", ())
    assert complete_path(base + "ph").text == base + "phi-onnx/"  # a folder gets its slash
    assert complete_path(f"{tree}/mo").text == base


def test_folders_only_hidden_and_no_match(tree: Path) -> None:
    base = f"{tree}/models/"
    assert complete_path(base, dirs_only=True).text == base + "phi-onnx/"
    assert ".hidden.gguf" not in complete_path(base).candidates
    assert complete_path(base + ".h").text == base + ".hidden.gguf"
    none = complete_path(base + "zzz")
    assert none.text == base + "zzz" and "nothing here starts with 'zzz'" in none.problem
    missing = complete_path(f"{tree}/absent/x")
    assert missing.text == f"{tree}/absent/x" and "cannot be listed" in missing.problem


def test_home_is_expanded_for_the_lookup_only(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree))
    assert complete_path("~").text == "~/"
    assert complete_path("~/mod").text == "~/models/"


def test_a_huge_folder_is_listed_only_up_to_the_cap(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"f{i:02d}").write_text("")
    got = complete_path(f"{tmp_path}/", max_entries=10)
    assert got.partial and len(got.candidates) <= 10


def test_one_rule_for_model_names() -> None:
    assert model_name_problem("qwen2.5:0.5b") is None
    assert "starts with a letter or digit" in (model_name_problem("-x") or "")
    assert model_name_problem("") is None  # empty answers are the dialog's, said the same way
    assert empty_problem("a model name") == "Type a model name, or press escape to cancel."


class Host(App[None]):
    def __init__(self, dialog: PromptDialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.answer: list[str | None] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.answer.append)


async def test_empty_answer_is_refused_the_same_way_everywhere() -> None:
    dialog = PromptDialog("Pull a model", what="a model name", validate=model_name_problem)
    app = Host(dialog)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen is dialog, "the dialog")
        dialog.query_one(Input).value = "   "
        await pilot.press("enter")
        error = str(dialog.query_one("#prompt-error", Static).render())
        assert error == "Type a model name, or press escape to cancel."
        assert app.screen is dialog and app.answer == []
        await pilot.press("escape")
        assert app.answer == [None]


async def test_tab_completes_a_path_and_lists_the_candidates(tree: Path) -> None:
    base = f"{tree}/models/"
    dialog = PromptDialog(
        "Import", value=base + "q", what="a path", paths=PathCompletion(suffixes=(".gguf",))
    )
    app = Host(dialog)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen is dialog, "the dialog")
        box = dialog.query_one(Input)
        box.cursor_position = len(box.value)
        await pilot.press("tab")
        await until(pilot, lambda: dialog.completions == 1, "the first completion")
        assert box.value == base + "qwen2.5-0.5b-q"
        shown = str(dialog.query_one("#prompt-candidates", Static).render())
        assert "qwen2.5-0.5b-q4_k_m.gguf" in shown and "qwen2.5-0.5b-q8_0.gguf" in shown
        assert "notes" not in shown and "pipe" not in shown
        await pilot.press("8", "tab")
        await until(pilot, lambda: dialog.completions == 2, "the second completion")
        assert box.value == base + "qwen2.5-0.5b-q8_0.gguf"
        assert app.screen is dialog and box.has_focus  # Tab did not move the focus away
        await pilot.press("enter")
        assert app.answer == [base + "qwen2.5-0.5b-q8_0.gguf"]


async def test_without_completion_tab_is_not_taken() -> None:
    dialog = PromptDialog("Name")
    app = Host(dialog)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen is dialog, "the dialog")
        assert dialog.check_action("complete", ()) is False
