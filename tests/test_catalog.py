"""The shipped offline catalog: coverage, internal consistency, lookups and the user-file merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.core.catalog import CatalogError, load_catalog, parse_catalog
from tui.core.quant import bits_per_weight, kv_cache_bytes

REQUIRED = {
    "qwen2.5": ["0.5b", "1.5b", "3b", "7b"],
    "qwen3": ["0.6b", "1.7b", "4b"],
    "phi4-mini": ["3.8b"],
    "llama3.2": ["1b", "3b"],
    "gemma3": ["270m", "1b", "4b"],
    "deepseek-r1": ["1.5b", "7b"],
    "mistral": ["7b"],
    "nomic-embed-text": ["v1.5"],
}


def test_every_required_family_and_size_is_present() -> None:
    cat = load_catalog()
    for family, sizes in REQUIRED.items():
        for size in sizes:
            entry = cat.lookup(f"{family}:{size}")
            assert entry.family == family and entry.size == size
            assert entry.variants, entry.name
            assert entry.source, entry.name
            assert entry.default_tag, f"{entry.name} says which tag the bare name pulls"
            for v in entry.variants:
                assert v.tag.startswith(f"{family}:"), v.tag
                assert v.bpw == bits_per_weight(v.quant)
                assert v.file_size > 0


def test_dims_are_consistent() -> None:
    for entry in load_catalog():
        d = entry.dims
        assert d.n_layers > 0 and d.n_embd > 0 and d.head_dim_k > 0, entry.name
        assert d.n_heads % d.n_kv_heads == 0, f"{entry.name}: heads must group over kv heads"
        assert d.context_length >= 2048 and d.vocab_size > 30000 and d.n_params > 100e6
        assert d.source == "catalog"
        tags = [v.tag for v in entry.variants]
        assert len(tags) == len(set(tags)), entry.name


def test_known_facts() -> None:
    cat = load_catalog()
    q3b = cat.lookup("qwen2.5:3b").dims  # Qwen/Qwen2.5-3B-Instruct config.json
    assert (q3b.n_layers, q3b.n_embd, q3b.n_heads, q3b.n_kv_heads) == (36, 2048, 16, 2)
    assert (q3b.context_length, q3b.vocab_size) == (32768, 151936)
    g4 = cat.lookup("gemma3:4b").dims  # gemma-3-4b-it text_config
    assert (g4.n_layers, g4.n_kv_heads, g4.head_dim_k, g4.sliding_window) == (34, 4, 256, 1024)
    assert g4.n_sliding_layers == 29  # 34 layers, every 6th full: 5 full (5, 11, 17, 23, 29)
    phi = cat.lookup("phi4-mini").dims
    assert (phi.n_layers, phi.n_heads, phi.n_kv_heads, phi.vocab_size) == (32, 24, 8, 200064)
    embed = cat.lookup("nomic-embed-text").dims
    assert not embed.causal and kv_cache_bytes(embed, 2048) == 0


def test_estimated_sizes_are_flagged_and_computed() -> None:
    entry = load_catalog().lookup("qwen2.5:3b")
    by_tag = {v.tag: v for v in entry.variants}
    q4 = by_tag["qwen2.5:3b-instruct-q4_K_M"]
    # 3.09e9 parameters x 4.89 bits / 8 = 1,888,762,500 bytes
    assert q4.file_size == 1_888_762_500 and q4.size_estimated
    assert by_tag["qwen2.5:3b-instruct-fp16"].file_size == 6_180_000_000
    assert entry.default_tag == "qwen2.5:3b-instruct-q4_K_M"
    assert load_catalog().lookup("llama3.2:1b").default_tag == "llama3.2:1b-instruct-q8_0"


def test_lookup_forms_and_errors() -> None:
    cat = load_catalog()
    assert cat.lookup("qwen2.5:3b-instruct-q8_0").name == "qwen2.5:3b"
    assert cat.lookup("registry.ollama.ai/library/qwen2.5:7b").name == "qwen2.5:7b"
    assert cat.lookup("QWEN2.5:0.5B").name == "qwen2.5:0.5b"
    assert cat.lookup("nomic-embed-text:latest").name == "nomic-embed-text:v1.5"
    with pytest.raises(CatalogError, match=r"several sizes.*qwen2\.5:0\.5b"):
        cat.lookup("qwen2.5")
    with pytest.raises(CatalogError, match=r"qwen2\.5:13b is not in the offline catalog"):
        cat.lookup("qwen2.5:13b")
    with pytest.raises(CatalogError, match="not in the offline catalog"):
        cat.lookup("no-such-model:1b")


def test_with_installed() -> None:
    entry = (
        load_catalog()
        .lookup("qwen2.5:3b")
        .with_installed(["qwen2.5:3b", "qwen2.5:3b-instruct-q8_0"])
    )
    installed = {v.tag for v in entry.variants if v.installed}
    assert installed == {"qwen2.5:3b-instruct-q4_K_M", "qwen2.5:3b-instruct-q8_0"}


def test_user_file_merges_over_shipped(tmp_path: Path) -> None:
    user = tmp_path / "catalog.json"
    user.write_text(
        json.dumps(
            {
                "families": {
                    "qwen2.5": {
                        "sizes": {
                            "3b": {
                                "dims": {
                                    "n_layers": 36,
                                    "n_embd": 2048,
                                    "n_heads": 16,
                                    "n_kv_heads": 2,
                                    "head_dim": 128,
                                    "context_length": 32768,
                                    "vocab_size": 151936,
                                    "n_params": 3085938688,
                                },
                                "variants": [
                                    {
                                        "tag": "qwen2.5:3b-instruct-q4_K_M",
                                        "quant": "Q4_K_M",
                                        "size": 1929903264,
                                    }
                                ],
                            }
                        }
                    },
                    "tinyllama": {
                        "arch": "llama",
                        "source": "local test",
                        "sizes": {
                            "1.1b": {
                                "dims": {
                                    "n_layers": 22,
                                    "n_embd": 2048,
                                    "n_heads": 32,
                                    "n_kv_heads": 4,
                                    "head_dim": 64,
                                    "context_length": 2048,
                                    "vocab_size": 32000,
                                    "n_params": 1100000000,
                                },
                                "variants": [{"tag": "tinyllama:1.1b-chat-q8_0", "quant": "q8_0"}],
                            }
                        },
                    },
                }
            }
        )
    )
    cat = load_catalog(user)
    (v,) = cat.lookup("qwen2.5:3b").variants
    assert (v.file_size, v.size_estimated) == (1929903264, False)
    assert cat.lookup("qwen2.5:7b").variants  # untouched sizes stay
    assert cat.lookup("qwen2.5:3b").source  # family source kept from the shipped file
    tiny = cat.lookup("tinyllama:1.1b")
    assert tiny.dims.arch == "llama" and tiny.variants[0].quant == "Q8_0"
    assert load_catalog(tmp_path / "absent.json").lookup("qwen2.5:3b").variants[0].size_estimated


def test_bad_user_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(CatalogError, match="is not valid JSON"):
        load_catalog(bad)
    bad.write_text(json.dumps({"families": {"x": {"sizes": {"1b": {"dims": {}}}}}}))
    with pytest.raises(CatalogError, match=r"entry x:1b is incomplete"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match=r"UNKNOWN-QUANT.* is not a quantization type"):
        parse_catalog(
            {
                "families": {
                    "x": {
                        "sizes": {
                            "1b": {
                                "dims": {
                                    "n_layers": 1,
                                    "n_embd": 1,
                                    "n_heads": 1,
                                    "n_kv_heads": 1,
                                    "head_dim": 1,
                                    "context_length": 1,
                                    "vocab_size": 1,
                                    "n_params": 1,
                                },
                                "variants": [{"tag": "x:1b", "quant": "unknown-quant"}],
                            }
                        }
                    }
                }
            }
        )
