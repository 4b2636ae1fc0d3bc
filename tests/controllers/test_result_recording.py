"""The controller records what it accepts of each site's result: screened, under the server's round, once.

No metric filter is configured here: the controller's own screening is what keeps a modified site's metrics out of
the record.
"""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
from nvflare.apis.dxo import DXO, DataKind
from nvflare.apis.fl_constant import ReturnCode

from nvflare_fdd.aggregation import WeightedAccumulator
from nvflare_fdd.controllers.fedavg import FddFedAvg
from nvflare_fdd.persistors.builder import spec_of
from nvflare_fdd.results import RunRecorder
from nvflare_fdd.transport import (
    META_GLOBAL_METRICS,
    META_LOCAL_METRICS,
    META_NUM_SAMPLES,
    META_PHASES,
    META_ROUND,
    weights_shareable,
)
from tests.filters.test_metric_stream_filter import fake_context

WEIGHTS = {"linear.weight": np.ones((1, 3), np.float32)}


def _controller(tmp_path, **args) -> FddFedAvg:
    """A controller in the middle of round 2 of 3 (what ``control_flow`` sets up), recording into ``tmp_path``."""
    controller = FddFedAvg(num_rounds=3, **args)
    controller._persistor = SimpleNamespace(spec=spec_of(WEIGHTS))
    controller._recorder = RunRecorder(tmp_path)
    controller._accumulator = WeightedAccumulator()
    controller._live = controller._round_targets = {"site_a", "site_b"}
    return controller


def _client_task(site: str, meta: dict, return_code: str = ReturnCode.OK, round_index: int = 1):
    result = DXO(DataKind.WEIGHTS, data=dict(WEIGHTS), meta=meta).to_shareable()
    result.set_return_code(return_code)
    task = SimpleNamespace(data=weights_shareable(WEIGHTS, round_index, 3))
    return SimpleNamespace(client=SimpleNamespace(name=site), result=result, task=task)


def _rows(tmp_path) -> list[tuple[str, str, str, str, str]]:
    with open(tmp_path / "metrics.csv", newline="") as handle:
        return [(r["round"], r["site"], r["kind"], r["metric"], r["value"]) for r in csv.DictReader(handle)]


def test_a_modified_sites_metrics_are_screened_and_recorded_under_the_servers_round(tmp_path):
    controller = _controller(tmp_path, metric_names=["ef1"])
    meta = {
        META_ROUND: 7,  # the site claims another round: the task it answered says round 2
        META_NUM_SAMPLES: 40,
        META_GLOBAL_METRICS: {"rmse": 0.7, "ef1": 0.25, "CCO_c1ccccc1": 1.0, "rows": ["CCO"], "nan": float("nan")},
        META_LOCAL_METRICS: {"rmse": 0.5, "43434f": 1.0},
        META_PHASES: [{"code": 5000, "name": "exfiltrate", "start": 1.0, "end": 2.0}, {"code": 1, "start": 0, "end": 1}],
    }
    context = fake_context("site_a", tmp_path, "def evaluate(m, d, c):\n    return {'rmse': 1.0}\n")

    controller._accept_result(_client_task("site_a", meta), context)

    assert _rows(tmp_path) == [("2", "site_a", "global", "rmse", "0.7"), ("2", "site_a", "global", "ef1", "0.25"),
                               ("2", "site_a", "local", "rmse", "0.5")]  # fmt: skip
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert list(progress["rounds"]) == ["2"]
    site = progress["rounds"]["2"]["sites"]["site_a"]
    assert site["num_samples"] == 40
    assert site["phases"] == [{"code": 5000, "name": "global eval", "start": 1.0, "end": 2.0}]  # the platform's name
    assert controller._accumulator.sources == ["site_a"]


def test_a_failed_or_late_result_records_no_metrics(tmp_path):
    controller = _controller(tmp_path)
    controller._fail = lambda failure, fl_ctx: setattr(controller, "_failure", failure)  # no NVFlare engine to panic
    meta = {META_NUM_SAMPLES: 5, META_GLOBAL_METRICS: {"rmse": 0.1}}
    context = fake_context("site_a", tmp_path)

    controller._accept_result(_client_task("site_a", meta, return_code=ReturnCode.EXECUTION_EXCEPTION), context)
    assert controller._failure.site == "site_a" and controller._failure.round == 2
    controller._failure = None
    controller._accumulator = None  # the run was stopped while this result was on its way
    controller._accept_result(_client_task("site_b", meta), context)

    assert _rows(tmp_path) == []


def test_the_best_model_is_judged_on_screened_metrics_only(tmp_path):
    controller = _controller(tmp_path, best_metric="rmse")
    context = fake_context("site_a", tmp_path)
    controller._best.begin_round()
    hostile = {META_NUM_SAMPLES: 10**6, META_GLOBAL_METRICS: {"rmse": float("-inf")}}
    controller._accept_result(_client_task("site_a", hostile), context)
    assert controller._best.round_is_best() is False  # no finite score: not a best round

    controller._accumulator = WeightedAccumulator()
    controller._best.begin_round()
    controller._accept_result(_client_task("site_b", {META_NUM_SAMPLES: 4, META_GLOBAL_METRICS: {"rmse": 0.3}}), context)
    assert controller._best.round_is_best() is True and controller._best.best == 0.3


def test_a_new_best_model_is_announced_with_nvflares_event(tmp_path):
    from nvflare.app_common.app_constant import AppConstants
    from nvflare.app_common.app_event_type import AppEventType

    controller = _controller(tmp_path, best_metric="rmse")
    fired = []
    controller.fire_event = lambda event, fl_ctx: fired.append((event, fl_ctx.get_prop(AppConstants.VALIDATION_RESULT)))
    context = fake_context("site_a", tmp_path)
    for round_num, rmse in ((1, 0.5), (2, 0.7), (3, 0.4)):
        controller._best.begin_round()
        controller._accumulator = WeightedAccumulator()
        controller._accept_result(_client_task("site_a", {META_NUM_SAMPLES: 4, META_GLOBAL_METRICS: {"rmse": rmse}},
                                               round_index=round_num - 1), context)  # fmt: skip
        controller._is_best(round_num, context)

    assert fired == [(AppEventType.GLOBAL_BEST_MODEL_AVAILABLE, 0.5), (AppEventType.GLOBAL_BEST_MODEL_AVAILABLE, 0.4)]
