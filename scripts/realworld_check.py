"""Run ``slmdeck check`` (and ``convert``) over real files and compare with the real tools' verdicts.

Usage: ``python scripts/realworld_check.py PATH`` where PATH holds ``modelfile/``,
``inference_model/`` and ``genai_config/`` folders and a ``SOURCES.md`` whose tables give, per
file, what the real tool says (a verdict with ``**reject**`` or ``create fails`` is a reject,
any other is an accept; ``env`` failures, that depend on files absent here, count as accepts).
Prints each disagreement, then ``agree/total`` per folder and in all.

Then, for each Modelfile with a TEMPLATE, converts it to a PromptTemplate and compares the prompt
the PromptTemplate renders with the prompt the engine renders from the TEMPLATE (as Ollama
would), for Ollama's three test conversations: ``exact/total``, and which templates a
PromptTemplate cannot express (each listed in what the conversion says is lost).

Not part of the test suite (the data is third-party).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tui.commands.check import check_file
from tui.core.convert import modelfile_to_inference_model
from tui.core.diagnostics import has_errors
from tui.core.modelfile import decode_bytes, parse
from tui.core.ollama_prompt import TemplateError, render_prompt
from tui.core.prompt_template import render_prompt as render_pt

KINDS = {
    "modelfile": "modelfile",
    "inference_model": "inference-model",
    "genai_config": "genai-config",
}
CONVERSATIONS = {  # ollama/ollama template/template_test.go
    "user": [("user", "Hello, how are you?")],
    "user-assistant-user": [
        ("user", "Hello, how are you?"),
        ("assistant", "I'm doing great. How can I help you today?"),
        ("user", "I'd like to show off how chat templating works!"),
    ],
    "system-user-assistant-user": [
        ("system", "You are a helpful assistant."),
        ("user", "Hello, how are you?"),
        ("assistant", "I'm doing great. How can I help you today?"),
        ("user", "I'd like to show off how chat templating works!"),
    ],
}


def verdicts(sources: str) -> dict[str, bool]:
    """File name -> True when the real tool rejects it, from SOURCES.md's tables."""
    out: dict[str, bool] = {}
    for line in sources.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or not re.search(r"\.(Modelfile|json)$", cells[1]):
            continue
        verdict = cells[-2]
        out[cells[1]] = "**reject**" in verdict or bool(re.search(r"create`? fails", verdict))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    root = Path(argv[1])
    expected = verdicts((root / "SOURCES.md").read_text(encoding="utf-8"))
    agree_all = total_all = 0
    for folder, kind in KINDS.items():
        agree = total = 0
        for path in sorted((root / folder).iterdir()):
            if path.name not in expected:
                continue
            total += 1
            outcome = check_file(str(path), kind)
            if isinstance(outcome, str):
                print(f"{folder}/{path.name}: not checked: {outcome}")
                continue
            rejected = has_errors(outcome)
            if rejected == expected[path.name]:
                agree += 1
                continue
            want = "reject" if expected[path.name] else "accept"
            print(f"DISAGREE {folder}/{path.name}: the real tool would {want}; check says:")
            for d in outcome:
                print("   ", d.format(path.name))
        print(f"{folder}: {agree}/{total} verdicts agree")
        agree_all += agree
        total_all += total
    print(f"all: {agree_all}/{total_all} verdicts agree")

    exact = total = 0
    inexpressible: list[str] = []
    for path in sorted((root / "modelfile").iterdir()):
        mf = parse(decode_bytes(path.read_bytes()))
        if mf.template is None or has_errors(mf.diagnostics):
            continue
        result = modelfile_to_inference_model(mf)
        pt = result.data["PromptTemplate"] if result.data else None
        for conv, turns in CONVERSATIONS.items():
            total += 1
            try:
                want = render_prompt(mf.template, [{"role": r, "content": c} for r, c in turns])
            except TemplateError as exc:
                print(f"{path.name} [{conv}]: the TEMPLATE does not run: {exc}")
                continue
            if pt is not None and render_pt(pt, turns) == want:
                exact += 1
            elif path.name not in inexpressible:
                inexpressible.append(path.name)
    print(f"convert: {exact}/{total} prompts rendered alike by the PromptTemplate")
    for name in inexpressible:
        print(f"  not expressible as a PromptTemplate (listed as lost): {name}")
    return 0 if agree_all == total_all else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
