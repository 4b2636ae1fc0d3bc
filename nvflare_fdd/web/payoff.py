"""What federating gives each site: its last round's federated (Global), personalized (Local) and local-only
(``baseline``) values of a metric, and the gain of the first two over the third (pure functions).

A job with ``local_baseline`` has each site train a local-only copy of the initial model beside the federation;
in the last round each site keeps its personalized model (its Local model) at the site and never sends it.
Gains are relative to the local-only value and signed so that a positive gain is better for the site: "better"
is the platform's rule for picking the best global model (``nvflare_fdd.controllers.best``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nvflare_fdd.controllers.best import higher_is_better
from nvflare_fdd.platform.records import MetricValue, RoundProgress

KINDS = ("global", "local", "baseline")


def payoff_view(metrics: Iterable[MetricValue], rounds: Mapping[int, RoundProgress]) -> dict | None:
    """One table per metric of what each site reached, or ``None`` when the job has neither baseline metrics
    nor sites that kept a personalized model (there is nothing to compare).

    ``rounds`` is the job's progress per round (``JobProgress.rounds``). The key metric, shown first, is the
    first metric reported; storage keeps metrics by name, so that is the first by name.
    """
    values: dict[str, dict[str, dict[int, dict[str, float]]]] = {}  # metric → site → round → kind → value
    for row in metrics:
        if row.kind in KINDS:
            values.setdefault(row.metric, {}).setdefault(row.site, {}).setdefault(row.round, {})[row.kind] = row.value
    kept = personalized_sites(rounds)
    baseline = any("baseline" in kinds for sites in values.values() for per_round in sites.values()
                   for kinds in per_round.values())  # fmt: skip
    if not baseline and not kept:
        return None
    shown = None if baseline else set(kept)  # without a baseline: the sites whose personalized model it is
    tables = [_table(metric, sites, baseline, shown) for metric, sites in sorted(values.items())]
    tables = [table for table in tables if table["rows"]]
    if not tables:
        return None
    return {"key": tables[0]["metric"], "baseline": baseline, "personalized": kept, "tables": tables}


def personalized_sites(rounds: Mapping[int, RoundProgress]) -> list[str]:
    """The sites that kept their personalized model at the site (their last round's progress record says so)."""
    kept: set[str] = set()
    for record in rounds.values():
        kept.update(site for site, info in record.sites.items() if info.personalized_model_kept)
    return sorted(kept)


def gain(value: float | None, local_only: float | None, higher: bool) -> float | None:
    """``value``'s change relative to the local-only value, positive when ``value`` is better; ``None`` when
    either is missing or the local-only value is 0 (no relative change to speak of)."""
    if value is None or local_only is None or local_only == 0:
        return None
    change = (value - local_only) / abs(local_only)
    return change if higher else -change


def _table(metric: str, sites: dict[str, dict[int, dict[str, float]]], baseline: bool, shown: set[str] | None) -> dict:
    higher = higher_is_better(metric)
    rows = []
    for site, per_round in sorted(sites.items()):
        if shown is not None and site not in shown:
            continue
        if baseline and not any("baseline" in kinds for kinds in per_round.values()):
            continue
        last = max(per_round)
        kinds = per_round[last]
        row: dict[str, Any] = {"site": site, "round": last, "global": kinds.get("global"), "local": kinds.get("local")}
        if baseline:
            row |= {"baseline": kinds.get("baseline"), "federated_gain": gain(row["global"], kinds.get("baseline"), higher),
                    "personalized_gain": gain(row["local"], kinds.get("baseline"), higher)}  # fmt: skip
        rows.append(row)
    return {"metric": metric, "higher": higher, "rows": rows}
