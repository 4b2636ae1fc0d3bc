"""The data information page over the sites' statistics summaries."""

from __future__ import annotations

import re

import pytest

from nvflare_fdd.kda import import_file
from nvflare_fdd.stats.compute import site_statistics


@pytest.fixture
def summaries(tmp_path, stats_store, kda_frame_factory):
    """A summary for site_a (60 solubility rows, one test type); none for site_b."""
    frame = kda_frame_factory([-(i % 9) * 0.5 for i in range(60)])
    frame["test_type"] = "Aqueous"
    frame["test_subject"] = "Water"
    csv_path = tmp_path / "site_a.csv"
    frame.to_csv(csv_path, index=False)
    url = f"sqlite:///{tmp_path / 'site_a.db'}"
    import_file(url, csv_path, institution="site_a")
    stats_store.save(site_statistics(url, "site_a"))
    return stats_store


def levels_shown(html: str) -> list[str]:
    return re.findall(r'data-level="([a-z_]+)"', html)


def test_without_statistics_the_page_says_how_to_get_them(client_for):
    page = client_for("alice").get("/data").text

    assert 'id="data-empty"' in page and "fdd data" not in page  # no CLI text in the web UI


@pytest.mark.parametrize("level, shown", [
    (1, ["test"]),
    (2, ["test", "test_type"]),
    (4, ["test", "test_type", "measurement_type", "test_subject"]),
    (9, ["test", "test_type", "measurement_type", "test_subject"]),
])  # fmt: skip
def test_the_level_setting_opens_the_tree(client_for, summaries, level, shown):
    page = client_for("alice").get(f"/data?institution=site_a&level={level}").text

    assert levels_shown(page) == shown


def test_counts_are_buckets_and_statistics_are_shown(client_for, summaries):
    page = client_for("alice").get("/data?institution=site_a").text
    node = summaries.latest("site_a")["site_a"]["tests"][0]

    assert "≤100" in page and ">60<" not in page
    assert f"{node['stats']['median']:.4g}" in page
    assert 'class="tag admet"' in page


def test_an_institution_without_a_summary_says_so(client_for, summaries):
    page = client_for("alice").get("/data?institution=site_b").text

    assert 'id="data-empty"' in page
    assert '<option value="site_b" selected>' in page


def test_an_unknown_test_or_institution_falls_back(client_for, summaries):
    page = client_for("alice").get("/data?institution=nowhere&test=nothing&level=x").text

    assert '<option value="site_a" selected>' in page and levels_shown(page) == ["test"]
