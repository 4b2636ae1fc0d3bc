"""What the server keeps of a site's train result: ``screen_result``.

A site's result carries, besides the model update, its Global/Local (and baseline)
metrics, its phase records and a few counts. Only metrics under the job's known names
(``nvflare_fdd.metric_names``) that pass the metric policy (``nvflare_fdd.metric_policy``),
phase records in the platform's own shape and whole counts are kept; the server's
metric filter and the controller, which records what passes, both go through here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nvflare_fdd.client.phases import Phase
from nvflare_fdd.metric_policy import MAX_METRICS, MAX_NAME_LENGTH, screen_metrics
from nvflare_fdd.transport import (
    META_BASELINE_METRICS,
    META_DROPPED_METRICS,
    META_GLOBAL_METRICS,
    META_LOCAL_METRICS,
    META_NUM_SAMPLES,
    META_PERSONALIZED,
    META_PHASES,
    META_SETUP_PHASES,
)

_MAX_PHASES = 32
_PHASE_NAMES = {phase.value: phase.label for phase in Phase}
METRIC_KINDS = {META_GLOBAL_METRICS: "global", META_LOCAL_METRICS: "local", META_BASELINE_METRICS: "baseline"}


@dataclass
class ScreenedResult:
    """What may be kept of one site's train result, and what was dropped (for the server's log).

    Attributes:
        metrics: kind (``global``, ``local``, ``baseline``) → accepted metrics, for each kind the result has.
        dropped: one line per dropped metric or group of metrics, saying why.
        phases, setup_phases: the platform's phase records (``clean_phases``).
        dropped_counts: the site's own count of metrics it kept back (``{kind: {reason: count}}``).
        num_samples: the sample count the site reported, if it is a whole number.
        personalized: whether the site kept a personalised model.
    """

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    phases: list[dict] = field(default_factory=list)
    setup_phases: list[dict] = field(default_factory=list)
    dropped_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    num_samples: int | None = None
    personalized: bool = False

    def write_to(self, meta: dict) -> None:
        """Replace what the result's ``meta`` says with what may be kept of it."""
        for key, kind in METRIC_KINDS.items():
            if kind in self.metrics:
                meta[key] = self.metrics[kind]
        meta[META_PHASES] = self.phases
        meta[META_SETUP_PHASES] = self.setup_phases
        meta[META_DROPPED_METRICS] = self.dropped_counts


def screen_result(meta: Mapping[str, Any], allowed: frozenset[str], max_metrics: int = MAX_METRICS,
                  max_name_length: int = MAX_NAME_LENGTH) -> ScreenedResult:  # fmt: skip
    """Screen a site's train result: its metrics under ``allowed`` names only (``metric_names.allowed_metric_names``),
    as finite scalars (``screen_metrics``); its phases and counts in the platform's shapes. Screening a screened
    result again changes nothing."""
    result = ScreenedResult()
    for key, kind in METRIC_KINDS.items():
        if key not in meta:
            continue
        metrics = meta.get(key, {})
        if isinstance(metrics, Mapping):
            unknown = [name for name in metrics if name not in allowed]
            if unknown:
                result.dropped.append(f"{len(unknown)} {kind} metric(s) not among the job's names")
            metrics = {name: value for name, value in metrics.items() if name in allowed}
        screened = screen_metrics(metrics, max_metrics, max_name_length)
        result.dropped.extend(f"{kind} metric {name!r}: {reason}" for name, reason in screened.rejected.items())
        result.metrics[kind] = screened.accepted
    result.phases = clean_phases(meta.get(META_PHASES))
    result.setup_phases = clean_phases(meta.get(META_SETUP_PHASES))
    result.dropped_counts = _clean_dropped(meta.get(META_DROPPED_METRICS))
    count = meta.get(META_NUM_SAMPLES)
    result.num_samples = count if isinstance(count, int) and not isinstance(count, bool) else None
    result.personalized = meta.get(META_PERSONALIZED) is True
    return result


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
    for kind in METRIC_KINDS.values():
        reasons = dropped.get(kind)
        if isinstance(reasons, dict):
            kept = {str(reason)[:64]: count for reason, count in list(reasons.items())[:8]
                    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= 1_000_000}  # fmt: skip
            if kept:
                clean[kind] = kept
    return clean
