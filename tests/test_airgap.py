"""Air-gapped by default: nothing but configured backends is contacted, nothing at import or start.

Every connect, send-to and name lookup is recorded and anything beyond loopback is refused
(tests/netguard.py), in the test process for the app and through sitecustomize for the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import netguard
from tests.conftest import FIXTURES, REACHABLE, REPO, closed_port
from tui.app import make_app
from tui.config import Config, OpenAIEndpoint


def guarded_env(log: Path, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests" / "netguard_site"), str(REPO)])
    env["SLMDECK_NETGUARD_LOG"] = str(log)
    env["SLMDECK_NETGUARD_REPO"] = str(REPO)
    return env


def test_guard_really_refuses(tmp_path: Path) -> None:
    """The guard itself works: a non-loopback connect is refused and logged."""
    log = tmp_path / "net.log"
    code = (
        "import socket\n"
        "for attempt in (lambda: socket.create_connection(('192.0.2.1', 80), timeout=1),\n"
        "                lambda: socket.socket().connect(('192.0.2.2', 443))):\n"
        "    try:\n"
        "        attempt()\n"
        "    except OSError as e:\n"
        "        print('BLOCKED', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=guarded_env(log, {}),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.count("BLOCKED") == 2
    rows = netguard.read_log(log)
    assert ("lookup", "192.0.2.1", "80") in rows
    assert ("connect", "192.0.2.2", "443") in rows


def test_import_contacts_nothing(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    subprocess.run(
        [sys.executable, "-c", "import tui.app, tui.cli, tui.controller, tui.config"],
        env=guarded_env(log, {}),
        check=True,
    )
    assert netguard.read_log(log) == []


def test_cli_contacts_only_configured_backends(tmp_path: Path, isolated_env: Path) -> None:
    ollama_port, openai_port = closed_port(), closed_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[ollama]\nhost = "http://127.0.0.1:{ollama_port}"\n'
        f'[onnx]\nmodel_dirs = ["{FIXTURES}"]\n'
        f'[[openai]]\nname = "local"\nurl = "http://127.0.0.1:{openai_port}/v1"\n',
        encoding="utf-8",
    )
    log = tmp_path / "net.log"
    env = guarded_env(log, {"SLMDECK_CONFIG": str(config)})
    env.pop("OLLAMA_HOST", None)
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "models", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert any(m["backend"] == "onnx" for m in data["models"])
    contacted = {(host, port) for kind, host, port in netguard.read_log(log) if kind == "connect"}
    allowed = {("127.0.0.1", str(ollama_port)), ("127.0.0.1", str(openai_port))}
    assert contacted, "the configured backends should have been probed"
    assert contacted <= allowed
    lookups = {host for kind, host, _ in netguard.read_log(log) if kind == "lookup"}
    assert lookups <= {"127.0.0.1", "localhost"}


@pytest.fixture
def guard(tmp_path: Path):  # type: ignore[no-untyped-def]
    log = tmp_path / "app-net.log"
    netguard.install(log)
    yield log
    netguard.uninstall()


async def test_app_contacts_only_configured_backends(guard: Path) -> None:
    ollama_port, openai_port = closed_port(), closed_port()
    cfg = Config(
        ollama_host=f"127.0.0.1:{ollama_port}",
        model_dirs=[FIXTURES],
        openai=[OpenAIEndpoint("local", f"http://127.0.0.1:{openai_port}/v1")],
        probe_timeout=REACHABLE,
        retry_interval=0,
    )
    app = make_app(cfg)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.controller.refresh_all()
        await pilot.pause()
        await pilot.press("q")
    rows = netguard.read_log(guard)
    contacted = {(host, port) for kind, host, port in rows if kind == "connect"}
    assert contacted
    assert contacted <= {("127.0.0.1", str(ollama_port)), ("127.0.0.1", str(openai_port))}
