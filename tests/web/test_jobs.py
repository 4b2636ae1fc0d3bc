"""Jobs: create, start, stop, site groups; the job page's JSON, results and downloads; ownership."""

from __future__ import annotations

import csv
import io
import time

import pytest

from nvflare_fdd.platform.records import JobState


def running(platform, name: str) -> None:
    platform.start_job(platform.user("alice"), name)
    platform.tick()
    assert platform.storage.get_job(name).state == JobState.RUNNING


def test_create_a_job(client_for, post, platform, model):
    data = {"name": "my_job", "model": model.label, "rounds": "3", "sites": ["site_a"], "description": "first"}

    response = post(client_for("alice"), "/api/jobs", data)

    assert response.status_code == 201, response.json
    job = platform.storage.get_job("my_job")
    assert (job.owner, job.rounds, job.sites, job.state) == ("alice", 3, ("site_a",), JobState.READY)


@pytest.mark.parametrize("fields, code, words", [
    ({"name": "한글_job"}, "job.name_invalid", "영문, 숫자, 언더바"),
    ({"name": "has space"}, "job.name_invalid", "영문, 숫자, 언더바"),
    ({"name": "n" * 65}, "field.too_long", "연합학습 작업명 은(는) 최대 64자"),
    ({"description": "d" * 2001}, "field.too_long", "최대 2000자"),
    ({"rounds": "0"}, "job.rounds_invalid", "Round 횟수"),
    ({"rounds": "many"}, "job.rounds_invalid", "Round 횟수"),
    ({"sites": []}, "job.no_sites", "기관을 하나 이상"),
    ({"sites": ["site_z"]}, "site.unknown", "site_z"),
    ({"model": "Nope:1"}, "model.not_found", "Nope:1"),
])  # fmt: skip
def test_bad_jobs_are_refused_with_the_platforms_reason_in_korean(client_for, post, model, fields, code, words):
    data = {"name": "ok_name", "model": model.label, "rounds": "2", "sites": ["site_a"], **fields}

    response = post(client_for("alice"), "/api/jobs", data)

    assert response.status_code in (400, 404)
    assert response.json["code"] == code and words in response.json["error"]
    assert "--" not in response.json["error"] and "fdd " not in response.json["error"]  # no CLI flags or commands


def test_refusals_are_in_english_in_the_english_ui(client_for, post, model):
    alice = client_for("alice")
    alice.get("/lang/en")

    response = post(alice, "/api/jobs", {"name": "ok_name", "model": model.label, "rounds": "2"})

    assert response.json["error"] == "Choose at least one site (tick sites in the list, or pick a saved group)"


def test_job_names_are_global(client_for, post, job, model):
    response = post(client_for("bob"), "/api/jobs", {"name": job.name, "model": model.label, "rounds": "1", "sites": ["site_a"]})

    assert response.status_code == 409


def test_the_jobs_page_shows_a_job_to_its_owner_an_admin_and_who_it_is_shared_with(client_for, platform, job):
    mine = client_for("alice").get("/jobs").text
    before_sharing = client_for("bob").get("/jobs").text
    page_before_sharing = client_for("bob").get(f"/jobs/{job.name}")
    admin = client_for("root").get("/jobs").text
    platform.share_job(platform.user("alice"), job.name, ["bob"])
    shared = client_for("bob").get("/jobs").text

    assert 'data-job="alice_job" data-state="ready"' in mine and "start-job" in mine
    assert "alice_job" not in before_sharing
    assert page_before_sharing.status_code == 404 and b"TinyRegressor" not in page_before_sharing.data
    assert 'data-job="alice_job" data-state="ready"' in admin
    assert 'data-job="alice_job" data-state="ready"' in shared and "start-job" not in shared


def test_start_queues_the_job(client_for, platform, job):
    alice = client_for("alice")

    response = alice.post(f"/jobs/{job.name}/start", data={"csrf_token": _token(alice)})

    assert response.status_code == 302
    assert platform.storage.get_job(job.name).state == JobState.QUEUED


def test_someone_else_cannot_start_or_stop_a_job(client_for, post, platform, job):
    bob = client_for("bob")
    platform.share_job(platform.user("alice"), job.name, ["bob"])  # bob may read it, not change it

    assert post(bob, f"/jobs/{job.name}/start").status_code == 403
    running(platform, job.name)
    page = bob.get(f"/jobs/{job.name}").text
    forged = bob.post(f"/jobs/{job.name}/stop", data={"csrf_token": _token(bob)})

    assert 'id="stop-job"' not in page
    assert refused_back_where_acted(bob, forged, "소유자 또는 관리자만")
    assert platform.storage.get_job(job.name).state == JobState.RUNNING


def test_the_owner_and_an_admin_can_stop_a_running_job(client_for, platform, job, model):
    running(platform, job.name)
    alice = client_for("alice")
    assert 'id="stop-job"' in alice.get(f"/jobs/{job.name}").text

    response = alice.post(f"/jobs/{job.name}/stop", data={"csrf_token": _token(alice)})

    assert response.status_code == 302
    assert platform.storage.get_job(job.name).state == JobState.CANCELLED
    platform.create_job(platform.user("alice"), "second", model.label, 1, ["site_a"])
    running(platform, "second")
    root = client_for("root")
    assert root.post("/jobs/second/stop", data={"csrf_token": _token(root)}).status_code == 302


