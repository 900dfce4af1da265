"""Render Ollama's shipped templates against the prompts Ollama's own tests expect.

Usage: ``python scripts/realworld_templates.py PATH`` where PATH holds ``*.gotmpl`` files and
``testdata/<name>.gotmpl/<conversation>`` files (Ollama's ``template/`` folder). The conversations
are the three of Ollama's ``template/template_test.go`` (``TestTemplate``); as that test does, one
trailing space is dropped from the output of the five templates it names. Prints each mismatch
with a diff, then ``pass/total``. Not part of the test suite (the data is third-party).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from tui.core.gotemplate import TemplateError
from tui.core.ollama_prompt import execute_ollama, parse_ollama

_USER = {"role": "user", "content": "Hello, how are you?"}
_ASSISTANT = {"role": "assistant", "content": "I'm doing great. How can I help you today?"}
_USER2 = {"role": "user", "content": "I'd like to show off how chat templating works!"}
_SYSTEM = {"role": "system", "content": "You are a helpful assistant."}

CONVERSATIONS = {
    "user": [_USER],
    "user-assistant-user": [_USER, _ASSISTANT, _USER2],
    "system-user-assistant-user": [_SYSTEM, _USER, _ASSISTANT, _USER2],
}
# template_test.go strips one trailing space from these templates' output before comparing.
STRIP_TRAILING_SPACE = {
    "chatqa.gotmpl",
    "llama2-chat.gotmpl",
    "mistral-instruct.gotmpl",
    "openchat.gotmpl",
    "vicuna.gotmpl",
}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    root = Path(argv[1])
    passed = total = 0
    for path in sorted(root.glob("*.gotmpl")):
        text = path.read_bytes().decode("utf-8")
        try:
            tmpl = parse_ollama(text)
        except TemplateError as e:
            print(f"{path.name}: parse error: {e}")
            total += len(CONVERSATIONS)
            continue
        for conv, messages in CONVERSATIONS.items():
            expect_path = root / "testdata" / path.name / conv
            if not expect_path.exists():
                continue
            total += 1
            expect = expect_path.read_bytes().decode("utf-8")
            try:
                got = execute_ollama(tmpl, messages)
            except TemplateError as e:
                print(f"{path.name} [{conv}]: execution error: {e}")
                continue
            if path.name in STRIP_TRAILING_SPACE and got.endswith(" "):
                got = got[:-1]
            if got == expect:
                passed += 1
                continue
            print(f"MISMATCH {path.name} [{conv}]")
            diff = difflib.unified_diff(
                expect.splitlines(keepends=True),
                got.splitlines(keepends=True),
                "expected",
                "rendered",
            )
            sys.stdout.writelines(repr(line)[1:-1] + "\n" for line in diff)
    print(f"{passed}/{total} byte-exact")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
