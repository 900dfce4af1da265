"""The editor's analysis: one parse per burst of keys (debounced, off the loop), shared by
highlighting, problems and preview; no private TextArea API; a 1 MB line stays editable; bytes that
are not UTF-8 are reported and written back unchanged where the user did not edit them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import TextArea

from tests.conftest import FIXTURES, REACHABLE
from tests.waiting import until, workers_done
from tui.app import SlmdeckApp, make_app
from tui.config import Config
from tui.core.modelfile_syntax import Scan, scan
from tui.monitor import Monitor, load_samples
from tui.screens.editor import EditorScreen
from tui.widgets.editor_analysis import LONG_LINE
from tui.widgets.editor_area import EditorArea
from tui.widgets.editor_doc import MODELFILE, EditorDoc

SAMPLES = load_samples(FIXTURES / "monitor_samples.json")


def editor_app(**options: str) -> SlmdeckApp:
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    return make_app(
        cfg,
        start_screen="editor",
        screen_options=dict(options),
        monitor=Monitor.replay(SAMPLES, preload=True),
    )


async def ready(pilot) -> EditorScreen:  # type: ignore[no-untyped-def]
    screen = pilot.app.screen
    assert isinstance(screen, EditorScreen)
    await screen.store_ready.wait()
    await pilot.pause()
    return screen


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every Modelfile parse (the scanner run), as the length of the text scanned."""
    seen: list[int] = []
    real: Callable[[str], Scan] = scan

    def counting(text: str) -> Scan:
        seen.append(len(text))
        return real(text)

    # Modelfile() calls the scanner by the name tui.core.modelfile imported it as.
    monkeypatch.setattr("tui.core.modelfile.scan", counting)
    return seen


def test_highlighting_uses_no_private_text_area_api() -> None:
    # No method of TextArea whose name is private is overridden (get_line, render_line and
    # notify_style_update are its public hooks).
    overridden = {
        name
        for name, value in vars(EditorArea).items()
        if callable(value) and name.startswith("_") and not name.startswith("__")
        if callable(getattr(TextArea, name, None))
    }
    assert overridden == set()


async def test_a_burst_of_keys_on_a_1mb_line_is_analysed_once(scans: list[int]) -> None:
    big = "SYSTEM " + "lorem ipsum dolor sit amet " * (1_000_000 // 27)
    analyses: list[EditorScreen.Analyzed] = []

    def hook(message: object) -> None:
        if isinstance(message, EditorScreen.Analyzed):
            analyses.append(message)

    app = editor_app()
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        screen = await ready(pilot)
        await screen.load_document(EditorDoc(kind=MODELFILE, new_id="t"), big, saved=True)
        assert scans == [len(big)]  # the load: one parse for colours, problems and preview
        # The one line is over the limit: shown unwrapped and unhighlighted, and the title says so.
        assert not screen.editor.soft_wrap
        assert screen.analysis.long_lines == (0,)
        title = str(screen.query_one("#editor-title").render())
        assert f"over {LONG_LINE:,} characters" in title
        assert [d.code for d in screen.diagnostics] == ["missing-from"]

        # The test holds the debounce open: no key may parse; the burst is parsed once after.
        screen.analysis_delay = 3600
        screen.editor.move_cursor((0, len(big)))
        await pilot.press(*"FROM x")
        assert scans == [len(big)]
        assert not screen.analysis_current()
        screen.analyze_now()
        typed = screen.editor.text
        await until(
            pilot, lambda: any(m.analysis.text == typed for m in analyses), "the burst's analysis"
        )
        assert scans == [len(big), len(big) + 6]
        assert screen.analysis_current()
        await workers_done(app)
        assert len(scans) == 2


async def test_the_debounce_analyses_after_typing_stops(scans: list[int]) -> None:
    app = editor_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await pilot.press(*"FROM x", "enter", *"PARAMETER top_k high")
        # Nothing has to call analyze_now: the timer does, once the keys stop.
        await until(pilot, screen.analysis_current, "the analysis after the last key")
        assert [d.code for d in screen.diagnostics] == ["invalid-value"]
        # Fewer parses than keys (26): the keys came faster than the debounce.
        assert len(scans) < 26
        # One result for the three consumers: colours, underline and preview of the same text.
        assert screen.editor.gutter_mark(1) == "error"
        styles = {str(s.style) for s in screen.editor.get_line(1).spans}
        assert len(styles) >= 2
        assert screen.preview is not None


BAD = b"FROM x\nSYSTEM caf\xe9 \xff ok\nPARAMETER num_ctx 4096\n"


async def test_bytes_that_are_not_utf8_are_reported_and_kept_on_save(tmp_path: Path) -> None:
    target = tmp_path / "Modelfile"
    target.write_bytes(BAD)
    app = editor_app(file=str(target))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await until(pilot, lambda: screen.editor.text, "the file")
        # Shown as Ollama reads it; a warning at the first bad byte (line 2, column 11).
        assert screen.editor.text == "FROM x\nSYSTEM caf\ufffd \ufffd ok\nPARAMETER num_ctx 4096\n"
        warnings = [d for d in screen.diagnostics if d.code == "encoding"]
        assert [(d.line, d.col, d.severity) for d in warnings] == [(2, 11, "warning")]
        assert "0xE9" in warnings[0].message and "1 more" in warnings[0].message

        # Edit another line, save: every other byte is what it was.
        screen.editor.move_cursor((2, len("PARAMETER num_ctx ")))
        await pilot.press("delete", "delete", "delete", "delete", *"2048")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not screen.dirty, "the save")
        await workers_done(app)
        assert target.read_bytes() == BAD.replace(b"4096", b"2048")
        assert (tmp_path / "Modelfile.bak").read_bytes() == BAD

        # Edit the line itself, away from the bad bytes: they are kept too.
        screen.editor.move_cursor((1, len("SYSTEM ")))
        await pilot.press(*"Le ")
        await until(pilot, screen.analysis_current, "the analysis")
        assert [d.code for d in screen.diagnostics] == ["encoding"]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not screen.dirty, "the second save")
        await workers_done(app)
        assert target.read_bytes() == BAD.replace(b"4096", b"2048").replace(
            b"SYSTEM ", b"SYSTEM Le "
        )

        # Deleting the bad bytes removes the warning.
        screen.editor.move_cursor((1, len("SYSTEM Le caf")))
        await pilot.press("shift+end", "backspace", *"e")
        await until(pilot, screen.analysis_current, "the analysis")
        assert screen.diagnostics == []
