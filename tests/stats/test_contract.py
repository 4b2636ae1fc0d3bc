"""The summary contract: count buckets at their edges, and what the server refuses."""

from __future__ import annotations

import copy

import pytest

from nvflare_fdd.stats import contract
from nvflare_fdd.stats.contract import BUCKETS, StatsPayloadError, count_bucket, round_stat, screen_summary


@pytest.mark.parametrize(
    ("count", "bucket"),
    [(0, "0"), (1, "≤100"), (100, "≤100"), (101, "100–1000"), (1000, "100–1000"), (1001, ">1000"), (10**9, ">1000")],
)
def test_count_bucket_edges(count, bucket):
    assert count_bucket(count) == bucket


def test_count_bucket_refuses_a_negative_count():
    with pytest.raises(ValueError, match="-1"):
        count_bucket(-1)


def test_buckets_are_the_four_of_the_data_information_page():
    assert BUCKETS == ("0", "≤100", "100–1000", ">1000")


@pytest.mark.parametrize(
    ("value", "rounded"), [(-3.23849, -3.238), (1234567.0, 1235000.0), (0.000123456, 0.0001235), (2.0, 2.0)]
)
def test_statistics_keep_four_significant_digits(value, rounded):
    assert round_stat(value) == rounded
    assert type(round_stat(value)) is float


def _node(level: str, name: str, children: list | None = None, **fields) -> dict:
    node = {
        "level": level,
        "name": name,
        "data_types": ["ADMET"],
        "units": ["uM"],
        "count": "≤100",
        "censored": "0",
        "stats": {"mean": 1.5, "min": 1.0, "max": 2.0, "median": 1.5},
        "children": children if children is not None else [],
    }
    if level == "test":
        node["key"] = name.lower()
    node.update(fields)
    return node


def valid_summary() -> dict:
    subject = _node("test_subject", "Human")
    measurement = _node("measurement_type", "IC50", [subject])
    test_type = _node("test_type", "(none)", [measurement])
    return {
        "format": "fdd-stats/1",
        "institution": "site_a",
        "taken_at": "2026-11-26T04:52:00.123+00:00",
        "min_cell_size": 5,
        "tests": [_node("test", "hERG", [test_type])],
    }


def test_a_valid_summary_passes_unchanged():
    summary = valid_summary()
    assert screen_summary(summary, institution="site_a") is summary
    assert summary == valid_summary()


def _set(path: tuple, value):
    def change(summary: dict) -> None:
        target = summary
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path: tuple):
    def change(summary: dict) -> None:
        target = summary
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


TEST = ("tests", 0)
SUBJECT = (*TEST, "children", 0, "children", 0, "children", 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set((*TEST, "count"), 37), "count must be one of"),
        (_set((*TEST, "count"), "37"), "count must be one of"),
        (_set((*SUBJECT, "censored"), 2), "censored must be one of"),
        (_set((*TEST, "rows"), 37), "unexpected rows"),
        (_set((*TEST, "n"), "37"), "unexpected n"),
        (_set(("row_count",), 1234), "unexpected row_count"),
        (_delete((*TEST, "censored")), "missing censored"),
        (_set((*TEST, "stats", "mean"), 2), "finite float"),
        (_set((*TEST, "stats", "mean"), float("nan")), "finite float"),
        (_set((*TEST, "stats", "count"), 2.0), "exactly mean"),
        (_set((*TEST, "stats"), [1.0]), "exactly mean"),
        (_set((*TEST, "level"), "test_type"), "level must be"),
        (_set((*SUBJECT, "children"), [_node("test_subject", "x")]), "has no children"),
        (_set((*TEST, "children"), [_node("test_subject", "x")]), "level must be"),
        (_set((*TEST, "name"), ""), "name must be"),
        (_set((*TEST, "name"), "x" * 300), "name must be"),
        (_set((*TEST, "units"), ["uM"] * 100), "units must be a list"),
        (_set((*TEST, "data_types"), [7]), "data_types"),
        (_set(("format",), "fdd-stats/0"), "unknown summary format"),
        (_set(("institution",), "site_b"), "names institution 'site_b'"),
        (_set(("taken_at",), "yesterday"), "taken_at"),
        (_set(("taken_at",), "2026-11-26T04:52:00"), "time zone"),
        (_set(("min_cell_size",), True), "min_cell_size"),
        (_set(("min_cell_size",), -1), "min_cell_size"),
        (_set(("tests",), {"herg": 1}), "must be a list"),
    ],
)
def test_anything_off_the_contract_is_refused(change, message):
    summary = copy.deepcopy(valid_summary())
    change(summary)
    with pytest.raises(StatsPayloadError, match=message):
        screen_summary(summary, institution="site_a")


def test_too_many_nodes_are_refused(monkeypatch):
    monkeypatch.setattr(contract, "MAX_NODES", 3)
    with pytest.raises(StatsPayloadError, match="more than 3 nodes"):
        screen_summary(valid_summary())


def test_a_non_object_is_refused():
    with pytest.raises(StatsPayloadError, match="JSON object"):
        screen_summary([valid_summary()])


def test_a_refusal_names_the_place_but_never_the_value():
    for change in (("count", 2102), ("censored", "2102 rows")):
        bad = copy.deepcopy(valid_summary())
        bad["tests"][0][change[0]] = change[1]
        with pytest.raises(StatsPayloadError) as refused:
            screen_summary(bad)
        assert "2102" not in str(refused.value) and "tests[0]." + change[0] in str(refused.value)
    bad = copy.deepcopy(valid_summary())
    bad["tests"][0]["2102"] = 1
    with pytest.raises(StatsPayloadError) as refused:
        screen_summary(bad)
    assert "2102" not in str(refused.value) and "unexpected a key of another form" in str(refused.value)
