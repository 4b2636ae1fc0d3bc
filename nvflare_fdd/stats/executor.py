"""``FddStatsExecutor``: a site answers the ``stats`` task with its statistics summary, and nothing else.

The site's KDA is its own setting (``kda_url_for``), and so is its minimum cell size
(``min_cell_size_for``); the job carries neither. The reply is one ``STATISTICS`` DXO whose
data is the summary of :mod:`nvflare_fdd.stats.contract` (buckets, rounded statistics, names);
a failure replies with an error code and a one-line message, never a row or a count.
"""

from __future__ import annotations

import re
import traceback

from nvflare.apis.dxo import DXO, DataKind
from nvflare.apis.executor import Executor
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal

from nvflare_fdd.errors import FddError
from nvflare_fdd.site_config import kda_url_for
from nvflare_fdd.stats.compute import site_statistics
from nvflare_fdd.stats.settings import min_cell_size_for

STATS_TASK = "stats"
#: Header of a failed reply: ``{"site": ..., "message": ...}``.
HEADER_STATS_ERROR = "fdd_stats_error"
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+):[^@\s]*@")


class FddStatsExecutor(Executor):
    """Computes this site's statistics summary from its KDA.

    Args:
        stats_task_name: the task this executor handles.
    """

    def __init__(self, stats_task_name: str = STATS_TASK):
        super().__init__()
        self.stats_task_name = stats_task_name

    def execute(self, task_name: str, shareable: Shareable, fl_ctx: FLContext, abort_signal: Signal) -> Shareable:
        if task_name != self.stats_task_name:
            return make_reply(ReturnCode.TASK_UNKNOWN)
        site = fl_ctx.get_identity_name()
        site_dir = fl_ctx.get_engine().get_workspace().get_site_config_dir()
        try:
            url = kda_url_for(site, site_dir)
            min_cell_size = min_cell_size_for(site_dir)
            summary = site_statistics(url, institution=site, min_cell_size=min_cell_size)
        except Exception as exc:  # reported to the server as one line; the details stay in the site's log
            self.log_error(fl_ctx, f"statistics failed: {traceback.format_exc()}", fire_event=False)
            message = str(exc) if isinstance(exc, FddError) else f"{type(exc).__name__}: {exc}"
            reply = make_reply(ReturnCode.EXECUTION_EXCEPTION)
            reply.set_header(HEADER_STATS_ERROR, {"site": site, "message": mask_passwords(message)[:500]})
            return reply
        self.log_info(fl_ctx, f"sending statistics of {len(summary['tests'])} test(s), min cell size {min_cell_size}")
        return DXO(data_kind=DataKind.STATISTICS, data=summary).to_shareable()


def mask_passwords(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` URL replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1:***@", text)
