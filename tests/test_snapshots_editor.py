"""Snapshots of the Editor screen with a Modelfile that has an error and a warning, at 100x30 and
80x24: highlighting, underlines, gutter marks, the problems list and the prompt preview. Recorded
monitor samples feed the gauge strip and every backend is down, so nothing else varies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REACHABLE
from tests.waiting import until, workers_done
from tui.app import make_app
from tui.config import Config
from tui.monitor import Monitor, load_samples
from tui.screens.editor import EditorScreen
from tui.widgets.editor_doc import MODELFILE, EditorDoc

SIZES = [(100, 30), (80, 24)]

MODELFILE_TEXT = '''# A tutor built on Qwen
FROM qwen2.5:0.5b
TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""
SYSTEM "You are a patient tutor."
PARAMETER num_ctx abc
PARAMETER temperature 0.3
PARAMETER temperature 0.4
PARAMETER stop "<|im_end|>"
'''


def editor_app():  # type: ignore[no-untyped-def]
    # Port 1 is never served here: "connection refused" is deterministic; no ONNX models.
    cfg = Config(
        ollama_host="127.0.0.1:1",
        model_dirs=[Path("/nonexistent/slmdeck-models")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    samples = load_samples(FIXTURES / "monitor_samples.json")
    return make_app(cfg, start_screen="editor", monitor=Monitor.replay(samples, preload=True))


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, EditorScreen)
    await screen.store_ready.wait()
    await app.controller.refresh_all()
    await until(pilot, lambda: app.last_sample is not None)
    assert app.last_sample is not None
    # A fixed document id: the title of a new document does not show it, the draft key would.
    doc = EditorDoc(kind=MODELFILE, new_id="snapshot")
    await screen.load_document(doc, MODELFILE_TEXT, saved=False)
    screen.editor.move_cursor((7, 18))
    await workers_done(app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_editor_with_diagnostics(snap_compare, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(editor_app(), terminal_size=size, run_before=settle)
