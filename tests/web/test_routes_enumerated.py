"""Every route of the web UI, tried signed out, as a non-owner and without the CSRF token.

The routes are read from the app itself: a new route fails this test until it is classified.
"""

from __future__ import annotations

import pytest

from nvflare_fdd.platform.records import JobState

JOB = "alice_job"  # conftest's job, which alice started

# rule → (who may change alice's things through it); GET rules only read
CHANGES_ALICES_THINGS = {
    "/jobs/<name>/start", "/jobs/<name>/stop", "/jobs/<name>/resume", "/jobs/<name>/share", "/jobs/<name>/delete",
    "/api/models/<class_name>/<version>", "/models/<class_name>/<version>/delete", "/pretrained/<pretrained>/remove",
}  # fmt: skip
CHANGES_OWN_THINGS = {"/api/jobs", "/api/models", "/api/groups", "/api/groups/<name>/delete", "/api/pretrained"}
ADMIN_ONLY = {"/data/refresh"}  # collects every site's statistics again
SESSION = {"/signin", "/signout", "/lang/<code>", "/account/password"}  # /lang only sets the display language
READ_ONLY = {
    "/", "/data", "/models", "/jobs", "/jobs/<name>", "/api/jobs/<name>", "/api/jobs/<name>/metrics",
    "/jobs/<name>/metrics.csv", "/jobs/<name>/global_model.<fmt>", "/api/data/refresh",
}  # fmt: skip


@pytest.fixture
def alices_job(platform, job, tiny_bundle):
    alice = platform.user("alice")
    platform.start_job(alice, JOB)
    platform.save_group(alice, "alices_group", ["site_a"])
    platform.storage.record_metrics(JOB, 1, "site_a", "global", {"rmse": 1.0})
    platform.add_pretrained(alice, "alices-weights", tiny_bundle / "model.py")  # the store is shared; removing is hers
    return platform


def routes(app) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        found.setdefault(rule.rule, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    return found


def concrete(rule: str) -> str:
    return (rule.replace("<name>", JOB).replace("<class_name>", "TinyRegressor").replace("<version>", "1.0")
            .replace("<fmt>", "pt").replace("<code>", "en").replace("<pretrained>", "alices-weights"))  # fmt: skip


def snapshot(platform) -> tuple:
    job = platform.storage.get_job(JOB)
    models = [(m.label, m.description, m.updated_at) for m in platform.storage.list_models()]
    pretrained = [(m.name, m.digest) for m in platform.pretrained_models()]
    groups = [g.name for g in platform.groups(platform.user("alice"))]
    return job.state, models, groups, len(platform.storage.list_jobs()), pretrained


def test_every_route_is_classified(app):
    assert set(routes(app)) == CHANGES_ALICES_THINGS | CHANGES_OWN_THINGS | ADMIN_ONLY | SESSION | READ_ONLY


def test_signed_out_nothing_is_served_and_nothing_changes(app, alices_job):
    client = app.test_client()
    before = snapshot(alices_job)
    for rule, methods in routes(app).items():
        if rule in SESSION:
            continue
        for method in methods:
            response = client.open(concrete(rule), method=method, data={})
            assert response.status_code in (302, 400, 401, 403), f"{method} {rule} -> {response.status_code}"
            if response.status_code == 302:
                assert "/signin" in response.headers["Location"], f"{method} {rule}"
            assert JOB.encode() not in response.data or response.status_code == 302
    assert snapshot(alices_job) == before


def test_a_non_owner_cannot_change_anything_of_alice(app, alices_job, client_for, post):
    bob = client_for("bob")
    before = snapshot(alices_job)
    for rule in sorted(CHANGES_ALICES_THINGS):
        response = post(bob, concrete(rule), {"description": "bob was here"})
        assert response.status_code == 403, f"POST {rule} as bob -> {response.status_code}"
    assert post(bob, "/api/groups/alices_group/delete").status_code in (403, 404)  # bob's own groups only
    for rule in sorted(ADMIN_ONLY):
        response = post(bob, rule)
        assert response.status_code == 403 and response.json["code"] == "admin.required", rule
    assert snapshot(alices_job) == before
    assert alices_job.storage.get_job(JOB).state == JobState.QUEUED
    for rule in sorted(READ_ONLY):  # bob reads only what is his: alice's job is not there for him
        response = bob.get(concrete(rule))
        assert response.status_code in (200, 302, 404), rule
        if "<name>" in rule:
            assert response.status_code == 404, f"GET {rule} as bob -> {response.status_code}"


def test_every_post_needs_the_csrf_token(app, alices_job, client_for):
    alice = client_for("alice")
    before = snapshot(alices_job)
    for rule, methods in routes(app).items():
        if "POST" not in methods or rule == "/signin":
            continue
        response = alice.post(concrete(rule), data={"description": "forged"}, headers={"Accept": "application/json"})
        assert response.status_code in (400, 403), f"POST {rule} without a token -> {response.status_code}"
    assert snapshot(alices_job) == before


def test_passwords_are_stored_hashed(platform):
    stored = platform.storage.password_hash("alice")
    assert stored and "alice-pw" not in stored
    assert stored.split(":")[0] in ("pbkdf2", "scrypt")


def test_signed_out_the_password_page_is_not_served(app):
    client = app.test_client()

    assert client.get("/account/password").status_code == 302
    assert client.post("/account/password", data={"current": "x", "new": "y" * 9, "repeat": "y" * 9}).status_code in (400, 401)
