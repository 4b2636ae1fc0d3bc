"""Job environment creation: first build vs cached, as a site sees it at the start of a job.

    python benchmarks/bench_environments.py [--requirements "tabulate==0.9.0"] [--repeat 3] [--json out.json]

Each repetition uses a fresh cache folder; uv's own download cache stays warm after
the first repetition, as it does on a site that has run jobs before.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import Figure, Result
from nvflare_fdd.envs.local import LocalBackend

NAME = "environments"
DEFAULT_REQUIREMENTS = "tabulate==0.9.0\ntorch\n"


def measure(requirements: str, repeat: int) -> dict:
    first, cached = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            backend = LocalBackend(cache_dir=cache)
            started = time.perf_counter()
            backend.prepare(requirements)
            first.append(time.perf_counter() - started)
            started = time.perf_counter()
            backend.prepare(requirements)
            cached.append(time.perf_counter() - started)
    return {
        "requirements": requirements,
        "first_build_s": statistics.median(first),
        "cached_s": statistics.median(cached),
        "first_build_runs_s": first,
        "cached_runs_s": cached,
    }


def run(quick: bool = False) -> Result:
    """The suite's entry point: a job environment built for the first time vs found in the cache."""
    result = measure(DEFAULT_REQUIREMENTS, 1 if quick else 3)
    label = " + ".join(line for line in result["requirements"].splitlines() if line)
    figure = Figure(NAME, f"cached environment ({label})", result["cached_s"], "s", "first build",
                    result["first_build_s"], note="start of a job on a site that ran it before")
    return Result(NAME, [figure], result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", default=DEFAULT_REQUIREMENTS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    result = measure(args.requirements.replace("\\n", "\n"), args.repeat)
    print(f"{'requirements':<28}{'first build':>14}{'cached':>12}{'ratio':>10}")
    label = " + ".join(line for line in result["requirements"].splitlines() if line)
    ratio = result["first_build_s"] / max(result["cached_s"], 1e-9)
    print(f"{label:<28}{result['first_build_s']:>12.3f} s{result['cached_s'] * 1000:>9.2f} ms{ratio:>9.0f}x")
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
