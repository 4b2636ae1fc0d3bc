"""The data information page as text: levels, one test, a test an institution does not hold."""

from __future__ import annotations

import pytest

from nvflare_fdd.stats.compute import site_statistics
from nvflare_fdd.stats.render import prune, render_summary


@pytest.fixture
def summary(edge_kda) -> dict:
    return site_statistics(edge_kda, "site_a")


def names_and_cells(text: str) -> list[tuple[str, list[str]]]:
    """Each row's indented name (the first column) and its other cells."""
    lines = text.splitlines()
    width = lines[1].index("type")
    return [(line[:width].rstrip(), line[width:].split()) for line in lines[2:]]


def test_level_one_shows_one_row_per_test(summary):
    text = render_summary(summary, level=1)
    heading, header = text.splitlines()[:2]
    assert heading.startswith("site_a — taken ") and "at least 5" in heading
    assert header.split() == ["Test/Test", "Type/Measurement", "Type/Test", "Subject", "type", "count", "censored",
                              "mean", "min", "max", "median", "unit"]  # fmt: skip
    rows = names_and_cells(text)
    assert [name for name, _ in rows] == ["Brain penetration", "Clearance", "hERG"]
    assert rows[-1][1] == ["ADMET", ">1000", "0", "483.4", "1", "1009", "480", "nM,", "uM"]  # 2102 values


def test_deeper_levels_indent_their_children(summary):
    rows = names_and_cells(render_summary(summary, test="hERG", level=4))
    assert [name for name, _ in rows] == [
        "hERG", "  in vitro", "    IC50", "      Human", "      Rat", "  in vivo", "    Ki", "      Dog", "      Human",
    ]  # fmt: skip
    assert rows[4][1] == ["ADMET", "≤100", "0", "-", "-", "-", "-", "uM"]  # one value: below the cell size


def test_a_test_the_institution_does_not_hold_counts_zero(summary):
    lines = render_summary(summary, test="Solubility").splitlines()
    assert lines[-1].split() == ["solubility", "0", "0"]


def test_prune_keeps_one_test_down_to_a_level_and_leaves_the_summary_alone(summary):
    pruned = prune(summary, test="Brain penetration", level=2)
    assert [test["key"] for test in pruned["tests"]] == ["brain_penetration"]
    assert all(child["children"] == [] for child in pruned["tests"][0]["children"])
    assert summary["tests"][0]["children"][0]["children"]  # the original still has its levels


def test_prune_refuses_a_level_out_of_range(summary):
    with pytest.raises(ValueError, match="level must be 1 to 4"):
        prune(summary, level=5)
