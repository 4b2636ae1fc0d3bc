"""What may leave a site, table by table: failures, updates, sample counts and metrics (DESIGN §8)."""

from __future__ import annotations

import numpy as np
import pytest

from nvflare_fdd.client.boundary import (
    REASONS,
    check_num_samples,
    check_update,
    failure_from_worker,
    round_significant,
    screen_site_metrics,
)
from nvflare_fdd.client.phases import Phase, RoundError
from nvflare_fdd.failures import Failure

DATA_PY = "import pandas as pd\n\n\ndef data_loader(raw_datas, configs):\n    df = raw_datas['x']\n    return df\n"


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "data.py").write_text(DATA_PY)
    (tmp_path / "helpers.py").write_text("class Scaler:\n    def fit(self, x):\n        return x.mean()\n")
    return tmp_path


def reduce(raw, bundle, **options):
    return failure_from_worker(raw, bundle_dir=bundle, site="site_a", round_num=options.pop("round_num", 2),
                               phase=options.pop("phase", Phase.DATA_LOADER), **options)  # fmt: skip


def test_a_failure_keeps_type_and_frames_read_from_the_bundle_itself(bundle):
    raw = {"exc_type": "KeyError", "message": "'x' CANARY-ROW", "trace": "Traceback ... CANARY-ROW",
           "frames": [{"file": "data.py", "line": 5, "function": "CANARY", "source": "CANARY"}]}  # fmt: skip
    error = reduce(raw, bundle)
    sent = error.to_dict()

    assert sent["message"] == "KeyError in data.py line 5, `df = raw_datas['x']`"
    assert sent["frames"] == [{"file": "data.py", "line": 5, "function": "data_loader", "source": "df = raw_datas['x']"}]
    assert (sent["code"], sent["site"], sent["round"], sent["exc_type"]) == (2001, "site_a", 2, "KeyError")
    assert "CANARY" not in str(sent)
    assert "CANARY-ROW" in error.detail  # for the site's log


@pytest.mark.parametrize(
    ("frames", "kept"),
    [
        ([{"file": "/etc/passwd", "line": 1}], []),
        ([{"file": "data.py", "line": 999}], []),
        ([{"file": "data.py", "line": "5"}], []),
        ([{"file": "data.py", "line": True}], []),
        ([{"file": "nope.py", "line": 1}], []),
        ("not a list", []),
        ([{"file": "helpers.py", "line": 3}], [("helpers.py", 3, "fit", "return x.mean()")]),
        ([{"file": "data.py", "line": 1}] * 50, [("data.py", 1, "<module>", "import pandas as pd")] * 20),
    ],
)
def test_only_real_lines_of_the_bundles_files_become_frames(bundle, frames, kept):
    error = reduce({"exc_type": "ValueError", "frames": frames}, bundle)
    assert [(f.file, f.line, f.function, f.source) for f in error.frames] == kept


@pytest.mark.parametrize(
    ("exc_type", "sent"),
    [("KeyError", "KeyError"), ("torch.OutOfMemoryError", "torch.OutOfMemoryError"), ("C" * 200, "Exception"),
     ("a b", "Exception"), ("x.y'z", "Exception"), (123, ""), ("", "")],
)  # fmt: skip
def test_an_exception_type_is_a_short_dotted_name_or_a_plain_exception(bundle, exc_type, sent):
    assert reduce({"exc_type": exc_type}, bundle).exc_type == sent


def test_a_type_leaves_by_name_only_if_it_is_built_in_known_or_defined_by_the_bundle(bundle):
    (bundle / "train_eval.py").write_text("class LossDiverged(RuntimeError):\n    class Inner(Exception):\n        pass\n")
    made_at_run_time = {"exc_type": "torch.E434f", "exc_bases": ["KeyError", "LookupError", "Exception"]}

    assert reduce(made_at_run_time, bundle).exc_type == "KeyError"
    assert reduce({"exc_type": "train_eval.LossDiverged"}, bundle).exc_type == "train_eval.LossDiverged"
    assert reduce({"exc_type": "train_eval.LossDiverged.Inner"}, bundle).exc_type == "train_eval.LossDiverged.Inner"
    assert reduce({"exc_type": "data.LossDiverged", "exc_bases": ["RuntimeError"]}, bundle).exc_type == "RuntimeError"
    assert reduce({"exc_type": "torch.OutOfMemoryError", "exc_bases": ["RuntimeError"]}, bundle).exc_type == \
        "torch.OutOfMemoryError"
    assert reduce({"exc_type": "pkg.Made", "exc_bases": "not a list"}, bundle).exc_type == "Exception"


