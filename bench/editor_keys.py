"""Typing in the Editor: cost per keystroke for a normal Modelfile and a 1 MB single-line one.

    python bench/editor_keys.py [--keys 20] [--size 1000000] [--rounds 3]

The app runs headless (100x30) on the Editor screen. For each document it puts the cursor at the
end of its longest line (or at the start of the first) and types ``--keys`` characters, one at a
time, measuring each from the key press until the screen has handled it and repainted (Pilot's
``press`` then ``pause``). Then it measures how long the (debounced) analysis takes to show after
the last key: the highlighting, problems and preview of the text as typed.

Documents:
  normal: a 20-line Modelfile (ChatML TEMPLATE, SYSTEM, PARAMETERs), typed at the end of its
          longest line;
  1 MB:   one line, ``SYSTEM`` followed by ``--size`` bytes of words, typed at its end;
  1 MB+:  ``FROM llama3.2`` then that line, typed at the start of the FROM line (the 1 MB line
          stays as it is: tests/faults/test_matrix_local.py's 1mb-line case).

It prints median and worst per keystroke (wall and CPU ms) for each, the ratio of the 1 MB
figures to the normal ones, and the settle time. This is a benchmark: it prints figures and never
fails; tests/test_editor_analysis.py checks the behaviour (one analysis per burst of keys).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# Drafts and settings go to a throwaway folder: a run must not leave drafts that the next run
# (or the user's own slmdeck) would offer back.
_SCRATCH = Path(tempfile.mkdtemp(prefix="slmdeck-bench-"))
os.environ["SLMDECK_CONFIG"] = str(_SCRATCH / "config.toml")

NORMAL = '''# A tutor built on Qwen
FROM qwen2.5:0.5b
TEMPLATE """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""
SYSTEM "You are a patient tutor who explains every step."
PARAMETER num_ctx 4096
PARAMETER temperature 0.3
PARAMETER top_p 0.9
PARAMETER top_k 40
PARAMETER repeat_penalty 1.1
PARAMETER stop "<|im_start|>"
PARAMETER stop "<|im_end|>"
MESSAGE user "What is 2 + 2?"
MESSAGE assistant "4."
MESSAGE user "And 3 + 3?"
MESSAGE assistant "6."
'''


def one_line(size: int) -> str:
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit "
    body = (words * (size // len(words) + 1))[:size]
    return "SYSTEM " + body


async def measure(
    text: str, keys: int, rounds: int, at_start: bool = False
) -> tuple[list[float], list[float], float]:
    from tui.app import make_app
    from tui.config import Config
    from tui.screens.editor import EditorScreen
    from tui.widgets.editor_doc import MODELFILE, EditorDoc

    # A data dir of its own per run: the draft one run leaves is not offered to the next.
    os.environ["SLMDECK_DATA_DIR"] = tempfile.mkdtemp(dir=_SCRATCH)
    cfg = Config(ollama_host="127.0.0.1:1", model_dirs=[], retry_interval=0)
    app = make_app(cfg, start_screen="editor")
    walls: list[float] = []
    cpus: list[float] = []
    settles: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, EditorScreen)
        await screen.store_ready.wait()
        for _ in range(rounds):
            await screen.load_document(EditorDoc(kind=MODELFILE, new_id="bench"), text, saved=True)
            editor = screen.editor
            lines = editor.document.lines
            row = max(range(len(lines)), key=lambda i: len(lines[i]))
            editor.move_cursor((0, 0) if at_start else (row, len(lines[row])))
            await pilot.pause()
            await _settled(pilot, screen)
            for i in range(keys):
                wall, cpu = time.perf_counter(), time.process_time()
                await pilot.press("abcdefghij"[i % 10])
                await pilot.pause()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            start = time.perf_counter()
            await _settled(pilot, screen)
            settles.append(time.perf_counter() - start)
    return walls, cpus, statistics.median(settles)


async def _settled(pilot, screen) -> None:  # type: ignore[no-untyped-def]
    """Wait until the analysis shown is that of the current text (older code: at once)."""
    current = getattr(screen, "analysis_current", None)
    if current is None:
        return
    while not current():
        await pilot.pause(0.005)


def _row(name: str, walls: list[float], cpus: list[float], settle: float) -> str:
    return (
        f"{name:<8} {statistics.median(walls) * 1000:9.1f} {max(walls) * 1000:9.1f} "
        f"{statistics.median(cpus) * 1000:9.1f} {max(cpus) * 1000:9.1f} {settle * 1000:10.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    normal = asyncio.run(measure(NORMAL, args.keys, args.rounds))
    big = asyncio.run(measure(one_line(args.size), args.keys, args.rounds))
    above = "FROM llama3.2\n" + one_line(args.size)
    beside = asyncio.run(measure(above, args.keys, args.rounds, at_start=True))
    print(f"typed {args.keys} keys x {args.rounds} rounds (1 MB+: on the line above the long one)")
    print("ms per key   median     worst  CPU med  CPU worst  settle (analysis after last key)")
    print(_row("normal", *normal))
    print(_row(f"{args.size // 1000} kB", *big))
    print(_row(f"{args.size // 1000} kB+", *beside))
    for name, figures in (("1 MB", big), ("1 MB+", beside)):
        ratio_med = statistics.median(figures[0]) / statistics.median(normal[0])
        ratio_worst = max(figures[0]) / max(normal[0])
        print(f"ratio {name} / normal: median {ratio_med:.2f}, worst {ratio_worst:.2f}")


if __name__ == "__main__":
    main()
