"""Live state (ETag'd polling), the catalogue of messages, job deletion, models kept while jobs use them,
translated state history, data refresh from the page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from nvflare_fdd.platform.records import JobState
from nvflare_fdd.web.messages import MESSAGES

PACKAGE = Path(__file__).resolve().parents[2] / "nvflare_fdd"


def codes_in(paths) -> set[str]:
    """Every literal ``code="..."`` (and f-string prefix) in the sources."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg in ("code", "reason_code"):
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    found.add(node.value.value)
    return found


def test_every_code_the_platform_and_the_bundle_rules_give_has_words_in_both_languages():
    sources = [*(PACKAGE / "bundle").glob("*.py"), *(PACKAGE / "platform").rglob("*.py"), PACKAGE / "jobs.py",
               *(PACKAGE / "web").rglob("*.py")]  # fmt: skip
    codes = codes_in(sources)

    assert len(codes) > 60
    missing = sorted(code for code in codes if code not in MESSAGES)
    assert missing == []
    kinds = {"none", "bin", "data", "ipynb", "pyc", "sh", "whl", "zip", "other", "no_suffix"} - {"none"}
    assert all(f"bundle.type_not_allowed.{kind}" in MESSAGES for kind in kinds)
    assert all(f"event.run_{state}" in MESSAGES for state in ("completed", "failed", "cancelled"))
    for code, (korean, english) in MESSAGES.items():
        assert re.search("[가-힣]", korean) or code in ("bundle.req_index",), code
        assert "--" not in korean + english and "`fdd" not in korean + english, code  # no CLI flags or commands
        assert set(re.findall(r"(?<!\{)\{(\w+)\}", korean)) == set(re.findall(r"(?<!\{)\{(\w+)\}", english)), code


def test_the_jobs_list_is_live_and_answers_304_until_something_changes(client_for, platform, job):
    alice = client_for("alice")

    first = alice.get("/api/jobs")
    same = alice.get("/api/jobs", headers={"If-None-Match": first.headers["ETag"]})
    platform.start_job(platform.user("alice"), job.name)
    changed = alice.get("/api/jobs", headers={"If-None-Match": first.headers["ETag"]})

    assert first.status_code == 200 and 'data-state="ready"' in first.json["rows"] and first.headers["X-Server-Time"]
    assert same.status_code == 304
    assert changed.status_code == 200 and 'data-state="queued"' in changed.json["rows"]
    assert changed.json["states"] == {"alice_job": "queued"}


def test_the_job_page_is_live_with_progress_history_and_metrics_in_one_answer(client_for, platform, job):
    alice = client_for("alice")
    platform.start_job(platform.user("alice"), job.name)
    platform.tick()
    first = alice.get(f"/api/jobs/{job.name}")
    platform.storage.record_setup(job.name, "site_a", [{"code": 900, "name": "environment", "start": 1.0, "end": 2.0}])
    second = alice.get(f"/api/jobs/{job.name}", headers={"If-None-Match": first.headers["ETag"]})
    unchanged = alice.get(f"/api/jobs/{job.name}", headers={"If-None-Match": second.headers["ETag"]})

    assert set(first.json) == {"job", "progress", "events", "metrics", "payoff", "unsandboxed"}
    assert second.status_code == 200 and second.json["progress"]["environment"]["sites"][0]["environment"] == "done"
    assert unchanged.status_code == 304
    events = second.json["events"]
    assert [(e["from_label"], e["to_label"]) for e in events] == [("", "시작 대기"), ("시작 대기", "학습대기"), ("학습대기", "학습진행")]
    assert [e["reason"] for e in events] == ["작업 생성", "alice 이(가) 학습 시작을 요청함", "학습 시작 (simulator 실행기)"]


def test_the_owner_deletes_a_finished_job_with_its_results_not_a_running_one(client_for, post, platform, job, tmp_path):
    alice, bob = client_for("alice"), client_for("bob")
    platform.start_job(platform.user("alice"), job.name)
    platform.tick()
    platform.share_job(platform.user("alice"), job.name, ["bob"])

    running = post(alice, f"/jobs/{job.name}/delete")
    platform.stop_job(platform.user("alice"), job.name)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"w")
    platform.storage.put_artefact(job.name, "global_model.pt", weights)
    platform.storage.record_metrics(job.name, 1, "site_a", "global", {"rmse": 1.0})
    by_bob = post(bob, f"/jobs/{job.name}/delete")
    deleted = post(alice, f"/jobs/{job.name}/delete")

    assert running.status_code == 409 and running.json["code"] == "job.delete_active" and "중지한 뒤 삭제" in running.json["error"]
    assert by_bob.status_code == 403
    assert deleted.status_code == 200 and deleted.json["redirect"] == "/jobs"
    assert platform.storage.list_jobs() == [] and alice.get(f"/jobs/{job.name}").status_code == 404


