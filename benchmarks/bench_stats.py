"""A site's statistics over a large KDA: one read of the KDA and the summary, as the site computes it.

    python benchmarks/bench_stats.py [--rows 1000000] [--repeat 3] [--db PATH] [--json out.json]

The KDA is built once (synthetic rows of ``nvflare_fdd.stats.synthetic.benchmark_cells``: 20
tests, 960 level cells, a tenth censored) and cached at ``--db`` (default in the system's temp
folder, named by the row count); later runs reuse it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from nvflare_fdd.stats.compute import summarize
from nvflare_fdd.stats.reader import read_kda_columns
from nvflare_fdd.stats.synthetic import benchmark_cells, write_kda


def cached_kda(path: Path, rows: int) -> tuple[str, int, float]:
    """``(url, rows, seconds spent building)``; builds the KDA at ``path`` unless it is there."""
    url = f"sqlite:///{path.resolve()}"
    if path.is_file():
        return url, rows, 0.0
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    written = write_kda(f"sqlite:///{partial.resolve()}", benchmark_cells(rows), institution="benchmark")
    os.replace(partial, path)
    return url, written, time.perf_counter() - started


def measure(url: str, repeat: int) -> dict:
    reads, summaries, totals, cpu = [], [], [], []
    for _ in range(repeat):
        cpu_started, started = time.process_time(), time.perf_counter()
        columns = read_kda_columns(url)
        read_done = time.perf_counter()
        summary = summarize(columns, "benchmark")
        done = time.perf_counter()
        reads.append(read_done - started)
        summaries.append(done - read_done)
        totals.append(done - started)
        cpu.append(time.process_time() - cpu_started)
    return {
        "rows": columns.rows,
        "tests": len(summary["tests"]),
        "summary_json_bytes": len(json.dumps(summary, ensure_ascii=False).encode()),
        "read_s": statistics.median(reads),
        "summarize_s": statistics.median(summaries),
        "total_s": statistics.median(totals),
        "total_runs_s": totals,
        "cpu_s": statistics.median(cpu),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, help="cached KDA file [default: <tmp>/fdd-bench-stats-<rows>.db]")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    path = args.db or Path(tempfile.gettempdir()) / f"fdd-bench-stats-{args.rows}.db"
    url, _, built_s = cached_kda(path, args.rows)
    if built_s:
        print(f"built {path} in {built_s:.1f} s")
    result = measure(url, args.repeat)
    result["kda"] = str(path)
    print(f"{'rows':>10}{'read':>10}{'summarize':>12}{'total':>10}{'rows/s':>14}")
    print(
        f"{result['rows']:>10}{result['read_s']:>9.2f}s{result['summarize_s']:>11.2f}s"
        f"{result['total_s']:>9.2f}s{result['rows'] / result['total_s']:>14,.0f}"
    )
    print(
        f"runs: {', '.join(f'{t:.2f} s' for t in result['total_runs_s'])}; CPU {result['cpu_s']:.2f} s per run; "
        f"{result['cpu_count']} CPUs, load {result['load_average']:.1f}; summary {result['summary_json_bytes']:,} bytes"
    )
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
