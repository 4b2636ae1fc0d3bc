"""The ``mlflow`` section of ``platform.yaml``, and the MLflow client settings the plugin leaves to the environment."""

from __future__ import annotations

import pytest

from fdd_mlflow.settings import DEFAULT_EXPERIMENT, HTTP_DEFAULTS, MlflowSettings, apply_http_defaults, config_path, load_settings
from nvflare_fdd.errors import FddError


def test_the_section_is_read(tmp_path):
    path = tmp_path / "platform.yaml"
    path.write_text("capacity: 2\nmlflow:\n  tracking_uri: http://mlflow:5000\n  experiment: solubility\n  pause_after_failure: 5\n")

    assert load_settings(path) == MlflowSettings("http://mlflow:5000", "solubility", 5.0, path)


@pytest.mark.parametrize("text", ["capacity: 2\n", "mlflow:\n", "mlflow:\n  experiment: x\n", "mlflow:\n  tracking_uri: '  '\n"])
def test_no_tracking_uri_means_none(tmp_path, text):
    path = tmp_path / "platform.yaml"
    path.write_text(text)

    settings = load_settings(path)

    assert settings.tracking_uri is None and settings.source == path


def test_no_file_means_no_tracking_uri_and_the_defaults(tmp_path):
    assert load_settings(tmp_path / "absent.yaml") == MlflowSettings(None, DEFAULT_EXPERIMENT, 60.0, None)


def test_the_file_is_the_platforms_own(tmp_path, monkeypatch):
    monkeypatch.delenv("FDD_PLATFORM_CONFIG", raising=False)
    monkeypatch.setenv("FDD_HOME", str(tmp_path / "home"))
    assert config_path() == tmp_path / "home" / "platform.yaml"

    chosen = tmp_path / "elsewhere.yaml"
    chosen.write_text("mlflow:\n  tracking_uri: http://127.0.0.1:5000\n")
    monkeypatch.setenv("FDD_PLATFORM_CONFIG", str(chosen))
    assert config_path() == chosen
    assert load_settings().tracking_uri == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mlflow: [a, b]\n", "mlflow must be a mapping"),
        ("mlflow:\n  tracking_uri: 5000\n", "mlflow.tracking_uri must be a string, got 5000"),
        ("mlflow:\n  tracking_uri: http://x\n  experiment: [1]\n", "mlflow.experiment must be a string"),
        ("mlflow:\n  tracking_uri: http://x\n  pause_after_failure: -1\n",
         "pause_after_failure must be a number of seconds ≥ 0, got -1"),
        ("mlflow:\n  tracking_uri: http://x\n  pause_after_failure: soon\n", "got 'soon'"),
        ("mlflow: {tracking_uri: [\n", "cannot be read as YAML"),
    ],
)
def test_a_bad_section_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "platform.yaml"
    path.write_text(text)

    with pytest.raises(FddError, match=str(path)) as raised:
        load_settings(path)
    assert message in str(raised.value)


def test_mlflow_client_defaults_fill_only_what_the_environment_leaves_unset():
    environ = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5", "OTHER": "x"}

    apply_http_defaults(environ)

    assert environ == {**HTTP_DEFAULTS, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5", "OTHER": "x"}
    assert HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
