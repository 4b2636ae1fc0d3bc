"""A site's summary: buckets at their edges, censored values, the minimum cell size, empty levels."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from nvflare_fdd.errors import KdaError
from nvflare_fdd.kda import load_raw_datas
from nvflare_fdd.stats import reader
from nvflare_fdd.stats.compute import site_statistics
from nvflare_fdd.stats.contract import NONE_LABEL, count_bucket, round_stat, screen_summary
from nvflare_fdd.stats.synthetic import Cell


def stats(mean, low, high, median):
    return {"mean": mean, "min": low, "max": high, "median": median}


def test_counts_are_buckets_at_their_edges(edge_kda, node_at):
    summary = site_statistics(edge_kda, "site_a")

    assert node_at(summary, "herg", "in vitro", "IC50", "Human")["count"] == "≤100"  # 100
    assert node_at(summary, "herg", "in vitro")["count"] == "100–1000"  # 100 + 1
    assert node_at(summary, "herg", "in vivo", "Ki", "Human")["count"] == "100–1000"  # 1000
    assert node_at(summary, "herg", "in vivo", "Ki", "Dog")["count"] == ">1000"  # 1001
    assert node_at(summary, "herg")["count"] == ">1000"
    assert node_at(summary, "herg")["censored"] == "0"


def test_the_tree_follows_the_four_levels_and_names_empty_values(edge_kda, node_at):
    summary = site_statistics(edge_kda, "site_a")

    assert [node["name"] for node in summary["tests"]] == ["Brain penetration", "Clearance", "hERG"]
    brain = node_at(summary, "brain_penetration")
    assert [child["name"] for child in brain["children"]] == ["in vivo", NONE_LABEL]  # "(none)" sorts last
    none_type = node_at(summary, "brain_penetration", NONE_LABEL, "Kp")  # NULL and " " are both empty
    assert [child["name"] for child in none_type["children"]] == ["Monkey", "Mouse"]
    assert [c["name"] for c in node_at(summary, "brain_penetration", "in vivo", "Kp")["children"]] == [NONE_LABEL]
    levels = {node["level"] for node in summary["tests"]}
    levels |= {child["level"] for node in summary["tests"] for child in node["children"]}
    assert levels == {"test", "test_type"}
    assert all(not node["children"] for node in _leaves(summary))
    assert screen_summary(summary, institution="site_a") is summary


def _leaves(summary):
    for test in summary["tests"]:
        for test_type in test["children"]:
            for measurement in test_type["children"]:
                yield from measurement["children"]


def test_statistics_use_uncensored_values_only(edge_kda, node_at):
    summary = site_statistics(edge_kda, "site_a")

    assert node_at(summary, "herg", "in vitro", "IC50", "Human")["stats"] == stats(50.5, 1.0, 100.0, 50.5)
    assert node_at(summary, "herg", "in vivo", "Ki", "Human")["stats"] == stats(509.5, 10.0, 1009.0, 509.5)
    # 12 uncensored values 1–4, 1–5, 1–3 under 201 censored ones of 1e6: none of those count
    brain = node_at(summary, "brain_penetration")
    assert brain["stats"] == stats(round_stat(31 / 12), 1.0, 5.0, 2.5)
    assert (brain["count"], brain["censored"]) == ("100–1000", "100–1000")
    assert node_at(summary, "brain_penetration", NONE_LABEL)["censored"] == "≤100"
    clearance = node_at(summary, "clearance")
    assert (clearance["count"], clearance["censored"], clearance["stats"]) == ("100–1000", "100–1000", None)


def test_below_the_minimum_cell_size_only_buckets_are_shown(edge_kda, node_at):
    summary = site_statistics(edge_kda, "site_a", min_cell_size=5)

    assert summary["min_cell_size"] == 5
    assert node_at(summary, "herg", "in vitro", "IC50", "Rat")["stats"] is None  # 1 value
    mouse = node_at(summary, "brain_penetration", NONE_LABEL, "Kp", "Mouse")  # 5 rows, but 4 uncensored
    assert (mouse["count"], mouse["censored"], mouse["stats"]) == ("≤100", "≤100", None)
    monkey = node_at(summary, "brain_penetration", NONE_LABEL, "Kp", "Monkey")  # exactly 5
    assert monkey["stats"] == stats(3.0, 1.0, 5.0, 3.0)
    assert node_at(summary, "brain_penetration", NONE_LABEL)["stats"] == stats(round_stat(25 / 9), 1.0, 5.0, 3.0)


@pytest.mark.parametrize(
    ("min_cell_size", "path", "shown"),
    [
        (0, ("herg", "in vitro", "IC50", "Rat"), True),
        (1, ("herg", "in vitro", "IC50", "Rat"), True),
        (2, ("herg", "in vitro", "IC50", "Rat"), False),
        (0, ("clearance", "in vivo", "CL", "Rat"), False),  # no uncensored value at all
        (101, ("herg", "in vitro", "IC50", "Human"), False),  # 100 values
        (101, ("herg", "in vitro"), True),  # 101 values
    ],
)
def test_minimum_cell_size_counts_uncensored_values(edge_kda, min_cell_size, path, shown, node_at):
    summary = site_statistics(edge_kda, "site_a", min_cell_size=min_cell_size)
    assert (node_at(summary, *path)["stats"] is not None) == shown


def test_units_and_data_types_gather_up_the_tree(edge_kda, node_at):
    summary = site_statistics(edge_kda, "site_a")

    assert node_at(summary, "herg")["units"] == ["nM", "uM"]
    assert node_at(summary, "herg", "in vitro")["units"] == ["uM"]
    assert node_at(summary, "herg")["data_types"] == ["ADMET"]
    assert node_at(summary, "brain_penetration")["data_types"] == ["PK"]
    assert node_at(summary, "brain_penetration", NONE_LABEL)["units"] == []


def test_no_integer_but_the_minimum_cell_size_is_in_a_summary(edge_kda, integers_in):
    summary = site_statistics(edge_kda, "site_a")
    assert integers_in(summary) == [".min_cell_size"]


def test_test_names_of_one_key_are_one_test_shown_by_the_most_frequent_name(make_kda):
    url = make_kda([Cell("Brain penetration", "Kp", exact=3), Cell("brain  Penetration ", "Kp", exact=2)])
    summary = site_statistics(url, "site_a", min_cell_size=1)
    (test,) = summary["tests"]
    assert (test["key"], test["name"]) == ("brain_penetration", "Brain penetration")
    assert test["stats"] == stats(1.8, 1.0, 3.0, 2.0)


def test_an_empty_kda_has_no_tests(tmp_path):
    from nvflare_fdd.kda import make_engine

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    make_engine(url).dispose()
    summary = site_statistics(url, "site_a")
    assert summary["tests"] == []
    assert screen_summary(summary) is summary


def test_a_missing_sqlite_file_is_an_error_not_an_empty_kda(tmp_path):
    with pytest.raises(KdaError, match="KDA not found at"):
        site_statistics(str(tmp_path / "typo.db"), "site_a")
    assert not (tmp_path / "typo.db").exists()


def test_the_generic_reader_gives_the_same_summary(edge_kda, monkeypatch):
    fast = site_statistics(edge_kda, "site_a")
    monkeypatch.setattr(reader, "_read_sqlite", reader._read_generic)
    generic = site_statistics(edge_kda, "site_a")
    assert dict(generic, taken_at=None) == dict(fast, taken_at=None)


def reference(url: str, min_cell_size: int) -> dict[tuple, tuple]:
    """Every node's (count bucket, censored bucket, stats) by plain pandas over ``load_raw_datas``."""
    frame = pd.concat(load_raw_datas(url).values(), ignore_index=True)
    frame["test"] = frame["test"].map(lambda name: "_".join(name.split()).lower())
    for column in ("test_type", "measurement_type", "test_subject"):
        frame[column] = frame[column].fillna("").str.strip().replace("", NONE_LABEL)
    frame["censored"] = frame["measurement_relation"] != "="
    levels = ["test", "test_type", "measurement_type", "test_subject"]
    nodes = {}
    for depth in range(1, 5):
        for key, group in frame.groupby(levels[:depth]):
            values = group.loc[~group["censored"], "measurement_value"]
            shown = len(values) >= max(min_cell_size, 1)
            node_stats = stats(*(round_stat(v) for v in (values.mean(), values.min(), values.max(), values.median())))
            censored = int(group["censored"].sum())
            nodes[key] = (count_bucket(len(group)), count_bucket(censored), node_stats if shown else None)
    return nodes


