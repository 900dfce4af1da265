"""The fault matrix for the headless commands: ``slmdeck models`` and ``slmdeck doctor`` with
one backend misbehaving (Ollama or an OpenAI-compatible server) and the others healthy.

Each cell runs the command in-process (``tui.cli.main``) against real loopback servers and checks:
no traceback and the usual exit status; it returns promptly (within the probe timeout and a
margin: no hang); the healthy backends' models are still listed; the faulty backend's line names
it, its address and the cause, with no control character reaching the terminal; and after the
fault clears, the same command lists that backend's models.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, closed_port
from tests.faults.harness import ESCAPES, ESCAPES_SHOWN, HTML_500, MARKUP, ONNX_MODEL, RAW_CONTROLS
from tests.faults.openai_server import OpenAIServer, start_openai_server
from tests.ollama_replay import ReplayServer, ReplayState, many_models
from tests.ollama_replay import start_replay_server as start_replay
from tests.waiting import DEADLINE
from tui.cli import main

PROBE_TIMEOUT = 1.0
PROMPT = PROBE_TIMEOUT + 10.0
"""Seconds a command may take with a backend faulty (the probe's bound, and a wide margin)."""


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ReplayServer, OpenAIServer]]:
    with start_replay() as ollama, start_openai_server() as openai:
        yield ollama, openai


@pytest.fixture
def both(
    servers: tuple[ReplayServer, OpenAIServer], isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ReplayServer, OpenAIServer]:
    ollama, openai = servers
    ollama.state = ollama.httpd.state = ReplayState()
    openai.clear_faults()
    with openai.lock:
        openai.models = ["tiny"]
    write_config(isolated_env, ollama.host_port, openai.url)
    monkeypatch.setenv("SLMDECK_MODEL_DIRS", str(FIXTURES))
    monkeypatch.delenv("OLLAMA_HOST")
    return ollama, openai


def write_config(env: Path, ollama: str, openai: str) -> None:
    (env / "config" / "config.toml").write_text(
        f'[ollama]\nhost = "{ollama}"\n[[openai]]\nname = "faulty"\nurl = "{openai}"\n'
        f"[backends]\nprobe_timeout = {PROBE_TIMEOUT}\n",
        encoding="utf-8",
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str, float]:
    started = time.monotonic()
    code = main(list(args))
    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    for raw in RAW_CONTROLS:
        assert raw not in out + err
    return code, out, err, took


def listed(out: str) -> set[str]:
    """The NAME column of ``slmdeck models``."""
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def tags_with_bad_byte(server: ReplayServer) -> bytes:
    with urllib.request.urlopen(f"{server.url}/api/tags", timeout=DEADLINE) as response:
        body: bytes = response.read()
    return body.replace(b'"qwen3:0.6b"', b'"qwen3:0.6b\xff"')


def openai_json_error(status: int, message: str) -> dict[str, Any]:
    return dict(
        error_status=status,
        error_body=json.dumps({"error": {"message": message}}).encode(),
        error_content_type="application/json",
    )


