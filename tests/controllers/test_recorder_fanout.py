"""The server's recorder: every sink gets every record, and one failing sink does not stop the others."""

from __future__ import annotations

import csv
import json

from nvflare_fdd.results import METRICS_CSV, RunRecorder
from nvflare_fdd.widgets.recorder import FanOut


class BrokenSink:
    """A sink whose every write fails, as a storage sink does while its database is away."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("database away")

        return fail


def test_a_failing_sink_does_not_stop_the_run_files(tmp_path, caplog):
    files = RunRecorder(tmp_path / "run", job="job1")
    fan_out = FanOut([BrokenSink(), files])  # the broken one first: the files must still be written

    fan_out.job_started(100.0, ["site_a"], 1)
    fan_out.round_started(1, 101.0)
    fan_out.site_round(1, "site_a", [{"code": 5000, "name": "train", "start": 101.0, "end": 102.0}], 12, None, None, True)
    fan_out.metrics(1, "site_a", "global", {"rmse": 0.5})
    fan_out.round_finished(1, 103.0)
    fan_out.finished("completed", 104.0)

    progress = json.loads((tmp_path / "run" / "progress.json").read_text())
    assert progress["state"] == "completed" and progress["finished"] == 104.0
    assert progress["rounds"]["1"]["sites"]["site_a"]["num_samples"] == 12
    assert progress["rounds"]["1"]["sites"]["site_a"]["personalized_model_kept"] is True
    rows = list(csv.reader((tmp_path / "run" / METRICS_CSV).open()))
    assert rows[1:] == [["1", "site_a", "global", "rmse", "0.5"]]
    failed = [r.getMessage() for r in caplog.records if "BrokenSink failed" in r.getMessage()]
    assert len(failed) == 6  # each write logged once, naming the sink and the method
    assert "failed in metrics" in " ".join(failed)
