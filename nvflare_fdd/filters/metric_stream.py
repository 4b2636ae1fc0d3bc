"""``MetricStreamFilter``: screens the Global/Local metrics and phase times on each site's result.

Configured as a server task-result filter on the train task. Only finite real
scalars under the job's known names pass (``nvflare_fdd.result_policy``: the
vocabulary, ``evaluate()``'s literal keys, the model's declared names); everything
else is dropped from the result and logged, so no server component after it sees
it. The filter records nothing: the controller records what it accepts, and screens
it again, so a job configured without this filter keeps both its record and its
screening.
"""

from __future__ import annotations

from nvflare.apis.dxo import DXO, from_shareable
from nvflare.apis.dxo_filter import DXOFilter
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable

from nvflare_fdd.metric_names import job_metric_names
from nvflare_fdd.metric_policy import MAX_METRICS, MAX_NAME_LENGTH
from nvflare_fdd.result_policy import screen_result
from nvflare_fdd.transport import META_ROUND


class MetricStreamFilter(DXOFilter):
    """Screens the metrics and phase records in a site's result.

    Args:
        max_metrics: metrics kept per evaluation.
        max_name_length: longest metric name kept.
        metric_names: names declared with the model, besides the vocabulary and ``evaluate()``'s keys.
    """

    def __init__(self, max_metrics: int = MAX_METRICS, max_name_length: int = MAX_NAME_LENGTH,
                 metric_names: list[str] | None = None):  # fmt: skip
        super().__init__(supported_data_kinds=None, data_kinds_to_filter=None)
        self.max_metrics = max_metrics
        self.max_name_length = max_name_length
        self.metric_names = list(metric_names or [])
        self._allowed: frozenset[str] | None = None

    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        """Screen every result, also one without weights: ``DXOFilter`` skips a DXO with empty data, whose metrics
        would then go unscreened (a site whose partial ``state_dict()`` is empty)."""
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
            self._allowed = job_metric_names(fl_ctx, self.metric_names)
        return self._allowed

    def process_dxo(self, dxo: DXO, shareable: Shareable, fl_ctx: FLContext) -> DXO | None:
        screened = screen_result(dxo.meta, self.allowed(fl_ctx), self.max_metrics, self.max_name_length)
        if screened.dropped:
            site = fl_ctx.get_peer_context().get_identity_name()
            where = f"{site} round {dxo.meta.get(META_ROUND)}"
            for line in screened.dropped:
                self.log_warning(fl_ctx, f"{where}: dropped {line}")
        screened.write_to(dxo.meta)
        return dxo
