"""The AI models page: register by upload (every problem by its file), edit, delete; only owners change."""

from __future__ import annotations

import io
import zipfile

import pytest

from nvflare_fdd.platform.storage import NotFound


def register(client, post, bundle_upload, folder, class_name="TinyRegressor", version="1.0", skip=(), **extra):
    data = {"class_name": class_name, "version": version, "description": "tiny", "files": bundle_upload(folder, skip), **extra}
    return post(client, "/api/models", data, content_type="multipart/form-data")


def test_a_valid_bundle_is_registered_and_listed(client_for, post, bundle_upload, tiny_bundle, platform):
    client = client_for("alice")

    response = register(client, post, bundle_upload, tiny_bundle)

    assert response.status_code == 201, response.json
    model = platform.storage.get_model("TinyRegressor", "1.0")
    assert model.owner == "alice" and {f.name for f in model.files} == {p.name for p in tiny_bundle.iterdir()}
    page = client.get("/models").text
    assert 'data-model="TinyRegressor:1.0"' in page and "tiny" in page


def test_every_problem_comes_back_with_its_file(client_for, post, bundle_upload, make_bundle, platform):
    broken = make_bundle({"train_eval.py": "def train(model):\n    pass\n"}, name="broken")

    response = register(client_for("alice"), post, bundle_upload, broken, class_name="Missing", skip=("data.py",))

    assert response.status_code == 422
    by_file = {}
    for problem in response.json["problems"]:
        by_file.setdefault(problem["file"], []).append(problem["message"])
    assert set(by_file) >= {"data.py", "model.py", "train_eval.py"}
    assert any("Missing" in message for message in by_file["model.py"])
    assert platform.storage.list_models() == []


def test_a_zip_upload_is_a_bundle(client_for, post, tiny_bundle, platform):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        for path in tiny_bundle.iterdir():
            handle.write(path, path.name)
    archive.seek(0)
    data = {"class_name": "TinyRegressor", "version": "z", "files": [(archive, "bundle.zip")]}

    response = post(client_for("alice"), "/api/models", data, content_type="multipart/form-data")

    assert response.status_code == 201, response.json
    assert "model.py" in {f.name for f in platform.storage.get_model("TinyRegressor", "z").files}


@pytest.mark.parametrize("name", ["../model.py", "..", "/etc/model.py", "a/../model.py"])
def test_file_names_with_paths_are_refused(client_for, post, tiny_bundle, name):
    data = {"class_name": "TinyRegressor", "version": "1", "files": [(io.BytesIO(b"x = 1\n"), name)]}

    response = post(client_for("alice"), "/api/models", data, content_type="multipart/form-data")

    assert response.status_code == 422
    assert response.json["problems"][0]["file"] == name


def test_a_taken_class_and_version_is_a_conflict(client_for, post, bundle_upload, tiny_bundle):
    register(client_for("alice"), post, bundle_upload, tiny_bundle)

    response = register(client_for("bob"), post, bundle_upload, tiny_bundle)

    assert response.status_code == 409
    assert response.json["code"] == "model.exists" and "이미 있습니다" in response.json["error"]


def test_names_that_differ_only_in_case_collide(client_for, post, bundle_upload, tiny_bundle):
    register(client_for("alice"), post, bundle_upload, tiny_bundle)
    data = {"class_name": "tinyregressor", "version": "1.0", "files": bundle_upload(tiny_bundle)}

    response = post(client_for("bob"), "/api/models", data, content_type="multipart/form-data")

    assert response.status_code in (409, 422)  # the class name must also match model.py: either refusal is right
    if response.status_code == 409:
        assert "TinyRegressor:1.0" in response.json["error"]


def test_a_dropped_folder_keeps_its_paths_and_a_sub_folder_is_refused_with_the_reason(client_for, post, tiny_bundle):
    files = [(io.BytesIO(path.read_bytes()), f"my_bundle/{path.name}") for path in sorted(tiny_bundle.iterdir()) if path.is_file()]
    files.append((io.BytesIO(b"def helper():\n    return 1\n"), "my_bundle/utils/additional_utils.py"))

    response = post(client_for("alice"), "/api/models", {"class_name": "TinyRegressor", "version": "2", "files": files},
                    content_type="multipart/form-data")  # fmt: skip

    assert response.status_code == 422
    problem = next(p for p in response.json["problems"] if p["file"] == "utils/")
    assert problem["code"] == "bundle.subfolder"
    assert "하위 폴더" in problem["message"] and "from utils.additional_utils import" in problem["message"]