# scenario: (Ollama faults, its cause, OpenAI faults, its cause); None: see the test
SCENARIOS: dict[str, tuple[dict[str, Any], str, dict[str, Any], str]] = {
    "silence": (
        dict(delay_first_byte=DEADLINE),
        f"did not answer within {PROBE_TIMEOUT:g} s",
        dict(delay_first_byte=DEADLINE),
        f"did not answer within {PROBE_TIMEOUT:g} s",
    ),
    "drip": (
        dict(drip_interval=0.05),
        f"did not answer within {PROBE_TIMEOUT:g} s",
        dict(drip_interval=0.05),
        f"did not answer within {PROBE_TIMEOUT:g} s",
    ),
    "500-json": (
        dict(error_status=500, error_message="out of memory"),
        "answered 500: out of memory",
        openai_json_error(500, "out of memory"),
        "answered 500: out of memory",
    ),
    "500-html": (
        dict(error_status=500, error_body=HTML_500),
        "answered HTTP 500 Internal Server Error (HTML page)",
        dict(error_status=500, error_body=HTML_500),
        "answered HTTP 500 Internal Server Error (HTML page)",
    ),
    "500-markup": (
        dict(error_status=500, error_message=MARKUP),
        f"answered 500: {MARKUP}",
        openai_json_error(500, MARKUP),
        f"answered 500: {MARKUP}",
    ),
    "500-escapes": (
        dict(error_status=500, error_message=ESCAPES),
        f"answered 500: {ESCAPES_SHOWN}",
        openai_json_error(500, ESCAPES),
        f"answered 500: {ESCAPES_SHOWN}",
    ),
    "404": (
        dict(error_status=404, error_body=b"404 page not found", error_content_type="text/plain"),
        "has no /api/version (HTTP 404): the URL is wrong",
        openai_json_error(404, "Not Found"),
        "answered 404: Not Found",
    ),
    "garbage": (
        dict(garbage_after_chunks=0),
        "answered an HTML page saying 'this is not JSON'",
        dict(replace_body=HTML_500),
        "answered an HTML page titled '500 Internal Server Error', not JSON",
    ),
}
KINDS = ["ollama", "openai"]


def inject(both: tuple[ReplayServer, OpenAIServer], kind: str, scenario: str) -> tuple[str, str]:
    """Apply the scenario to one backend; (its id, the start of its message)."""
    ollama, openai = both
    o_faults, _, a_faults, _ = SCENARIOS[scenario]
    if kind == "ollama":
        ollama.set_faults(**o_faults)
        return "ollama", f"Ollama at {ollama.host_port} "
    openai.set_faults(**a_faults)
    return "openai:faulty", f"OpenAI-compatible server at {openai.address} "


def cause_of(kind: str, scenario: str) -> str:
    _, o_cause, _, a_cause = SCENARIOS[scenario]
    return o_cause if kind == "ollama" else a_cause


def healthy_models(kind: str) -> list[str]:
    """Models that stay listed when ``kind`` is faulty: ONNX's, and the other server's."""
    return [ONNX_MODEL, "tiny" if kind == "ollama" else "qwen2.5:0.5b"]


def own_model(kind: str) -> str:
    return "qwen2.5:0.5b" if kind == "ollama" else "tiny"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_models(
    both: tuple[ReplayServer, OpenAIServer],
    capsys: pytest.CaptureFixture[str],
    kind: str,
    scenario: str,
) -> None:
    backend, where = inject(both, kind, scenario)
    code, out, err, took = run(capsys, "models")
    assert code == 0 and took < PROMPT
    assert set(healthy_models(kind)) <= listed(out) and own_model(kind) not in listed(out)
    (line,) = [x for x in err.splitlines() if x.startswith(f"{backend}: down: ")]
    assert line.startswith(f"{backend}: down: {where}") and cause_of(kind, scenario) in line
    both[0].clear_faults()
    both[1].clear_faults()
    code, out, err, _ = run(capsys, "models")
    assert code == 0 and own_model(kind) in listed(out) and "down" not in err


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_doctor(
    both: tuple[ReplayServer, OpenAIServer],
    capsys: pytest.CaptureFixture[str],
    kind: str,
    scenario: str,
) -> None:
    backend, where = inject(both, kind, scenario)
    code, out, _, took = run(capsys, "doctor")
    assert code == 0 and took < PROMPT  # 0: other backends are up
    lines = out.splitlines()
    (head,) = [i for i, x in enumerate(lines) if x.startswith(f"  {backend} [")]
    assert lines[head].endswith(": down")
    detail = lines[head + 1].strip()
    assert detail.startswith(where) and cause_of(kind, scenario) in detail
    both[0].clear_faults()
    both[1].clear_faults()
    code, out, _, _ = run(capsys, "doctor")
    (head_line,) = [x for x in out.splitlines() if x.startswith(f"  {backend} [")]
    assert head_line.endswith(": up, 4 models" if kind == "ollama" else ": up, 1 model")