def test_the_platforms_own_reasons_travel_by_key_and_messages_only_when_the_site_shares_them(bundle):
    raw = {"reason": "num_samples_invalid", "exc_type": "nvflare_fdd.errors.ContractError", "message": "num_samples='CANARY'"}
    strict = reduce(raw, bundle, phase=Phase.SEND)
    shared = reduce(raw, bundle, phase=Phase.SEND, share_messages=True)
    unknown = reduce({"reason": "CANARY", "message": "CANARY"}, bundle)

    assert strict.message.startswith(REASONS["num_samples_invalid"]) and "CANARY" not in strict.message
    assert "num_samples='CANARY'" in shared.message
    assert "CANARY" not in str(unknown.to_dict())


@pytest.mark.parametrize("raw", [None, "text", 42, [], {"frames": {"file": "data.py"}}])
def test_anything_else_the_worker_sends_is_a_failure_without_details(bundle, raw):
    sent = reduce(raw, bundle).to_dict()
    assert sent["code"] == 2001 and sent["message"] == "the user code failed" and sent["frames"] == []


def test_an_update_may_hold_only_the_global_models_tensors_as_they_are():
    reference = {"w": np.zeros((2, 3), np.float32), "b": np.zeros(2, np.float32)}
    check_update({"w": np.ones((2, 3), np.float32)}, reference, "site_a", 1)  # a partial state dict is fine
    with pytest.raises(RoundError, match=r"1 tensor\(s\) the global model does not have") as unknown:
        check_update({"w": np.ones((2, 3), np.float32), "CANARY": np.zeros(3, np.uint8)}, reference, "site_a", 1)
    with pytest.raises(RoundError, match="'w' of the update has another shape or dtype"):
        check_update({"w": np.ones((3, 3), np.float32)}, reference, "site_a", 1)
    with pytest.raises(RoundError, match="'b' of the update has another shape or dtype"):
        check_update({"b": np.ones(2, np.float64)}, reference, "site_a", 1)
    assert "CANARY" not in str(unknown.value.to_dict()) and "CANARY" in unknown.value.detail


@pytest.mark.parametrize(("value", "ok"), [(0, True), (120, True), (121, False), (-1, False), (2.0, False), (True, False),
                                           ("5", False), (None, False)])  # fmt: skip
def test_the_sample_count_is_a_whole_number_up_to_the_rows_served(value, ok):
    if ok:
        assert check_num_samples(value, 120, "site_a", 1) == value
    else:
        with pytest.raises(RoundError) as caught:
            check_num_samples(value, 120, "site_a", 1)
        assert caught.value.code == 8000 and str(value) not in caught.value.message.replace("8000", "")


def test_metrics_keep_known_names_and_rounded_finite_values_and_count_the_rest():
    allowed = {"rmse", "r2", "loss"}
    screened = screen_site_metrics(
        {"rmse": 0.123456789, "r2": float("nan"), "CANARY": 1.0, "loss": "x", 7: 1.0, "CCO": 2.0}, allowed, digits=4
    )
    assert screened.accepted == {"rmse": 0.1235}
    assert screened.dropped == {"not one of the job's metric names": 3, "not finite": 1, "not a real number": 1}
    assert set(screened.dropped_names) == {"CANARY", "7", "CCO", "r2", "loss"}
    assert screen_site_metrics([1, 2], allowed).dropped == {"not a dict": 1}


@pytest.mark.parametrize(("value", "digits", "expected"), [(123456789.0, 6, 123457000.0), (0.000123456789, 3, 0.000123),
                                                           (-2.5, 1, -2.0), (0.0, 6, 0.0), (1.0, 6, 1.0)])  # fmt: skip
def test_round_significant(value, digits, expected):
    assert round_significant(value, digits) == pytest.approx(expected, rel=0, abs=1e-15)


def test_the_server_bounds_every_field_a_site_sends():
    failure = Failure.from_site(
        {"code": 6000, "site": "evil", "round": "x" * 10**6, "message": "m" * 10**6, "trace": "t" * 10**6,
         "exc_type": "e" * 10**4, "frames": [{"file": "data.py", "line": 1, "function": "f" * 999, "source": "s" * 999}] * 99,
         "extra": "x" * 10**6},
        "site_a", 3,
    )  # fmt: skip
    sent = failure.to_dict()
    assert (sent["site"], sent["round"], sent["phase"]) == ("site_a", 3, "train")
    assert len(str(sent)) < 20_000 and "extra" not in sent
    assert Failure.from_site({"code": 12345}, "site_a", None).code is None
