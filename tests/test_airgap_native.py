"""Air-gapped below Python too: the native ONNX Runtime libraries must not phone home.

onnxruntime and onnxruntime-genai start a 1DS telemetry uploader (mobile.events.data.microsoft.com)
at the first model load unless ``ORT_DISABLE_TELEMETRY`` is set; it writes a device id and an offline
queue under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` at once and looks the collector up
about 9 s later. Those sockets are opened by C++ code, out of reach of tests/netguard.py, so these
tests watch the system calls with ``strace -f`` (Debian/Ubuntu package: ``strace``) and fail on any
connect or send-to beyond loopback, or to port 53 (DNS) anywhere.

Both libraries also keep quiet by themselves when a CI variable (``CI``, ``GITHUB_ACTIONS``, ...) is
set, which .ci/run does: the subprocesses run without those, so that it is slmdeck that turns the
telemetry off here, not the CI.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, TINY_ONNX

LINGER_S = 15
"""Seconds the chat process stays up after the reply: the uploader's first lookup came ~9 s after
the model load (onnxruntime 1.32.0, onnxruntime-genai 0.18.0)."""

_CI_VARIABLES = (  # the libraries' own list (telemetry_environment.h in both)
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    "ORT_RUNNING_UNIT_TESTS",
    "ORT_DISABLE_TELEMETRY",
)

_CALL = re.compile(r"\b(connect|sendto|sendmsg|sendmmsg)\(")
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_ADDR = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?, "([^"]+)"')

CHAT = """
import asyncio, sys, time
from pathlib import Path
from tui.backends.base import ChatMessage
from tui.backends.onnx_genai import OnnxGenAIBackend

async def main():
    backend = OnnxGenAIBackend([Path(sys.argv[1])])
    (model,) = await backend.list_models()
    text = ""
    async for chunk in backend.chat(model.name, [ChatMessage("user", "What is the capital of France?")]):
        text += chunk.content
    print("REPLY", text, flush=True)

asyncio.run(main())
time.sleep(float(sys.argv[2]))
"""


def offending(trace: str) -> list[str]:
    """The lines of an ``strace -e trace=network`` log that reach beyond loopback or use DNS."""
    bad = []
    for line in trace.splitlines():
        if not _CALL.search(line) or "sa_family=AF_INET" not in line:
            continue  # AF_UNIX, netlink, or a send on a socket whose connect is already judged
        port = _PORT.search(line)
        addr = _ADDR.search(line)
        host = (addr.group(1) or addr.group(2)) if addr else ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback or (port is not None and port.group(1) == "53"):
            bad.append(line)
    return bad


def strace() -> str:
    path = shutil.which("strace")
    if path is None:
        pytest.fail("strace is needed to watch native sockets (apt-get install strace)")
    return path


def native_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CI_VARIABLES}
    env["HOME"] = str(home)
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env["PYTHONPATH"] = str(REPO)
    return env


def traced(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> str:
    out = subprocess.run(
        [strace(), "-f", "-qq", "-e", "trace=network", "-o", str(log), *cmd],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_detector_catches_what_the_uploader_did() -> None:
    """Lines recorded from onnxruntime-genai 0.18 before the fix are caught; loopback ones are not."""
    trace = "\n".join(
        [
            '10241 connect(14, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16 <unfinished ...>',
            '10240 connect(15, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0',
            '7 connect(3, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2603:1030::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
            '7 sendto(3, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("13.69.1.1")}, 16) = 1',
            '7 connect(3, {sa_family=AF_INET, sin_port=htons(11434), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
            '7 connect(3, {sa_family=AF_INET6, sin6_port=htons(8080), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
            '7 connect(4, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
            '10241 sendto(14, "~\\343\\1\\0mobile\\6events"..., 50, MSG_NOSIGNAL, NULL, 0) = 50',
        ]
    )
    assert len(offending(trace)) == 4


def test_onnx_chat_makes_no_network_call_and_writes_no_telemetry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    models = tmp_path / "models"
    shutil.copytree(TINY_ONNX, models / TINY_ONNX.name)
    log = tmp_path / "chat.strace"
    stdout = traced(
        [sys.executable, "-c", CHAT, str(models), str(LINGER_S)],
        native_env(home),
        log,
        timeout=LINGER_S + 120,
    )
    assert "REPLY The capital of France is Paris." in stdout
    trace = log.read_text(encoding="utf-8", errors="replace")
    assert offending(trace) == []
    assert not (home / ".cache" / "Microsoft").exists(), sorted(map(str, home.rglob("*")))


def test_models_cli_makes_no_network_call_beyond_loopback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[onnx]\nmodel_dirs = ["{FIXTURES}"]\n', encoding="utf-8")
    env = native_env(home)
    env["SLMDECK_CONFIG"] = str(config)  # Ollama: the closed loopback port tests/conftest.py set
    log = tmp_path / "cli.strace"
    stdout = traced([sys.executable, "-m", "tui.cli", "models", "--json"], env, log, timeout=120)
    assert any(m["backend"] == "onnx" for m in json.loads(stdout)["models"])
    trace = log.read_text(encoding="utf-8", errors="replace")
    assert "htons(" in trace, "strace should have seen the Ollama probe's connect"
    assert offending(trace) == []
    assert not (home / ".cache" / "Microsoft").exists()


def test_doctor_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".cache" / "Microsoft" / "DeveloperTools" / ".onnxruntime").mkdir(parents=True)
    env = native_env(home)
    env["SLMDECK_CONFIG"] = str(tmp_path / "none.toml")
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "doctor"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert "ONNX Runtime telemetry: off (ORT_DISABLE_TELEMETRY=1" in out.stdout
    assert ".onnxruntime exists: written by another program or an older slmdeck" in out.stdout
    assert "proxy: none (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and .netrc are ignored)" in out.stdout