def test_the_owner_resumes_a_stopped_job_and_no_one_else_can(client_for, platform, job):
    running(platform, job.name)
    platform.stop_job(platform.user("alice"), job.name)
    platform.share_job(platform.user("alice"), job.name, ["bob"])
    bob, alice = client_for("bob"), client_for("alice")

    assert 'id="resume-job"' not in bob.get(f"/jobs/{job.name}").text
    assert refused_back_where_acted(bob, bob.post(f"/jobs/{job.name}/resume", data={"csrf_token": _token(bob)}), "alice")
    assert 'id="resume-job"' in alice.get(f"/jobs/{job.name}").text
    response = alice.post(f"/jobs/{job.name}/resume", data={"csrf_token": _token(alice)})

    assert response.status_code == 302
    assert platform.storage.get_job(job.name).state == JobState.QUEUED


def test_site_groups_are_saved_and_deleted(client_for, post, platform):
    alice = client_for("alice")

    saved = post(alice, "/api/groups", {"name": "both", "sites": ["site_b", "site_a"]})
    listed = client_for("alice").get("/jobs").text
    deleted = post(alice, "/api/groups/both/delete")

    assert saved.json["groups"] == [{"name": "both", "sites": ["site_a", "site_b"]}]
    assert '"groups": [{"name": "both"' in listed
    assert deleted.json["groups"] == []


def test_progress_and_metrics_follow_the_run(client_for, platform, job):
    running(platform, job.name)
    platform.share_job(platform.user("alice"), job.name, ["bob"])
    storage, now = platform.storage, time.time()
    storage.record_round(job.name, 1, started=now - 5)
    setup = [
        {"code": 900, "name": "environment", "start": now - 5, "end": now - 4},
        {"code": 3000, "name": "model_loader", "start": now - 4, "end": now - 3},
    ]
    for site in job.sites:
        storage.record_stage(job.name, 0, site, setup, None)
    client = client_for("bob")

    before = client.get(f"/api/jobs/{job.name}").json["progress"]
    storage.record_stage(job.name, 1, "site_a", [{"code": 6000, "name": "train", "start": now - 2, "end": now - 1}], 30)
    storage.record_metrics(job.name, 1, "site_a", "global", {"mse": 2.0})
    storage.record_metrics(job.name, 1, "site_a", "local", {"mse": 1.0})
    storage.record_round(job.name, 1, finished=now)
    after = client.get(f"/api/jobs/{job.name}").json["progress"]
    metrics = client.get(f"/api/jobs/{job.name}/metrics").json

    assert before["start"]["status"] == "done" and before["environment"]["status"] == "done"
    assert [r["status"] for r in before["rounds"]] == ["active", "pending"]
    assert before["rounds"][0]["started"] == pytest.approx(now - 5) and before["rounds"][0]["elapsed"] is None  # the page times it
    assert [r["status"] for r in after["rounds"]] == ["done", "pending"]
    assert after["rounds"][0]["sites"]["site_a"]["num_samples"] == 30
    assert after["results"]["status"] == "pending"
    assert metrics["series"]["mse"]["site_a"] == {"global": [[1, 2.0]], "local": [[1, 1.0]]}


def test_results_download_as_csv_and_global_model(client_for, platform, job, tmp_path):
    storage = platform.storage
    storage.record_metrics(job.name, 1, "site_a", "global", {"mse": 2.5, "mae": 1.5})
    client = client_for("bob")
    unshared = [client.get(f"/jobs/{job.name}/metrics.csv"), client.get(f"/jobs/{job.name}/global_model.pt")]
    platform.share_job(platform.user("alice"), job.name, ["bob"])

    table = client.get(f"/jobs/{job.name}/metrics.csv")
    missing = client.get(f"/jobs/{job.name}/global_model.pt")
    weights = tmp_path / "global_model.pt"
    weights.write_bytes(b"weights")
    storage.put_artefact(job.name, "global_model.pt", weights)
    model_file = client.get(f"/jobs/{job.name}/global_model.pt")

    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert table.headers["Content-Disposition"].startswith("attachment") and len(rows) == 2
    assert {(r["metric"], float(r["value"])) for r in rows} == {("mse", 2.5), ("mae", 1.5)}
    assert missing.status_code == 404
    assert model_file.status_code == 200 and model_file.data == b"weights"
    assert client.get(f"/jobs/{job.name}/global_model.exe").status_code == 404
    assert [response.status_code for response in unshared] == [404, 404]
    assert all(b"mse" not in response.data for response in unshared)


def test_an_unknown_job_is_404(client_for):
    client = client_for("alice")

    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/jobs/nope/metrics.csv").status_code == 404


def refused_back_where_acted(client, response, words: str) -> bool:
    """A refused form posted without the page's script: back to where the user acted, the reason shown there."""
    assert response.status_code == 302, response.status_code
    page = client.get(response.location).text
    assert 'class="flash error"' in page and words in page, page[-3000:]
    return True


def _token(client) -> str:
    with client.session_transaction() as session:
        return session["csrf_token"]


def test_the_owner_shares_a_job_read_only_from_its_page(client_for, platform, job):
    alice, bob = client_for("alice"), client_for("bob")
    page = alice.get(f"/jobs/{job.name}").text

    response = alice.post(f"/jobs/{job.name}/share", data={"csrf_token": _token(alice), "readers": "bob, root"})
    unknown = alice.post(f"/jobs/{job.name}/share", data={"csrf_token": _token(alice), "readers": "nobody_here"})

    assert 'id="share-form"' in page
    assert response.status_code == 302
    assert platform.storage.get_job(job.name).shared_with == ("bob", "root")
    assert refused_back_where_acted(alice, unknown, "nobody_here")
    assert platform.storage.get_job(job.name).shared_with == ("bob", "root")
    shared = bob.get(f"/jobs/{job.name}").text
    assert 'id="share-form"' not in shared and "start-job" not in shared
