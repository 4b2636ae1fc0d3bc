"""A streamed update is pulled only from the site that sent it, only in a job that streams, and only as the model's
tensors; the simulator tests (``tests/e2e/test_simulator_run.py``) stream real ones over NVFlare."""

from __future__ import annotations

import numpy as np
import pytest
from nvflare.apis.dxo import DXO, DataKind

from nvflare_fdd import streaming
from nvflare_fdd.controllers.fedavg import STREAM_MIN_BYTES, FddFedAvg
from nvflare_fdd.transport import META_NUM_SAMPLES, META_UPDATE_REF, to_tensors
from tests.controllers.test_result_recording import WEIGHTS, _client_task, _controller
from tests.filters.test_metric_stream_filter import fake_context


def _streamed_task(site: str, ref: dict):
    task = _client_task(site, {})
    task.result = DXO(DataKind.WEIGHTS, data={}, meta={META_NUM_SAMPLES: 10, META_UPDATE_REF: ref}).to_shareable()
    return task


@pytest.fixture
def failing(tmp_path):
    def make(stream: bool = True):
        controller = _controller(tmp_path)
        controller._stream = stream
        controller._fail = lambda failure, fl_ctx: setattr(controller, "_failure", failure)
        controller._add_streamed = lambda *args: pytest.fail("the update must not be pulled")
        return controller

    return make


@pytest.mark.parametrize(
    "stream, fqcn, tensors, message",
    [
        (True, "site_b.job1", [["linear.weight", "float32", [1, 3]]], "names another sender"),
        (False, "site_a.job1", [["linear.weight", "float32", [1, 3]]], "sends models in messages"),
        (True, "site_a.job1", [["linear.weight", "float32", [3, 1]]], "the server's model has"),
        (True, "site_a.job1", [["rows.smiles", "uint8", [4096]]], "does not have"),
        (True, "site_a.job1", "everything", "no tensor list"),
    ],
)
def test_a_streamed_update_that_is_not_the_sites_own_model_is_refused(failing, tmp_path, stream, fqcn, tensors, message):
    controller = failing(stream)
    ref = {"fqcn": fqcn, "ref": "R1", "tensors": tensors}

    controller._accept_result(_streamed_task("site_a", ref), fake_context("site_a", tmp_path, ""))

    assert controller._failure is not None and message in controller._failure.message
    assert controller._failure.site == "site_a"
    assert controller._accumulator.sources == []


def test_auto_streams_large_models_only():
    controller = FddFedAvg(model_transfer="auto")
    small = to_tensors(WEIGHTS)
    large = to_tensors({"w": np.zeros(STREAM_MIN_BYTES // 4, np.float32)})
    assert not controller._streams(small) and controller._streams(large) == streaming.available()
    assert FddFedAvg(model_transfer="stream")._streams(small) and not FddFedAvg(model_transfer="message")._streams(large)
    with pytest.raises(ValueError, match="model_transfer must be one of"):
        FddFedAvg(model_transfer="zip")
