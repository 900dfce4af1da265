"""The model table's row model and header, without a terminal: what the filter matches (and the
hint that says so), parameter sizes as shown, and the sort arrow in columns too narrow for it."""

from __future__ import annotations

import pytest

from tui.core.text import format_params, params_label, plural
from tui.types import ModelInfo
from tui.widgets.model_table import (
    ALL_COLUMNS,
    COLUMNS,
    FILTER_FIELDS,
    ModelRow,
    ModelTable,
    cells,
    filter_rows,
)

ROWS = [
    ModelRow.make(ModelInfo("qwen2.5:0.5b", "ollama", "qwen2", "494.03M", "Q4_K_M", 397_821_319)),
    ModelRow.make(ModelInfo("llama3.2:3b", "ollama", "llama", "3.2B", "Q4_K_M", 2_019_393_189)),
    ModelRow.make(ModelInfo("tiny", "llamacpp", "gemma3", "0.00013B", "F32", 469_248)),
]


def found(query: str) -> list[str]:
    return [r.info.name for r in filter_rows(ROWS, query)]


def test_filter_matches_every_field_its_hint_names() -> None:
    assert FILTER_FIELDS == "name, backend, family, params, quant, size"
    assert found("qwen") == ["qwen2.5:0.5b"]  # name
    assert found("llamacpp") == ["tiny"]  # backend
    assert found("gemma") == ["tiny"]  # family
    assert found("3.2b") == ["llama3.2:3b"]  # params as the backend wrote them
    assert found("130k") == ["tiny"]  # params as the table shows them
    assert found("f32") == ["tiny"]  # quant
    assert found("1.9g") == ["llama3.2:3b"]  # size as the table shows it
    assert found("379m q4_k_m") == ["qwen2.5:0.5b"]


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (115_392, "115K"),
        (131_072, "131K"),
        (494_032_768, "494M"),
        (3_212_749_824, "3.2B"),
        (1_500, "1.5K"),
        (999_700, "1.0M"),
        (27_000_000_000, "27B"),
        (812, "812"),
        (0, "–"),
    ],
)
def test_parameter_counts_have_sensible_units(count: int, shown: str) -> None:
    assert format_params(count) == shown


def test_parameter_labels_below_one_unit_are_rescaled() -> None:
    """A server writing ``0.00013B`` (n / 1e9) for a 131K model shows 130K, not 0.00B."""
    assert params_label("0.00013B") == "130K"
    assert params_label("0.49B") == "490M"
    assert (params_label("494.03M"), params_label("3.2B"), params_label("")) == (
        "494.03M",
        "3.2B",
        "",
    )
    params = cells(ROWS[2], ("params",))[0]
    assert params.plain == "130K"


def test_plural() -> None:
    assert [plural(n, "model") for n in (0, 1, 2)] == ["0 models", "1 model", "2 models"]
    assert (plural(1, "entry"), plural(2, "entry"), plural(1_200, "run")) == (
        "1 entry",
        "2 entries",
        "1,200 runs",
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_sort_arrow_kept_in_narrow_columns(reverse: bool) -> None:
    """The title is cut to make room, never the arrow: ``Size▲`` in 5 cells, ``Backe…▲`` in 7."""
    table = ModelTable()
    titles = dict(COLUMNS)
    arrow = "▼" if reverse else "▲"
    for column in ALL_COLUMNS:
        table.sort_column, table.sort_reverse = column, reverse
        header = table._header().plain
        assert arrow in header, column
        assert header.count(arrow) == 1
        title = titles[column]
        width = table.widths[column]
        expected = (
            f"{title} {arrow}"
            if len(title) + 2 <= width
            else f"{title}{arrow}"
            if len(title) + 1 <= width
            else f"{title[: width - 2]}…{arrow}"
        )
        assert expected in header, (column, header)
    table.widths["size"] = 5
    table.sort_column = "size"
    assert "Size" + arrow in table._header().plain
    table.widths["backend"] = 7
    table.sort_column = "backend"
    assert "Backe…" + arrow in table._header().plain
