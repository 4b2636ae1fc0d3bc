"""``MetricStreamFilter``: takes Global/Local metrics and phase times off each site's result.

Configured as a server task-result filter on the train task. Only finite real
scalars under the job's known names pass (``nvflare_fdd.metric_names``: the
vocabulary, ``evaluate()``'s literal keys, the model's declared names); everything
else is dropped from the result and logged, so the controller and storage never
see it. Accepted values, the phase time stamps and the site's count of metrics it
kept back go to the run's recorder.
"""

from __future__ import annotations

import math
from typing import Any

from nvflare.apis.dxo import DXO, from_shareable
from nvflare.apis.dxo_filter import DXOFilter
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable

from nvflare_fdd.client.phases import Phase
from nvflare_fdd.metric_names import allowed_metric_names
from nvflare_fdd.metric_policy import MAX_METRICS, MAX_NAME_LENGTH, screen_metrics
from nvflare_fdd.results import RunSink
from nvflare_fdd.transport import (
    META_BASELINE_METRICS,
    META_DROPPED_METRICS,
    META_GLOBAL_METRICS,
    META_LOCAL_METRICS,
    META_NUM_SAMPLES,
    META_PERSONALIZED,
    META_PHASES,
    META_ROUND,
    META_SETUP_PHASES,
)
from nvflare_fdd.widgets.recorder import RECORDER_ID

_MAX_PHASES = 32
_PHASE_NAMES = {phase.value: phase.label for phase in Phase}


class MetricStreamFilter(DXOFilter):
    """Screens the metrics in a site's result and streams them to the recorder.

    Args:
        recorder_id: component id of the ``FddRecorder``.
        max_metrics: metrics kept per evaluation.
        max_name_length: longest metric name kept.
        metric_names: names declared with the model, besides the vocabulary and ``evaluate()``'s keys.
    """

    def __init__(self, recorder_id: str = RECORDER_ID, max_metrics: int = MAX_METRICS, max_name_length: int = MAX_NAME_LENGTH,
                 metric_names: list[str] | None = None):  # fmt: skip
        super().__init__(supported_data_kinds=None, data_kinds_to_filter=None)
        self.recorder_id = recorder_id
        self.max_metrics = max_metrics
        self.max_name_length = max_name_length
        self.metric_names = list(metric_names or [])
        self._allowed: frozenset[str] | None = None

    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        """Screen every result, also one without weights: ``DXOFilter`` skips a DXO with empty data, whose metrics
        would then go unscreened and unrecorded (a site whose partial ``state_dict()`` is empty)."""
        if shareable.get_return_code() != ReturnCode.OK:
            return shareable
        try:
            dxo = from_shareable(shareable)
        except Exception:  # not a DXO: not a result of our executor
            return shareable
        return (self.process_dxo(dxo, shareable, fl_ctx) or dxo).update_shareable(shareable)

    def allowed(self, fl_ctx: FLContext) -> frozenset[str]:
        """The job's metric names, read once from the server's copy of the bundle."""
        if self._allowed is None:
            custom_dir = fl_ctx.get_engine().get_workspace().get_app_custom_dir(fl_ctx.get_job_id())
            self._allowed = allowed_metric_names(custom_dir, self.metric_names)
        return self._allowed

    def process_dxo(self, dxo: DXO, shareable: Shareable, fl_ctx: FLContext) -> DXO | None:
        site = fl_ctx.get_peer_context().get_identity_name()
        round_num = dxo.meta.get(META_ROUND)
        if not isinstance(round_num, int) or isinstance(round_num, bool):
            self.log_warning(fl_ctx, f"{site}: result without a round number; its metrics are dropped")
            round_num = None
        recorder = self._recorder(fl_ctx)
        allowed = self.allowed(fl_ctx)
        for key, kind in ((META_GLOBAL_METRICS, "global"), (META_LOCAL_METRICS, "local"), (META_BASELINE_METRICS, "baseline")):
            if key not in dxo.meta:
                continue
            metrics = dxo.meta.get(key, {})
            if isinstance(metrics, dict):
                unknown = [name for name in metrics if name not in allowed]
                if unknown:
                    self.log_warning(fl_ctx, f"{site} round {round_num}: {len(unknown)} {kind} metric(s) not among the "
                                             "job's names dropped")  # fmt: skip
                metrics = {name: value for name, value in metrics.items() if name in allowed}
            screened = screen_metrics(metrics, self.max_metrics, self.max_name_length)
            for name, reason in screened.rejected.items():
                self.log_warning(fl_ctx, f"{site} round {round_num} {kind} metric {name!r} dropped: {reason}")
            dxo.meta[key] = screened.accepted
            if recorder is not None and round_num is not None and screened.accepted:
                recorder.metrics(round_num, site, kind, screened.accepted)
        phases = clean_phases(dxo.meta.get(META_PHASES))
        setup = clean_phases(dxo.meta.get(META_SETUP_PHASES))
        dropped = _clean_dropped(dxo.meta.get(META_DROPPED_METRICS))
        personalized = dxo.meta.get(META_PERSONALIZED) is True
        dxo.meta[META_PHASES] = phases
        dxo.meta[META_SETUP_PHASES] = setup
        dxo.meta[META_DROPPED_METRICS] = dropped
        if recorder is not None and round_num is not None:
            recorder.site_round(round_num, site, phases, _count(dxo.meta.get(META_NUM_SAMPLES)), setup, dropped or None,
                                personalized)  # fmt: skip
        return dxo

    def _recorder(self, fl_ctx: FLContext) -> RunSink | None:
        component = fl_ctx.get_engine().get_component(self.recorder_id)
        return getattr(component, "recorder", None)


def clean_phases(phases: Any) -> list[dict]:
    """Keep only ``{code, name, start, end}`` entries of the platform's phases, named by the platform, with finite
    times (and the environment phase's ``sandboxed`` flag)."""
    if not isinstance(phases, list):
        return []
    clean = []
    for phase in phases[:_MAX_PHASES]:
        if not isinstance(phase, dict):
            continue
        code, start, end = phase.get("code"), phase.get("start"), phase.get("end")
        if code not in _PHASE_NAMES or not all(isinstance(t, (int, float)) and math.isfinite(t) for t in (start, end)):
            continue
        entry = {"code": code, "name": _PHASE_NAMES[code], "start": start, "end": end}
        if code == Phase.ENVIRONMENT and isinstance(phase.get("sandboxed"), bool):
            entry["sandboxed"] = phase["sandboxed"]
        clean.append(entry)
    return clean


def _clean_dropped(dropped: Any) -> dict[str, dict[str, int]]:
    """The site's count of metrics it kept back: ``{kind: {reason: count}}``, short reasons, whole counts."""
    if not isinstance(dropped, dict):
        return {}
    clean: dict[str, dict[str, int]] = {}
    for kind in ("global", "local", "baseline"):
        reasons = dropped.get(kind)
        if isinstance(reasons, dict):
            kept = {str(reason)[:64]: count for reason, count in list(reasons.items())[:8]
                    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= 1_000_000}  # fmt: skip
            if kept:
                clean[kind] = kept
    return clean


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
