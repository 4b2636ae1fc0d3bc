"""The local-only baseline in the web UI: the job form's checkbox, the baseline in the results and the CSV, and
the per-site payoff table (last round's federated, personalized and local-only values; gains signed so + is better)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from nvflare_fdd.platform.records import MetricValue
from nvflare_fdd.web.payoff import gain, payoff_view

SITES = ("site_a", "site_b")
# round → site → kind → {metric: value}; round 2 is the last: the table shows it, never round 1
REPORTS = {
    1: {"site_a": {"global": {"rmse": 2.0, "r2": 0.1}, "local": {"rmse": 1.5, "r2": 0.2}, "baseline": {"rmse": 1.6, "r2": 0.2}},
        "site_b": {"global": {"rmse": 2.2, "r2": 0.0}, "local": {"rmse": 1.4, "r2": 0.3}, "baseline": {"rmse": 1.3, "r2": 0.3}}},
    2: {"site_a": {"global": {"rmse": 0.8, "r2": 0.6}, "local": {"rmse": 0.6, "r2": 0.4}, "baseline": {"rmse": 1.0, "r2": 0.5}},
        "site_b": {"global": {"rmse": 1.2, "r2": 0.55}, "local": {"rmse": 0.9, "r2": 0.75}, "baseline": {"rmse": 1.0, "r2": 0.5}}},
}  # fmt: skip


def make_job(post, client, model, name: str, baseline: bool) -> None:
    data = {"name": name, "model": model.label, "rounds": "2", "sites": list(SITES)}
    if baseline:
        data["local_baseline"] = "1"  # the checkbox's value
    assert post(client, "/api/jobs", data).status_code == 201


def record(platform, name: str, kinds=("global", "local", "baseline"), kept=SITES) -> None:
    """What the job's server writes: each round's metrics per site and kind, and the last round's progress record
    (the sites that kept their personalized model)."""
    storage = platform.storage
    for round_num, sites in REPORTS.items():
        for site, reports in sites.items():
            for kind in kinds:
                storage.record_metrics(name, round_num, site, kind, reports[kind])
            phases = [{"code": 6000, "name": "train", "start": 1.0, "end": 2.0}]
            storage.record_stage(name, round_num, site, phases, 10, personalized=round_num == 2 and site in kept)
        storage.record_round(name, round_num, started=1.0, finished=2.0)


def page_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S).group(1))


def test_the_checkbox_is_off_by_default_and_reaches_the_stored_job(client_for, post, platform, model):
    alice = client_for("alice")
    form = alice.get("/jobs").text

    make_job(post, alice, model, "with_baseline", baseline=True)
    make_job(post, alice, model, "without_baseline", baseline=False)

    box = re.search(r'<input type="checkbox" name="local_baseline"[^>]*>', form).group(0)
    assert "checked" not in box and "기관별 단독 학습 비교" in form and "연합 없이" in form
    assert platform.storage.get_job("with_baseline").local_baseline is True
    assert platform.storage.get_job("without_baseline").local_baseline is False
    assert re.search(r'id="job-local-baseline">예<', alice.get("/jobs/with_baseline").text)
    assert re.search(r'id="job-local-baseline">아니오<', alice.get("/jobs/without_baseline").text)
    assert alice.get("/api/jobs/with_baseline").json["job"]["local_baseline"] is True


def test_the_payoff_table_has_the_last_rounds_values_and_gains_signed_so_plus_is_better(client_for, post, platform, model):
    alice = client_for("alice")
    make_job(post, alice, model, "fed_job", baseline=True)
    record(platform, "fed_job")

    payoff = alice.get("/api/jobs/fed_job").json["payoff"]

    assert payoff["baseline"] is True and payoff["personalized"] == list(SITES)
    assert payoff["key"] == "r2"  # the first metric (by name: storage keeps no reporting order)
    tables = {table["metric"]: table for table in payoff["tables"]}
    assert tables["rmse"]["higher"] is False and tables["r2"]["higher"] is True  # the best-model rule's direction
    rmse = {row["site"]: row for row in tables["rmse"]["rows"]}
    assert {k: rmse["site_a"][k] for k in ("round", "global", "local", "baseline")} == {
        "round": 2, "global": 0.8, "local": 0.6, "baseline": 1.0}
    assert rmse["site_a"]["federated_gain"] == pytest.approx(0.2)  # lower rmse than alone: better, +20 %
    assert rmse["site_a"]["personalized_gain"] == pytest.approx(0.4)
    assert rmse["site_b"]["federated_gain"] == pytest.approx(-0.2)  # higher rmse than alone: worse
    r2 = {row["site"]: row for row in tables["r2"]["rows"]}
    assert r2["site_a"]["federated_gain"] == pytest.approx(0.2)  # higher r2 than alone: better
    assert r2["site_a"]["personalized_gain"] == pytest.approx(-0.2)
    assert r2["site_b"]["personalized_gain"] == pytest.approx(0.5)


def test_the_results_carry_the_baseline_series_and_the_page_its_table_and_words(client_for, post, platform, model):
    alice = client_for("alice")
    make_job(post, alice, model, "fed_job", baseline=True)
    record(platform, "fed_job")

    html = alice.get("/jobs/fed_job").text
    english = client_for("alice")
    english.get("/lang/en")
    english_html = english.get("/jobs/fed_job").text

    data = page_data(html)
    assert data["metrics"]["series"]["rmse"]["site_b"]["baseline"] == [[1, 1.3], [2, 1.0]]
    assert data["payoff"] == alice.get("/api/jobs/fed_job").json["payoff"]
    assert re.search(r'<section class="payoff" id="payoff"\s*>', html)  # shown
    for words in ("기관별 연합학습 효과", "개인화 모델은 전송되지 않았습니다", "단독 학습 대비 상대 변화", "단독 학습:"):
        assert words in html
    labels = json.loads(re.search(r'<script type="application/json" id="labels">(.*?)</script>', html, re.S).group(1))
    assert labels["baseline"] == "단독 학습" and labels["payoff"]["lower"] == "낮을수록 좋음"
    for words in ("What federated learning gives each site", "it was never sent", "relative to local-only", "Local-only:"):
        assert words in english_html


def test_the_csv_carries_the_baseline_rows(client_for, post, platform, model):
    alice = client_for("alice")
    make_job(post, alice, model, "fed_job", baseline=True)
    record(platform, "fed_job")

    rows = list(csv.DictReader(io.StringIO(alice.get("/jobs/fed_job/metrics.csv").text)))

    baseline = {(int(r["round"]), r["site"], r["metric"]): float(r["value"]) for r in rows if r["kind"] == "baseline"}
    assert baseline == {(round_num, site, metric): value for round_num, sites in REPORTS.items()
                        for site, reports in sites.items() for metric, value in reports["baseline"].items()}  # fmt: skip
    assert len(rows) == 2 * 2 * 3 * 2  # rounds × sites × kinds × metrics


def test_without_baseline_rows_or_kept_models_there_is_no_table(client_for, post, platform, model):
    alice = client_for("alice")
    make_job(post, alice, model, "plain_job", baseline=False)
    record(platform, "plain_job", kinds=("global", "local"), kept=())

    html = alice.get("/jobs/plain_job").text

    assert alice.get("/api/jobs/plain_job").json["payoff"] is None
    assert re.search(r'<section class="payoff" id="payoff" hidden>', html)
    assert "단독 학습:" not in html  # no baseline help without a baseline


def test_a_kept_personalized_model_without_a_baseline_is_shown_beside_the_global_one(client_for, post, platform, model):
    alice = client_for("alice")
    make_job(post, alice, model, "kept_job", baseline=False)
    record(platform, "kept_job", kinds=("global", "local"), kept=("site_b",))

    payoff = alice.get("/api/jobs/kept_job").json["payoff"]

    assert payoff["baseline"] is False and payoff["personalized"] == ["site_b"]
    rmse = next(table for table in payoff["tables"] if table["metric"] == "rmse")
    assert rmse["rows"] == [{"site": "site_b", "round": 2, "global": 1.2, "local": 0.9}]  # no local-only, no gains


def test_the_table_follows_the_run_through_the_live_endpoint(client_for, post, platform, model):
    alice = client_for("alice")
    make_job(post, alice, model, "live_job", baseline=True)
    first = alice.get("/api/jobs/live_job")
    platform.storage.record_metrics("live_job", 1, "site_a", "baseline", {"rmse": 1.0})
    platform.storage.record_metrics("live_job", 1, "site_a", "global", {"rmse": 1.5})
    second = alice.get("/api/jobs/live_job", headers={"If-None-Match": first.headers["ETag"]})
    unchanged = alice.get("/api/jobs/live_job", headers={"If-None-Match": second.headers["ETag"]})

    assert first.json["payoff"] is None
    assert second.status_code == 200
    row = second.json["payoff"]["tables"][0]["rows"][0]
    assert (row["global"], row["local"], row["baseline"]) == (1.5, None, 1.0)
    assert row["federated_gain"] == pytest.approx(-0.5) and row["personalized_gain"] is None
    assert unchanged.status_code == 304


def test_a_zero_or_missing_local_only_value_has_no_relative_gain():
    assert gain(0.5, 0.0, higher=True) is None and gain(None, 1.0, higher=False) is None
    assert gain(0.5, -1.0, higher=True) == pytest.approx(1.5)  # relative to |local-only|: higher is still better
    rows = [MetricValue(1, "a", "global", "loss", 1.0), MetricValue(1, "b", "baseline", "loss", 2.0)]
    assert [row["site"] for row in payoff_view(rows, {})["tables"][0]["rows"]] == ["b"]  # only sites with a baseline
