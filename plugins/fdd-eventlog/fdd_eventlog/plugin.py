"""The plugin module named by the ``nvflare_fdd`` entry point: every platform event becomes a line of the event log.

The hooks run in whichever process fires the event (the platform service, the NVFlare
server's recorder). A log that cannot be written raises ``EventLogError``; the plugin
manager logs it and the platform carries on.
"""

from __future__ import annotations

from fdd_eventlog.log import append_event, event_record
from nvflare_fdd import hookimpl


@hookimpl
def fdd_job_state_changed(job: str, old_state: str | None, new_state: str, reason: str) -> None:
    append_event(event_record("job_state_changed", job, old_state=old_state, new_state=new_state, reason=reason))


@hookimpl
def fdd_round_progress(job: str, round: int, site: str, phases: list[dict]) -> None:
    append_event(event_record("round_progress", job, round=round, site=site, phases=phases))


@hookimpl
def fdd_metrics_recorded(job: str, round: int, site: str, kind: str, metrics: dict[str, float]) -> None:
    append_event(event_record("metrics_recorded", job, round=round, site=site, kind=kind, metrics=metrics))
