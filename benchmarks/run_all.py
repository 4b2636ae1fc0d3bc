"""Run the nvflare-fdd benchmark suite: one table, one JSON file.

    python -m benchmarks [--quick] [--only NAME[,NAME...]] [--json PATH]
    python benchmarks/run_all.py ...

Every figure is a ratio against a baseline measured in the same run (plain NVFlare, NVFlare's
own aggregation helper, the machine's streaming bound, a bare ``pandas.read_sql``, centralized
training). ``--quick`` runs a small smoke configuration of each benchmark (the numbers then say
nothing about the targets). A benchmark that fails is reported and the others still run; the
exit status is 1 if any failed. Targets that are missed do not change the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BENCH_DIR, Figure, Result, dumps, format_table, machine_info

#: name → module, in the order they run (cheap and in-process first, simulator runs last).
BENCHMARKS = {
    "aggregation": "bench_aggregation",
    "memory": "bench_memory",
    "site_data": "bench_site_data",
    "federation": "bench_federation",
    "environments": "bench_environments",
    "rounds": "bench_rounds",
    "large_model": "bench_large_model",
    "scale": "bench_scale",
    "peft": "bench_peft",
    "poc_rounds": "bench_poc_rounds",
}
DEFAULT_JSON = BENCH_DIR / "results.json"


def run_one(name: str, quick: bool) -> dict:
    """Run one benchmark; a failure becomes a result with an ``error`` instead of ending the suite."""
    module = importlib.import_module(f"benchmarks.{BENCHMARKS[name]}")
    started = time.perf_counter()
    try:
        result = module.run(quick=quick).to_dict()
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
        result = Result(name).to_dict()
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    result["seconds"] = time.perf_counter() - started
    return result


def parse_only(value: str | None) -> list[str]:
    if not value:
        return list(BENCHMARKS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke configuration of every benchmark")
    parser.add_argument("--only", help=f"comma-separated benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", dest="json_path", default=str(DEFAULT_JSON), help=f"default {DEFAULT_JSON}")
    args = parser.parse_args(argv)
    names = parse_only(args.only)

    report = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(),
        "benchmarks": {},
    }
    suite_started = time.perf_counter()
    for name in names:
        print(f"[{name}] running ...", file=sys.stderr, flush=True)
        result = run_one(name, args.quick)
        report["benchmarks"][name] = result
        status = f"failed: {result['error']}" if "error" in result else "done"
        print(f"[{name}] {status} in {result['seconds']:.0f} s", file=sys.stderr, flush=True)
    report["seconds"] = time.perf_counter() - suite_started

    figures = [figure for result in report["benchmarks"].values() for figure in result["figures"]]
    errors = {name: result["error"] for name, result in report["benchmarks"].items() if "error" in result}
    figures += [
        Figure(name, f"FAILED: {message.splitlines()[0][:80]}", float("nan"), "", "", float("nan")).to_dict()
        for name, message in errors.items()
    ]
    report["figures"] = figures
    report["targets"] = {
        "met": sum(1 for f in figures if f["met"] is True),
        "missed": sum(1 for f in figures if f["met"] is False),
    }
    print(format_table(figures))
    print(f"\n{report['targets']['met']} targets met, {report['targets']['missed']} missed; "
          f"{report['seconds']:.0f} s{' (quick)' if args.quick else ''}")
    path = Path(args.json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json.loads(dumps(report)), indent=2) + "\n")
    print(f"results: {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