@pytest.mark.parametrize("command", ["models", "doctor"])
@pytest.mark.parametrize("kind", KINDS)
def test_refused(
    both: tuple[ReplayServer, OpenAIServer],
    isolated_env: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
) -> None:
    """Nothing listens at the configured address; then a server starts there."""
    port = closed_port()
    ollama, openai = both
    address = f"127.0.0.1:{port}"
    write_config(
        isolated_env,
        address if kind == "ollama" else ollama.host_port,
        f"http://{address}" if kind == "openai" else openai.url,
    )
    code, out, err, took = run(capsys, command)
    assert code == 0 and took < PROMPT
    if command == "models":
        assert set(healthy_models(kind)) <= listed(out)
    assert f"at {address} is not running (connection refused)" in out + err
    start = start_replay if kind == "ollama" else start_openai_server
    with start(port=port):
        code, out, err, _ = run(capsys, command)
    assert code == 0 and "connection refused" not in out + err
    if command == "models":
        assert own_model(kind) in listed(out)


@pytest.mark.parametrize("command", ["models", "doctor"])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_utf8_name(
    both: tuple[ReplayServer, OpenAIServer],
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
) -> None:
    """One model name that is not UTF-8: that model is left out and said so; the rest listed."""
    ollama, openai = both
    if kind == "ollama":
        ollama.set_faults(replace_body=tags_with_bad_byte(ollama), paths={"/api/tags"})
        kept, where = "qwen2.5:0.5b", f"Ollama at {ollama.host_port}"
    else:
        body = b'{"object": "list", "data": [{"id": "tiny"}, {"id": "bad\xff"}]}'
        openai.set_faults(replace_body=body, replace_content_type="application/json")
        kept, where = "tiny", f"OpenAI-compatible server at {openai.address}"
    code, out, err, _ = run(capsys, command)
    assert code == 0
    said = [x for x in (out + err).splitlines() if "not valid UTF-8" in x]
    assert len(said) == 1 and where in said[0] and "left out" in said[0]
    if command == "models":
        assert {kept, ONNX_MODEL} <= listed(out)
    ollama.clear_faults()
    openai.clear_faults()
    code, out, err, _ = run(capsys, command)
    assert "not valid UTF-8" not in out + err


@pytest.mark.parametrize("scenario", ["10000-models", "hostile-names"])
@pytest.mark.parametrize("kind", KINDS)
def test_models_many_and_hostile_names(
    both: tuple[ReplayServer, OpenAIServer],
    capsys: pytest.CaptureFixture[str],
    kind: str,
    scenario: str,
) -> None:
    """10,000 models are listed promptly; names with markup and escape sequences are printed
    with their control characters made visible."""
    ollama, openai = both
    hostile = ["x[/]", "[@click=app.quit]", "esc\x1b]0;pwn\x07"]
    if scenario == "10000-models":
        names = [m.name for m in many_models(10_000)]
    else:
        names = [f"{n}:latest" for n in hostile]
    if kind == "ollama":
        for model, name in zip(many_models(len(names)), names, strict=True):
            ollama.state.add_model(dataclasses.replace(model, name=name))
    else:
        with openai.lock:
            openai.models = ["tiny", *names]
    code, out, _, took = run(capsys, "models", "--json")
    assert code == 0 and took < PROMPT
    listed = {m["name"] for m in json.loads(out)["models"]}
    assert {ONNX_MODEL, *names} <= listed
    code, out, _, _ = run(capsys, "models")
    assert code == 0
    if scenario == "hostile-names":
        assert "esc\\x1b]0;pwn\\x07" in out and "[@click=app.quit]" in out
    else:
        assert out.count("bulk-") == 10_000
