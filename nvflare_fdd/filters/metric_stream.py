"""``MetricStreamFilter``: takes Global/Local metrics and phase times off each site's result.

Configured as a server task-result filter on the train task. Only finite real
scalars under bounded names pass (``screen_metrics``); everything else is
dropped from the result and logged, so the controller and storage never see it.
Accepted values and the phase time stamps go to the run's recorder.
"""

from __future__ import annotations

import math
from typing import Any

from nvflare.apis.dxo import DXO
from nvflare.apis.dxo_filter import DXOFilter
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable

from nvflare_fdd.filters.screening import MAX_METRICS, MAX_NAME_LENGTH, screen_metrics
from nvflare_fdd.transport import (
    META_GLOBAL_METRICS,
    META_LOCAL_METRICS,
    META_NUM_SAMPLES,
    META_PHASES,
    META_ROUND,
    META_SETUP_PHASES,
)
from nvflare_fdd.widgets.recorder import RECORDER_ID

_MAX_PHASES = 32


class MetricStreamFilter(DXOFilter):
    """Screens the metrics in a site's result and streams them to the recorder.

    Args:
        recorder_id: component id of the ``FddRecorder``.
        max_metrics: metrics kept per evaluation.
        max_name_length: longest metric name kept.
    """

    def __init__(self, recorder_id: str = RECORDER_ID, max_metrics: int = MAX_METRICS, max_name_length: int = MAX_NAME_LENGTH):
        super().__init__(supported_data_kinds=None, data_kinds_to_filter=None)
        self.recorder_id = recorder_id
        self.max_metrics = max_metrics
        self.max_name_length = max_name_length

    def process_dxo(self, dxo: DXO, shareable: Shareable, fl_ctx: FLContext) -> DXO | None:
        site = fl_ctx.get_peer_context().get_identity_name()
        round_num = dxo.meta.get(META_ROUND)
        if not isinstance(round_num, int) or isinstance(round_num, bool):
            self.log_warning(fl_ctx, f"{site}: result without a round number; its metrics are dropped")
            round_num = None
        recorder = self._recorder(fl_ctx)
        for key, kind in ((META_GLOBAL_METRICS, "global"), (META_LOCAL_METRICS, "local")):
            screened = screen_metrics(dxo.meta.get(key, {}), self.max_metrics, self.max_name_length)
            for name, reason in screened.rejected.items():
                self.log_warning(fl_ctx, f"{site} round {round_num} {kind} metric {name!r} dropped: {reason}")
            dxo.meta[key] = screened.accepted
            if recorder is not None and round_num is not None and screened.accepted:
                recorder.metrics(round_num, site, kind, screened.accepted)
        phases = _clean_phases(dxo.meta.get(META_PHASES))
        setup = _clean_phases(dxo.meta.get(META_SETUP_PHASES))
        dxo.meta[META_PHASES] = phases
        dxo.meta[META_SETUP_PHASES] = setup
        if recorder is not None and round_num is not None:
            recorder.site_round(round_num, site, phases, _count(dxo.meta.get(META_NUM_SAMPLES)), setup)
        return dxo

    def _recorder(self, fl_ctx: FLContext):
        component = fl_ctx.get_engine().get_component(self.recorder_id)
        return getattr(component, "recorder", None)


def _clean_phases(phases: Any) -> list[dict]:
    """Keep only well-formed ``{code, name, start, end}`` entries with finite times."""
    if not isinstance(phases, list):
        return []
    clean = []
    for phase in phases[:_MAX_PHASES]:
        if not isinstance(phase, dict):
            continue
        code, start, end = phase.get("code"), phase.get("start"), phase.get("end")
        if not isinstance(code, int) or not all(isinstance(t, (int, float)) and math.isfinite(t) for t in (start, end)):
            continue
        name = phase.get("name")
        clean.append({"code": code, "name": name[:32] if isinstance(name, str) else str(code), "start": start, "end": end})
    return clean


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
