"""The pretrained-model store on the models page: upload a folder (relative paths kept) or a file, list, remove."""

from __future__ import annotations

import io

import pytest

from nvflare_fdd.platform.storage import NotFound


def folder_upload(files: dict[str, bytes]) -> list:
    """A folder's files as the page's script sends them: each named by its path inside the folder."""
    return [(io.BytesIO(content), path) for path, content in files.items()]


HF_FOLDER = {
    "config.json": b'{"hidden_size": 8}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "model.safetensors": bytes(range(256)) * 64,
}


def upload(client, post, name: str, files: list, kind: str = "folder"):
    return post(client, "/api/pretrained", {"name": name, "kind": kind, "files": files}, content_type="multipart/form-data")


def test_a_folder_upload_keeps_its_paths_and_is_listed_for_everyone(client_for, post, platform):
    alice = client_for("alice")

    response = upload(alice, post, "chemberta-77M", folder_upload(HF_FOLDER))

    assert response.status_code == 201, response.json
    model = platform.pretrained_model("chemberta-77M")
    assert model.owner == "alice" and model.kind == "folder"
    assert {f.path: f.size for f in model.files} == {path: len(content) for path, content in HF_FOLDER.items()}
    for bob_or_alice in (alice, client_for("bob")):
        page = bob_or_alice.get("/models").text
        assert 'data-pretrained="chemberta-77M"' in page
    assert "delete-pretrained" in alice.get("/models").text and "delete-pretrained" not in client_for("bob").get("/models").text


def test_one_file_is_a_one_file_model(client_for, post, platform):
    response = upload(client_for("alice"), post, "weights", [(io.BytesIO(b"\x00" * 100), "weights.pt")], kind="file")
    assert response.status_code == 201, response.json
    assert [f.path for f in platform.pretrained_model("weights").files] == ["weights.pt"]


@pytest.mark.parametrize("path", ["../escape.json", "/etc/passwd", "a/../../b", "a//b.bin", "bad\x01.json", "ends."])
def test_paths_leaving_the_folder_or_odd_are_refused_before_anything_is_written(client_for, post, platform, path):
    response = upload(client_for("alice"), post, "evil", [(io.BytesIO(b"x"), path)])
    assert response.status_code == 400 and response.json["error"]
    assert platform.pretrained_models() == []


@pytest.mark.parametrize("name", ["../x", "two words", ""])
def test_a_name_that_is_not_plain_is_refused(client_for, post, platform, name):
    response = upload(client_for("alice"), post, name, folder_upload({"a.json": b"{}"}))
    assert response.status_code == 400 and "plain name" in response.json["error"]


def test_a_taken_name_is_a_conflict_and_no_files_is_an_error(client_for, post):
    alice, bob = client_for("alice"), client_for("bob")
    assert upload(alice, post, "taken", folder_upload({"a.json": b"{}"})).status_code == 201
    taken = upload(bob, post, "taken", folder_upload({"b.json": b"{}"}))
    assert taken.status_code == 409 and "already exists" in taken.json["error"]
    nothing = post(alice, "/api/pretrained", {"name": "empty", "kind": "folder"}, content_type="multipart/form-data")
    assert nothing.status_code == 400


def test_the_owner_or_an_admin_removes_and_others_are_refused(client_for, post, platform):
    alice, bob, root = client_for("alice"), client_for("bob"), client_for("root")
    upload(alice, post, "alices", folder_upload({"a.json": b"{}"}))
    upload(alice, post, "also-alices", folder_upload({"b.json": b"{}"}))

    assert post(bob, "/pretrained/alices/remove").status_code == 403
    assert post(alice, "/pretrained/alices/remove").status_code in (200, 302)
    assert post(root, "/pretrained/also-alices/remove").status_code in (200, 302)

    with pytest.raises(NotFound):
        platform.pretrained_model("alices")
    assert platform.pretrained_models() == []


def test_an_upload_may_pass_the_bundle_limit_up_to_the_store_limit(client_for, post, platform, app):
    app.config["MAX_CONTENT_LENGTH"] = 4096  # the registry's bundle uploads
    platform.config.pretrained_max_bytes = 64 << 10
    big = folder_upload({"model.safetensors": b"\x01" * (32 << 10)})

    assert upload(client_for("alice"), post, "bigger-than-a-bundle", big).status_code == 201
    too_big = upload(client_for("alice"), post, "too-big", folder_upload({"m.bin": b"\x01" * (96 << 10)}))
    assert too_big.status_code == 400 and "pretrained_max_gb" in too_big.json["error"]


def test_the_page_is_korean_first_with_english_too(client_for):
    alice = client_for("alice")
    assert "사전학습 모델 저장소" in alice.get("/models").text
    alice.get("/lang/en")
    assert "Pretrained-model store" in alice.get("/models").text