def flatten(summary: dict) -> dict[tuple, tuple]:
    found = {}

    def walk(node, path):
        path = (*path, node.get("key", node["name"]))
        found[path] = (node["count"], node["censored"], node["stats"])
        for child in node["children"]:
            walk(child, path)

    for test in summary["tests"]:
        walk(test, ())
    return found


def random_cells(seed: int, count: int) -> list[Cell]:
    rng = random.Random(seed)
    return [
        Cell(
            test=rng.choice(["Solubility", "hERG", "Brain penetration", "CYP3A4"]),
            test_type=rng.choice(["in vitro", "in vivo", None, " "]),
            measurement_type=rng.choice(["IC50", "Kp", "logS"]),
            test_subject=rng.choice(["Human", "Rat", None]),
            exact=rng.choice([0, 1, 4, 5, 6, 50, 99, 400, 1200]),
            censored=rng.choice([0, 0, 1, 3, 150]),
            start=rng.uniform(-5, 5),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_summary_matches_plain_pandas_on_a_generated_large_kda(make_kda, seed):
    cells = [cell for cell in random_cells(seed, 60) if cell.rows]
    url = make_kda(cells, name=f"random{seed}")
    summary = site_statistics(url, "site_a", min_cell_size=5)
    expected = reference(url, 5)
    assert flatten(summary) == expected
    assert sum(cell.rows for cell in cells) > 10_000
    assert len(expected) > 50 and {stats is None for *_, stats in expected.values()} == {True, False}


def test_demo_institutions_share_buckets_and_the_statistics_of_their_csv(demo_dir, integers_in):
    from nvflare_fdd.demo import demo_sites

    for site in demo_sites(demo_dir):
        summary = site_statistics(site.url, site.name)
        assert {test["key"]: test["count"] for test in summary["tests"]} == {
            key: count_bucket(rows) for key, rows in site.tests.items()
        }
        table = pd.read_csv(site.csv_path)
        for test in summary["tests"]:
            keys = table["test"].map(lambda name: "_".join(name.split()).lower())
            values = table.loc[keys == test["key"], "measurement_value"]
            expected = [values.mean(), values.min(), values.max(), values.median()]
            np.testing.assert_allclose(list(test["stats"].values()), expected, rtol=5e-4)
            assert test["censored"] == "0" and test["data_types"] == ["ADMET"]
        assert integers_in(summary) == [".min_cell_size"]


def test_many_distinct_names_at_every_level_do_not_overflow_the_grouping(make_kda):
    # 60,000 distinct names in all: 60,000 ** 4 would not fit in an int64
    cells = [Cell(f"T{i % 7}", f"M{i}", exact=1, test_type=f"type {i}", test_subject=f"S{i}") for i in range(20_000)]
    summary = site_statistics(make_kda(cells, name="wide"), "site_a")

    assert [test["count"] for test in summary["tests"]] == [">1000"] * 7
    leaves = [
        leaf
        for test in summary["tests"]
        for test_type in test["children"]
        for measurement in test_type["children"]
        for leaf in measurement["children"]
    ]
    assert len(leaves) == 20_000 and {leaf["count"] for leaf in leaves} == {"≤100"}
