"""The server-side metric filter: what a (possibly modified) site sends vs what any server component gets."""

from __future__ import annotations

from types import SimpleNamespace

from nvflare.apis.dxo import DXO, DataKind, from_shareable
from nvflare.apis.fl_constant import ReservedKey
from nvflare.apis.fl_context import FLContext

from nvflare_fdd.filters.metric_stream import MetricStreamFilter
from nvflare_fdd.transport import (
    META_DROPPED_METRICS,
    META_GLOBAL_METRICS,
    META_LOCAL_METRICS,
    META_NUM_SAMPLES,
    META_PHASES,
    META_ROUND,
)


def fake_context(site: str, folder, train_eval: str = "") -> FLContext:
    """A real FLContext with what the server's components ask of NVFlare: the sending site and the server's copy of
    the bundle (its ``train_eval.py`` gives the job's metric names). The engine has no components: the filter needs
    none, and records nothing."""
    custom = folder / "custom"
    custom.mkdir(exist_ok=True)
    (custom / "train_eval.py").write_text(train_eval)
    peer = FLContext()
    peer.set_prop(ReservedKey.IDENTITY_NAME, site)
    context = FLContext()
    context.set_prop(ReservedKey.IDENTITY_NAME, "server")
    context.set_prop(ReservedKey.PEER_CTX, peer)
    context.set_prop(ReservedKey.RUN_NUM, "job-1")
    workspace = SimpleNamespace(get_app_custom_dir=lambda job_id: str(custom))
    engine = SimpleNamespace(get_component=lambda _id: None, fire_event=lambda *args: None,
                             get_workspace=lambda: workspace)  # fmt: skip
    context.set_prop(ReservedKey.ENGINE, engine)
    return context


def test_hostile_metrics_are_dropped_before_any_server_component(tmp_path):
    meta = {
        META_ROUND: 2,
        META_NUM_SAMPLES: 40,
        META_GLOBAL_METRICS: {
            "rmse": 0.7,
            "rows": ["CCO", "c1ccccc1"],
            "nested": {"a": {"b": 1}},
            "nan": float("nan"),
            "long" * 40: 1.0,
            **{f"k{i}": float(i) for i in range(100)},
        },
        META_LOCAL_METRICS: "rmse=0.5",
        META_PHASES: [{"code": 5000, "name": "global eval", "start": 1.0, "end": 2.0}, "junk", {"code": "x"}],
    }
    shareable = DXO(DataKind.WEIGHTS, data={"w": [0.0]}, meta=meta).to_shareable()

    train_eval = "def evaluate(m, d, c):\n    return {" + ", ".join(f"'k{i}': {i}" for i in range(100)) + "}\n"
    filtered = MetricStreamFilter(max_metrics=8).process(shareable, fake_context("site_a", tmp_path, train_eval))

    dxo = from_shareable(filtered)
    assert list(dxo.meta[META_GLOBAL_METRICS]) == ["rmse", "k0", "k1", "k2", "k3", "k4", "k5", "k6"]
    assert dxo.meta[META_LOCAL_METRICS] == {}
    assert dxo.meta[META_PHASES] == [{"code": 5000, "name": "global eval", "start": 1.0, "end": 2.0}]
    assert dxo.meta[META_NUM_SAMPLES] == 40
    assert not (tmp_path / "metrics.csv").exists() and not (tmp_path / "progress.json").exists()  # it records nothing


def test_only_the_jobs_metric_names_pass_even_from_a_modified_site(tmp_path):
    meta = {META_ROUND: 1, META_NUM_SAMPLES: 5,
            META_GLOBAL_METRICS: {"rmse": 0.7, "auprc_macro": 0.5, "ef1": 0.25, "CCO_c1ccccc1": 1.0, "eval_loss": 0.1},
            META_LOCAL_METRICS: {"43434f": 1.0},
            META_DROPPED_METRICS: {"global": {"not one of the job's metric names": 3, "x" * 200: "many"}, "evil": {"a": 1}}}
    shareable = DXO(DataKind.WEIGHTS, data={"w": [0.0]}, meta=meta).to_shareable()
    train_eval = "def evaluate(m, d, c):\n    return {'auprc_macro': 1.0}\n"

    filtered = MetricStreamFilter(metric_names=["ef1"]).process(shareable, fake_context("site_a", tmp_path, train_eval))

    dxo = from_shareable(filtered)
    assert dxo.meta[META_GLOBAL_METRICS] == {"rmse": 0.7, "auprc_macro": 0.5, "ef1": 0.25, "eval_loss": 0.1}
    assert dxo.meta[META_LOCAL_METRICS] == {}
    assert dxo.meta[META_DROPPED_METRICS] == {"global": {"not one of the job's metric names": 3}}


def test_a_result_without_weights_is_screened_too(tmp_path):
    meta = {META_ROUND: 1, META_NUM_SAMPLES: 5, META_GLOBAL_METRICS: {"rmse": 0.5, "CCO": 1.0}}
    shareable = DXO(DataKind.WEIGHTS, data={}, meta=meta).to_shareable()  # a partial state_dict() with nothing in it

    filtered = MetricStreamFilter().process(shareable, fake_context("site_a", tmp_path))

    assert from_shareable(filtered).meta[META_GLOBAL_METRICS] == {"rmse": 0.5}