def test_a_model_jobs_use_cannot_be_deleted_and_the_refusal_names_them(client_for, post, platform, job):
    alice = client_for("alice")
    page = alice.get("/models").text

    refused = post(alice, "/models/TinyRegressor/1.0/delete")
    platform.delete_job(platform.user("alice"), job.name)
    deleted = post(alice, "/models/TinyRegressor/1.0/delete")

    assert 'data-blocked="' in page and "alice_job" in page
    assert refused.status_code == 409 and refused.json["code"] == "model.used_by_jobs" and "alice_job" in refused.json["error"]
    assert deleted.status_code == 200 and platform.storage.list_models() == []


def test_refused_actions_answer_the_script_in_the_ui_language_without_cli_text(client_for, post, platform, job, model):
    alice = client_for("alice")
    for name in ("q1", "q2", "q3"):
        platform.create_job(platform.user("alice"), name, model.label, 1, ["site_a"])
    platform.start_job(platform.user("alice"), "q1")
    platform.start_job(platform.user("alice"), "q2")

    third = post(alice, "/jobs/q3/start")
    unknown = post(alice, "/jobs/nope/stop")

    assert third.status_code == 409 and third.json["code"] == "job.queue_full" and "최대 2개" in third.json["error"]
    assert unknown.status_code == 404 and "nope" in unknown.json["error"] and "fdd" not in unknown.json["error"]
    page = alice.get("/jobs/nope")
    assert page.status_code == 404 and "찾을 수 없습니다" in page.text and "오류 404" not in page.text


def test_names_and_texts_have_limits_and_groups_need_a_name(client_for, post, platform):
    alice = client_for("alice")

    nameless = post(alice, "/api/groups", {"name": " ", "sites": ["site_a"]})
    huge = post(alice, "/api/groups", {"name": "g" * 100_000, "sites": ["site_a"]})
    saved = post(alice, "/api/groups", {"name": "Both", "sites": ["site_a"]})
    again = post(alice, "/api/groups", {"name": "both", "sites": ["site_b"]})

    assert nameless.status_code == 400 and "선택그룹 이름을 입력하세요" in nameless.json["error"]
    assert huge.status_code == 400 and huge.json["code"] == "field.too_long" and "최대 64자" in huge.json["error"]
    assert saved.status_code == 200 and again.json["groups"] == [{"name": "both", "sites": ["site_b"]}]  # one group, whatever the case


def test_job_names_are_unique_whatever_the_letter_case(client_for, post, platform, job, model):
    response = post(client_for("bob"), "/api/jobs", {"name": "ALICE_JOB", "model": model.label, "rounds": "1", "sites": ["site_a"]})

    assert response.status_code == 409 and "alice_job" in response.json["error"]


def test_an_admin_refreshes_the_data_information_from_the_page(client_for, post, platform, stats_store, monkeypatch, tmp_path,
                                                              kda_frame_factory):  # fmt: skip
    import nvflare_fdd.stats as stats_package
    from nvflare_fdd.kda import import_file
    from nvflare_fdd.stats.compute import site_statistics
    from nvflare_fdd.stats.job import StatsRun

    url = f"sqlite:///{tmp_path / 'site_a.db'}"
    kda_frame_factory([-(i % 9) * 0.5 for i in range(60)]).to_csv(tmp_path / "a.csv", index=False)
    import_file(url, tmp_path / "a.csv", institution="site_a")
    summary = site_statistics(url, "site_a")  # what the statistics job brings back from the site
    platform.runner.site_urls = lambda: {"site_a": url}
    monkeypatch.setattr(stats_package, "run_stats_simulation",
                        lambda sites, work, **kw: StatsRun(summaries={"site_a": summary}, failures={}, stats_json=work, seconds=0.1))  # fmt: skip
    root = client_for("root")
    page = root.get("/data").text

    started = post(root, "/data/refresh")
    refresh = root.application.extensions["fdd"].refresh
    for _ in range(100):
        if refresh.status.state != "running":
            break
        import time

        time.sleep(0.05)
    status = root.get("/api/data/refresh").json

    assert 'id="refresh-data"' in page and 'id="refresh-data"' not in client_for("alice").get("/data").text
    assert started.status_code == 200 and status["state"] == "done"
    assert "site_a" in stats_store.latest()


def test_a_failure_at_the_server_says_so_in_korean_without_an_empty_round(client_for, platform, job):
    platform.start_job(platform.user("alice"), job.name)
    platform.tick()
    failure = {"code": None, "phase": "interrupted", "site": "server", "round": None, "message": "m", "trace": ""}
    platform.storage.transition(job.name, JobState.FAILED, "x", failure=failure, reason_code="event.runner_unreachable")

    view = client_for("alice").get(f"/api/jobs/{job.name}").json

    assert view["job"]["failure"]["site"] == "server" and view["events"][-1]["reason"].startswith("실행기에서")
    page = client_for("alice").get(f"/jobs/{job.name}").text
    assert '"server": "서버"' in page and '"interrupted": "중단"' in page  # the page's words for them
