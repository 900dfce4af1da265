"""``slmdeck fleet``: a table or JSON of every host, outside text made inert."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.conftest import closed_port
from tests.metrics_server import metrics_server
from tests.ollama_replay import start_replay_server
from tests.test_fleet_collector import load
from tui.commands import fleet as fleet_cmd
from tui.fleet.hosts import FleetSettings, Host, OpenAIServer, local_host


async def test_table_of_every_host_with_models_and_load() -> None:
    with (
        start_replay_server() as replay,
        metrics_server("vllm", running=2, waiting=5, kv_usage=0.5) as vllm,
    ):
        load(replay, "qwen3:0.6b", 4096)
        dead = f"http://127.0.0.1:{closed_port()}"
        hosts = [
            local_host(replay.url),
            Host("gpu-1", openai=(OpenAIServer("vllm", vllm.api_url),), readonly=True),
            Host("gone", ollama=dead),
        ]
        out = io.StringIO()
        code = await fleet_cmd.run_fleet(hosts, FleetSettings(timeout=60.0), out=out)
    text = out.getvalue()
    assert code == 1  # one host did not answer
    lines = text.splitlines()
    assert lines[0].startswith("slmdeck fleet · ") and lines[0].endswith("· 3 hosts")
    assert lines[1].split() == [
        "HOST",
        "STATE",
        "CPU",
        "RAM",
        "DISK",
        "GPU",
        "VRAM",
        "RUN",
        "WAIT",
        "TOK/S",
    ]
    assert "    ollama up  4 models" in lines
    assert any(
        line.startswith("    model qwen3:0.6b (ollama)  ") and "ctx 4096" in line for line in lines
    )
    gpu = next(line for line in lines if line.startswith("gpu-1"))
    assert gpu.split()[1] == "up/ro" and gpu.split()[-3:] == ["2", "5", "–"]
    assert "    openai:vllm (vllm) up  1 model · KV 50%" in lines
    gone = next(line for line in lines if line.startswith("gone"))
    assert gone.split()[1] == "down"
    assert f"    ollama down  ollama {dead}/api/ps: connection refused" in lines


async def test_json_and_hostile_names_are_inert() -> None:
    with metrics_server("vllm", model="evil\x1b]52;c;cHduZWQ=\x07model") as server:
        hosts = [Host("x\x1b[2Jhost", openai=(OpenAIServer("v", server.api_url),))]
        out = io.StringIO()
        await fleet_cmd.run_fleet(hosts, FleetSettings(timeout=60.0), json=True, out=out)
        text_out = io.StringIO()
        await fleet_cmd.run_fleet(hosts, FleetSettings(timeout=60.0), out=text_out)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "\x1b" not in text_out.getvalue()
    data = json.loads(out.getvalue())
    (host,) = data["hosts"]
    assert host["name"] == "x\\x1b[2Jhost"
    assert host["loaded"][0]["name"] == "evil\\x1b]52;c;cHduZWQ=\\x07model"
    assert host["backends"][0]["kind"] == "vllm"


async def test_watch_reprints_every_interval() -> None:
    with start_replay_server() as replay:
        out = io.StringIO()
        await fleet_cmd.run_fleet(
            [local_host(replay.url)],
            FleetSettings(interval=0.2, timeout=60.0),
            json=True,
            watch=True,
            out=out,
            polls=3,
        )
    assert len(out.getvalue().splitlines()) == 3


def test_main_reads_hosts_from_the_config_and_checks_its_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with start_replay_server() as replay:
        data = {
            "hosts": [{"name": "edge", "ollama": replay.url}, {"name": "bad"}],
            "fleet": {"timeout": 60},
        }
        code = fleet_cmd.main(
            ["--json", "--host", "edge"], data, base_dir=tmp_path, local=local_host(replay.url)
        )
        captured = capsys.readouterr()
    assert code == 0
    assert [h["name"] for h in json.loads(captured.out)["hosts"]] == ["edge"]
    assert "slmdeck fleet: [[hosts]] entry 2 ('bad') has no endpoint" in captured.err
    assert fleet_cmd.main(["--host", "nope"], {}, base_dir=tmp_path) == 2
    assert "no host named nope (hosts: local)" in capsys.readouterr().err
    assert fleet_cmd.main(["--interval", "0"], {}, base_dir=tmp_path) == 2
