"""``[[hosts]]`` and ``[fleet]``: parsing with one readable problem per wrong entry, never a crash;
the local host first; read-only mode."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tui.fleet.hosts import (
    LOCAL,
    FleetSettings,
    Host,
    OpenAIServer,
    ReadOnlyError,
    ReadOnlyPolicy,
    check_mutation,
    hosts_from_toml,
    local_host,
)

README_SHAPE = """
[fleet]
hostfile = "more-hosts.toml"
prometheus = "http://10.0.0.1:9090/"
interval = 5
timeout = 1.5

[[hosts]]
name = "edge-5"
ollama = "http://10.0.0.5:11434"
openai = [{ name = "vllm", url = "http://10.0.0.5:8000/v1", api_key_env = "VLLM_KEY" }]
node_exporter = "http://10.0.0.5:9100"
gpu_exporter = "http://10.0.0.5:9400"

[[hosts]]
name = "jetson-1"
ollama = "http://10.0.0.6:11434"
llama_swap = "http://10.0.0.6:8080"
readonly = true
"""


def test_the_readme_shape(tmp_path: Path) -> None:
    (tmp_path / "more-hosts.toml").write_text(
        '[[hosts]]\nname = "rack-9"\nnode_exporter = "http://10.0.0.9:9100"\n', encoding="utf-8"
    )
    local = local_host("http://127.0.0.1:11434")
    hosts, settings, problems = hosts_from_toml(tomllib.loads(README_SHAPE), tmp_path, local)
    assert problems == []
    assert [h.name for h in hosts] == [LOCAL, "edge-5", "jetson-1", "rack-9"]
    assert hosts[0] is local
    edge = hosts[1]
    assert edge.ollama == "http://10.0.0.5:11434"
    assert edge.openai == (OpenAIServer("vllm", "http://10.0.0.5:8000/v1", "VLLM_KEY"),)
    assert edge.openai[0].root == "http://10.0.0.5:8000"
    assert edge.node_exporter == "http://10.0.0.5:9100"
    assert edge.gpu_exporter == "http://10.0.0.5:9400"
    assert hosts[2].llama_swap == "http://10.0.0.6:8080" and hosts[2].readonly
    assert settings == FleetSettings(
        hostfile=tmp_path / "more-hosts.toml",
        prometheus="http://10.0.0.1:9090",
        interval=5.0,
        timeout=1.5,
    )


def test_no_fleet_table_means_only_the_local_host() -> None:
    hosts, settings, problems = hosts_from_toml({}, Path("."))
    assert [h.name for h in hosts] == [LOCAL]
    assert settings == FleetSettings()
    assert problems == []


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[[hosts]]\nollama = "http://a:1"', "[[hosts]] entry 1 needs a 'name' (text); ignored"),
        ('[[hosts]]\nname = "a"', "[[hosts]] entry 1 ('a') has no endpoint"),
        (
            '[[hosts]]\nname = "a"\nollama = "ftp://x"\nnode_exporter = "http://n:1"',
            "[[hosts]] entry 1 ('a') ollama = 'ftp://x' is not an http:// or https:// URL; ignored",
        ),
        (
            '[[hosts]]\nname = "a"\nollama = "http://x:99999"\nnode_exporter = "http://n:1"',
            "[[hosts]] entry 1 ('a') ollama = 'http://x:99999' is not a valid URL; ignored",
        ),
        (
            '[[hosts]]\nname = "a"\nollama = "http://x"\nopenai = [{ name = "v" }]',
            "[[hosts]] entry 1 ('a') openai entry 1 url = None is not a URL (text); ignored",
        ),
        (
            '[[hosts]]\nname = "a"\nollama = "http://x"\nopenai = "http://y"',
            "[[hosts]] entry 1 ('a') openai = 'http://y' is not an array of servers; ignored",
        ),
        (
            '[[hosts]]\nname = "a"\nollama = "http://x"\nsize = 3',
            "[[hosts]] entry 1 ('a') 'size' is not a setting",
        ),
        (
            '[[hosts]]\nname = "local"\nollama = "http://x"',
            "[[hosts]] entry 1: the name 'local' is taken; ignored",
        ),
        ("hosts = 3", "'hosts' must be an array of tables"),
        ("fleet = 3", "[fleet] must be a table, not 3; ignored"),
        ("[fleet]\ninterval = 0", "[fleet] interval = 0 is not a number of seconds from 0.2"),
        ("[fleet]\ntimeout = nan", "[fleet] timeout = nan is not a number of seconds"),
        ("[fleet]\ninterval = true", "[fleet] interval = true is not a number of seconds"),
        ('[fleet]\nprometheus = "prom:9090"', "[fleet] prometheus = 'prom:9090' is not an http"),
        ("[fleet]\nreadonly = 1", "[fleet] readonly = 1 is not true or false"),
        ("[fleet]\nhostfile = 3", "[fleet] hostfile = 3 is not a path (text); ignored"),
        ("[fleet]\nbogus = 1", "[fleet] 'bogus' is not a setting"),
        (
            '[fleet]\nprometheus_window = "1 minute"',
            "[fleet] prometheus_window = '1 minute' is not",
        ),
    ],
)
def test_each_wrong_entry_is_one_readable_problem(toml: str, problem: str) -> None:
    hosts, settings, problems = hosts_from_toml(tomllib.loads(toml), Path("."))
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems[0]
    assert hosts[0].name == LOCAL
    assert isinstance(settings, FleetSettings)


def test_good_entries_survive_bad_neighbours() -> None:
    toml = """
    [[hosts]]
    name = "ok-1"
    ollama = "http://10.0.0.1:11434"
    [[hosts]]
    name = 7
    [[hosts]]
    name = "ok-1"
    ollama = "http://10.0.0.2:11434"
    [[hosts]]
    name = "ok-2"
    openai = [{ url = "http://10.0.0.3:8000/v1" }, { name = "dup", url = "http://b/v1" }, { name = "dup", url = "http://c/v1" }, 5]
    """
    hosts, _, problems = hosts_from_toml(tomllib.loads(toml), Path("."))
    assert [h.name for h in hosts] == [LOCAL, "ok-1", "ok-2"]
    assert [s.name for s in hosts[2].openai] == ["server1", "dup"]
    assert len(problems) == 4, problems


def test_a_missing_or_broken_hostfile_is_a_problem(tmp_path: Path) -> None:
    _, _, problems = hosts_from_toml({"fleet": {"hostfile": "nope.toml"}}, tmp_path)
    assert len(problems) == 1 and "could not be read" in problems[0]
    (tmp_path / "bad.toml").write_text("[[hosts]\n", encoding="utf-8")
    _, _, problems = hosts_from_toml({"fleet": {"hostfile": "bad.toml"}}, tmp_path)
    assert len(problems) == 1 and "is not valid TOML" in problems[0]


def test_control_characters_in_names_are_made_visible() -> None:
    toml = '[[hosts]]\nname = "evil\\u001b]0;pwned\\u0007"\nollama = 5'
    _, _, problems = hosts_from_toml(tomllib.loads(toml), Path("."))
    assert "\x1b" not in problems[0] and "\\x1b" in problems[0]


def test_readonly_refuses_mutations_only() -> None:
    host = Host("edge", ollama="http://x:1")
    check_mutation("pull", host, FleetSettings())  # allowed
    check_mutation("chat", host, FleetSettings(readonly=True))  # reading is always allowed
    with pytest.raises(ReadOnlyError, match="pull refused: slmdeck runs read-only"):
        check_mutation("pull", host, FleetSettings(readonly=True))
    marked = Host("edge", ollama="http://x:1", readonly=True)
    with pytest.raises(ReadOnlyError, match="delete refused: host 'edge' is read-only"):
        check_mutation("delete", marked, FleetSettings())
    policy = ReadOnlyPolicy.of([local_host("http://x:1"), marked], FleetSettings())
    assert policy.allows("unload", LOCAL)
    assert not policy.allows("unload", "edge")
    assert all(not policy.allows(op, "edge") for op in ("pull", "delete", "create", "copy"))