def test_a_dropped_flat_folder_registers(client_for, post, platform, tiny_bundle):
    files = [(io.BytesIO(path.read_bytes()), f"my_bundle/{path.name}") for path in sorted(tiny_bundle.iterdir()) if path.is_file()]

    response = post(client_for("alice"), "/api/models", {"class_name": "TinyRegressor", "version": "3", "files": files},
                    content_type="multipart/form-data")  # fmt: skip

    assert response.status_code == 201, response.json
    assert "model.py" in {f.name for f in platform.storage.get_model("TinyRegressor", "3").files}


def test_every_problem_is_in_korean(client_for, post):
    files = [(io.BytesIO(b"def broken(:\n"), "model.py"), (io.BytesIO(b"-e ./local\n"), "requirements.txt"),
             (io.BytesIO(b"a,b\n"), "data.csv"), (io.BytesIO(b"[1, 2]\n"), "config.yaml")]

    response = post(client_for("alice"), "/api/models", {"class_name": "TinyRegressor", "version": "4", "files": files},
                    content_type="multipart/form-data")  # fmt: skip

    assert response.status_code == 422
    codes = {p["code"] for p in response.json["problems"]}
    assert {"bundle.syntax_error", "bundle.req_editable", "bundle.type_not_allowed.data", "bundle.missing",
            "bundle.config_not_mapping"} <= codes  # fmt: skip
    for problem in response.json["problems"]:
        assert any("가" <= char <= "힣" for char in problem["message"]), problem


def test_no_files_is_a_clear_error(client_for, post):
    response = post(client_for("alice"), "/api/models", {"class_name": "TinyRegressor", "version": "1"})

    assert response.status_code == 400 and response.json["error"]


def test_the_owner_edits_description_and_files(client_for, post, bundle_upload, tiny_bundle, make_bundle, platform):
    alice = client_for("alice")
    register(alice, post, bundle_upload, tiny_bundle)
    changed = make_bundle({"config.yaml": "n_features: 3\nlearning_rate: 0.1\nepochs: 1\n"}, name="changed")

    response = post(alice, "/api/models/TinyRegressor/1.0", {"description": "new words", "files": bundle_upload(changed)},
                    content_type="multipart/form-data")  # fmt: skip

    assert response.status_code == 200, response.json
    model = platform.storage.get_model("TinyRegressor", "1.0")
    assert model.description == "new words"
    assert {f.name: f.size for f in model.files}["config.yaml"] == len((changed / "config.yaml").read_bytes())


def test_others_neither_see_nor_change_a_users_models(client_for, post, bundle_upload, tiny_bundle, platform):
    register(client_for("alice"), post, bundle_upload, tiny_bundle)
    bob = client_for("bob")

    page = bob.get("/models").text
    edit = post(bob, "/api/models/TinyRegressor/1.0", {"description": "mine now"})
    delete = post(bob, "/models/TinyRegressor/1.0/delete")

    assert 'data-model="TinyRegressor:1.0"' not in page and "tiny" not in page
    assert 'data-model="TinyRegressor:1.0"' in client_for("root").get("/models").text  # an admin sees all
    assert edit.status_code == 403 and delete.status_code == 403
    assert platform.storage.get_model("TinyRegressor", "1.0").description == "tiny"


def test_an_admin_may_change_anyones_model(client_for, post, bundle_upload, tiny_bundle, platform):
    register(client_for("alice"), post, bundle_upload, tiny_bundle)

    response = post(client_for("root"), "/api/models/TinyRegressor/1.0", {"description": "checked by root"})

    assert response.status_code == 200
    assert platform.storage.get_model("TinyRegressor", "1.0").description == "checked by root"


def test_the_owner_deletes_a_model(client_for, post, bundle_upload, tiny_bundle, platform):
    alice = client_for("alice")
    register(alice, post, bundle_upload, tiny_bundle)

    response = alice.post("/models/TinyRegressor/1.0/delete", data={"csrf_token": _token(alice)})

    assert response.status_code == 302 and response.location == "/models"
    with pytest.raises(NotFound):
        platform.storage.get_model("TinyRegressor", "1.0")


def _token(client) -> str:
    with client.session_transaction() as session:
        return session["csrf_token"]
