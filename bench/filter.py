"""Filter-as-you-type on the Models screen with 1,000 models: cost per keystroke.

    python bench/filter.py [--models 1000] [--keys qwen2.5] [--rounds 5]

The Ollama replay server (in this process) holds ``--models`` models; the app (headless, 100x30)
lists them on the Models screen. In the same run it measures, per keystroke, from the key press
until the screen has repainted:

a. baseline: typing into an Input on the same screen that nothing listens to (the cost of a
   keystroke and a repaint with the 1,000-row table on screen);
b. filter: typing into the filter box, which re-filters and redraws the table.

It prints wall and CPU time (process time, which leaves out Pilot's idle waits) for both, their
ratio (b / a), and the pure filter function's time over the rows. The target is < 50 ms of work per
keystroke for (b); the ratio says how much the filter adds to a keystroke and stays comparable
across machines where the absolute figures do not.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.ollama_replay import ReplayModel, start_replay_server  # noqa: E402

FAMILIES = ("qwen2.5", "llama3.2", "gemma3", "phi4-mini", "mistral", "smollm2", "granite3.3")
QUANTS = ("Q4_K_M", "Q8_0", "F16", "Q5_K_M", "Q4_0", "Q6_K")


def fill(server, count: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(count):
        family = FAMILIES[i % len(FAMILIES)]
        quant = QUANTS[(i // len(FAMILIES)) % len(QUANTS)]
        server.state.add_model(
            ReplayModel(
                name=f"{family}:v{i}-{quant.lower()}",
                digest=f"{i:064x}",
                size=100_000_000 + i * 1_000_003,
                family=family.split(".")[0],
                parameter_size=f"{1 + i % 9}.{i % 10}B",
                quantization_level=quant,
            )
        )


async def measure(count: int, keys: str, rounds: int) -> None:
    from textual.widgets import Input

    from tui.app import make_app
    from tui.config import Config
    from tui.screens.models import ModelsScreen
    from tui.widgets.model_table import ModelTable, filter_rows

    with start_replay_server() as server:
        fill(server, count)
        cfg = Config(ollama_host=server.host_port, model_dirs=[], retry_interval=0)
        app = make_app(cfg, start_screen="models")
        async with app.run_test(size=(100, 30)) as pilot:
            await app.controller.refresh_all()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ModelsScreen)
            table = screen.query_one(ModelTable)
            rows = len(table.rows_all)
            baseline_box = Input(id="bench-baseline")
            await screen.mount(baseline_box, before=table)
            filter_box = screen.query_one("#models-filter", Input)
            filter_box.display = True

            async def per_key(box: Input) -> tuple[float, float]:
                walls, cpus = [], []
                for _ in range(rounds):
                    box.value = ""
                    box.focus()
                    await pilot.pause()
                    await app.workers.wait_for_complete()
                    for key in keys:
                        wall, cpu = time.perf_counter(), time.process_time()
                        await pilot.press(key)
                        await pilot.pause()  # processes the change and the repaint it asked for
                        walls.append(time.perf_counter() - wall)
                        cpus.append(time.process_time() - cpu)
                return statistics.median(walls), statistics.median(cpus)

            base, base_cpu = await per_key(baseline_box)
            filt, filt_cpu = await per_key(filter_box)
            shown = len(table.shown)
            reps = 200
            start = time.perf_counter()
            for _ in range(reps):
                filter_rows(table.rows_all, keys)
            pure = (time.perf_counter() - start) / reps
    print(f"rows: {rows}; typed {keys!r} x {rounds}; {shown} rows match at the end")
    print("median per keystroke        wall ms   CPU ms (process time: the work itself)")
    print(f"a. baseline (Input only)   {base * 1000:8.2f} {base_cpu * 1000:8.2f}")
    print(f"b. filter + redraw         {filt * 1000:8.2f} {filt_cpu * 1000:8.2f}")
    print(f"ratio b/a: wall {filt / base:.2f}, CPU {filt_cpu / max(base_cpu, 1e-9):.2f}")
    print(f"filter's own CPU per keystroke (b - a): {(filt_cpu - base_cpu) * 1000:.2f} ms")
    print(f"pure filter_rows over {rows} rows: {pure * 1e6:.0f} µs")
    met = filt_cpu < 0.05
    print(f"target: b < 50 ms of work per keystroke -> {'met' if met else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--keys", default="qwen2.5")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    asyncio.run(measure(args.models, args.keys, args.rounds))


if __name__ == "__main__":
    main()
