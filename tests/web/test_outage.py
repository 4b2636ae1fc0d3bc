"""The platform's database away: pages and scripts get 503 and the platform's own words, and it passes."""

from __future__ import annotations


def test_a_database_outage_answers_503_without_its_cause_and_passes(client_for, platform, tmp_path):
    alice = client_for("alice")
    assert alice.get("/jobs").status_code == 200
    database = tmp_path / "platform.db"
    platform.storage.engine.dispose()
    database.rename(tmp_path / "away.db")
    database.mkdir()  # SQLite cannot open a folder: what a lost volume looks like to it

    page = alice.get("/jobs")
    assert page.status_code == 503, page.text
    assert page.headers["Retry-After"] == "30"
    assert "플랫폼 데이터베이스에 연결할 수 없습니다" in page.text
    assert "platform.db" not in page.text and "sqlite" not in page.text.lower()
    api = alice.get("/api/jobs", headers={"Accept": "application/json"})
    assert api.status_code == 503
    assert api.get_json()["error"] == "플랫폼 데이터베이스에 연결할 수 없습니다. 잠시 후 다시 시도하세요"

    platform.storage.engine.dispose()
    database.rmdir()
    (tmp_path / "away.db").rename(database)
    assert alice.get("/jobs").status_code == 200
