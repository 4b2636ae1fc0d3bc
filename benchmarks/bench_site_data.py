"""Site data: ``raw_datas`` from a 1,000,000-row KDA beside a bare ``pandas.read_sql`` of the same rows.

    python benchmarks/bench_site_data.py [--quick] [--json out.json]

The KDA is generated once (20 tests, realistic standard-format rows, imported with
``nvflare_fdd.kda.import_file``) and cached under ``benchmarks/.cache``. Each read runs in a
fresh Python process, alternating the two ways:

- ``raw_datas``: ``nvflare_fdd.kda.load_raw_datas(url)`` → ``{test_key: DataFrame}``;
- ``bare read``: ``pandas.read_sql`` of the same SELECT (same columns, same order), one frame.

Figures: wall time (best of N) and peak resident memory above the process's memory after
its imports, over the frames' own size (``memory_usage(deep=True)``). Targets (issue 8):
time ≤ 1.5× the bare read, memory ≤ 2× the frames.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import CACHE_DIR, MB, Figure, Result, run_child, standalone_main, summary

NAME = "site_data"
FULL = {"rows": 1_000_000, "repeats": 2}
QUICK = {"rows": 5_000, "repeats": 1}
WARM_ROWS = 1_000


def read(url: str, method: str) -> dict:
    """Read a KDA with ``load_raw_datas`` (``raw_datas``) or one bare ``pandas.read_sql`` (``bare``)."""
    import pandas as pd
    from sqlalchemy import create_engine, select

    from nvflare_fdd.kda import load_raw_datas
    from nvflare_fdd.kda.schema import DATA_COLUMNS, Measurement

    if method == "raw_datas":
        return load_raw_datas(url)
    table = Measurement.__table__
    statement = select(table.c.test_key, *(table.c[name] for name in DATA_COLUMNS)).order_by(
        table.c.test_key, table.c.id
    )
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {"all": pd.read_sql(statement, connection)}
    finally:
        engine.dispose()


def child_read(url: str, method: str, warm_url: str) -> dict:
    """In a fresh process: read the KDA one way; time, peak memory and the frames' size.

    A read of the small ``warm_url`` KDA first loads the modules the read imports lazily
    (SQLite dialect, pyarrow), so the figures hold the read, not one-off imports.
    """
    import time

    from benchmarks._common import peak_rss_bytes, reset_peak_rss, rss_bytes

    read(warm_url, method)
    reset_peak_rss()
    start_rss = rss_bytes()
    started = time.perf_counter()
    frames = read(url, method)
    seconds = time.perf_counter() - started
    peak = peak_rss_bytes()
    return {
        "method": method,
        "seconds": seconds,
        "peak_above_imports_bytes": peak - start_rss,
        "frames_bytes": int(sum(frame.memory_usage(deep=True).sum() for frame in frames.values())),
        "rows": int(sum(len(frame) for frame in frames.values())),
        "frames": len(frames),
        "columns": sorted({len(frame.columns) for frame in frames.values()}),
    }


def run(quick: bool = False, cache_dir: str | None = None, **overrides) -> Result:
    from benchmarks._kda_data import large_kda

    config = dict(QUICK if quick else FULL, **overrides)
    cache = Path(cache_dir) if cache_dir else CACHE_DIR
    url = large_kda(config["rows"], cache)
    warm_url = large_kda(WARM_ROWS, cache)
    samples: dict[str, list[dict]] = {"bare": [], "raw_datas": []}
    for _ in range(config["repeats"]):
        for method in samples:
            samples[method].append(run_child("bench_site_data", "child_read", {"url": url, "method": method, "warm_url": warm_url}))
    seconds = {method: summary([s["seconds"] for s in rows]) for method, rows in samples.items()}
    ours, bare = samples["raw_datas"], samples["bare"]
    ours_peak = max(s["peak_above_imports_bytes"] for s in ours)
    bare_peak = max(s["peak_above_imports_bytes"] for s in bare)
    frames_bytes = ours[0]["frames_bytes"]
    time_ratio = seconds["raw_datas"]["min"] / seconds["bare"]["min"]
    rows_match = ours[0]["rows"] == bare[0]["rows"] == config["rows"]
    figures = [
        Figure(NAME, f"raw_datas of {config['rows']:,} rows: time", seconds["raw_datas"]["min"], "s",
               "bare read_sql", seconds["bare"]["min"], ratio=time_ratio, target="≤ 1.5", met=time_ratio <= 1.5),
        Figure(NAME, "raw_datas: peak memory vs its frames", ours_peak / MB, "MB", "frames (deep)",
               frames_bytes / MB, target="≤ 2", met=ours_peak / frames_bytes <= 2.0),
        Figure(NAME, "bare read_sql: peak memory vs its frame", bare_peak / MB, "MB", "frame (deep)",
               bare[0]["frames_bytes"] / MB, note="reference"),
    ]
    details = {"config": config, "url": url, "seconds": seconds, "samples": samples, "rows_match": rows_match}
    return Result(NAME, figures, details)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
