"""What every benchmark shares: result rows, the table, child processes and memory readings.

A benchmark module exposes ``run(quick: bool = False) -> dict`` returning
``{"name": ..., "figures": [Figure.to_dict(), ...], "details": {...}}`` and a
``main()`` that runs it alone. Every figure is a measurement beside a baseline
measured in the same run, with their ratio and, where the issue set one, a target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "benchmarks"
#: Generated inputs (the 1M-row KDA, the demo institutions) are kept here between runs.
CACHE_DIR = Path(os.environ.get("FDD_BENCH_CACHE") or BENCH_DIR / ".cache")
CHILD_MARK = "FDD-BENCH-RESULT "
MB = 1024 * 1024


@dataclass
class Figure:
    """One row of the table: a measurement, its baseline from the same run, and their ratio.

    ``ratio`` is ``value / baseline_value`` unless given; ``met`` is ``None`` where no target applies.
    """

    benchmark: str
    figure: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None:
            self.ratio = self.value / self.baseline_value if self.baseline_value else math.nan

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Result:
    """What ``run()`` returns: the rows of the table and the raw measurements behind them."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "figures": [figure.to_dict() for figure in self.figures], "details": self.details}


# -- the table ----------------------------------------------------------------------------------

def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    text = f"{value:.3g}" if magnitude < 100 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def format_table(figures: Iterable[dict]) -> str:
    """The results as an aligned text table: benchmark, figure, value, baseline, ratio, target, met?"""
    header = ("benchmark", "figure", "value", "baseline", "ratio", "target", "met?")
    rows = [header]
    for f in figures:
        met = {True: "yes", False: "NO", None: "-"}[f.get("met")]
        baseline = f"{f['baseline']}: {_number(f['baseline_value'], f['unit'])}" if f.get("baseline") else "-"
        ratio = "-" if f.get("ratio") is None else f"{f['ratio']:.3g}"
        rows.append(
            (f["benchmark"], f["figure"], _number(f["value"], f["unit"]), baseline, ratio, f.get("target") or "-", met)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def machine_info() -> dict:
    """Where the figures were measured (they are ratios, but the reader should know the machine)."""
    import torch

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": load,
    }


def standalone_main(run: Callable[..., Result], description: str,
                    options: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """``main()`` of a benchmark module: ``--quick`` and ``--json``, prints its table.

    ``options`` adds the module's own arguments; those given are passed to ``run`` as keywords.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small smoke configuration")
    parser.add_argument("--json", dest="json_path", help="write the result here")
    if options is not None:
        options(parser)
    args = vars(parser.parse_args())
    quick, json_path = args.pop("quick"), args.pop("json_path")
    result = run(quick=quick, **{key: value for key, value in args.items() if value is not None}).to_dict()
    print(format_table(result["figures"]))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def dumps(value) -> str:
    return json.dumps(value, default=_json_default)


# -- statistics -----------------------------------------------------------------------------------

def summary(samples: list[float]) -> dict:
    """Best, median, mean and sample standard deviation of repeated measurements."""
    return {
        "min": min(samples),
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "sd": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "n": len(samples),
        "samples": list(samples),
    }


# -- child processes ------------------------------------------------------------------------------

def run_child(module: str, function: str, kwargs: dict, timeout: float = 900, env: dict | None = None) -> dict:
    """Call ``benchmarks.<module>.<function>(**kwargs)`` in a fresh Python process; return its dict.

    A fresh process is how memory is measured: its peak resident memory holds only what
    that one call did (plus the interpreter and imports, which the call subtracts itself).
    """
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        f"from benchmarks import {module} as m\n"
        f"from benchmarks._common import CHILD_MARK, dumps\n"
        f"print(CHILD_MARK + dumps(m.{function}(**json.loads(sys.argv[1]))), flush=True)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(CHILD_MARK):
            return json.loads(line[len(CHILD_MARK):])
    raise RuntimeError(
        f"child {module}.{function} failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
    )


# -- memory ------------------------------------------------------------------------------------------

def rss_bytes() -> int:
    """This process's resident memory now."""
    return _status_kb("/proc/self/status", "VmRSS") * 1024


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux ``clear_refs``); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """This process's peak resident memory: since ``reset_peak_rss()``, else since it started."""
    try:
        return _status_kb("/proc/self/status", "VmHWM") * 1024
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _status_kb(path: str, key: str) -> int:
    with open(path) as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise ValueError(f"{key} not in {path}")


class PeakWatcher:
    """Follows the peak resident memory (VmHWM) of other processes while they run.

    ``classify(cmdline) -> str | None`` names the role of a process (e.g. ``"server"``);
    ``peaks`` is the largest peak seen per role, ``process_peaks`` each process's own
    (``pid -> (role, bytes)``) and ``total_peak`` the largest sum of their resident sizes
    (VmRSS) at one sample. VmHWM only grows, so the reading taken shortly before a process
    ends holds its peak up to then.

    With ``min_available`` (bytes), the watcher guards the machine: when ``MemAvailable``
    falls below it, every watched process is killed (SIGKILL) and ``tripped`` holds the reading,
    so a run too large for the machine fails instead of bringing in the kernel's OOM killer.
    """

    def __init__(self, classify: Callable[[str], str | None], interval: float = 0.1, min_available: int | None = None):
        self.classify = classify
        self.interval = interval
        self.min_available = min_available
        self.peaks: dict[str, int] = {}
        self.process_peaks: dict[int, tuple[str, int]] = {}
        self.total_peak = 0
        self.tripped: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PeakWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        """The readings as plain data: per role, per process (role and peak), the largest total, the guard's trip."""
        return {"peak_bytes": dict(self.peaks),
                "process_peak_bytes": {str(pid): {"role": role, "bytes": peak}
                                       for pid, (role, peak) in self.process_peaks.items()},
                "total_peak_bytes": self.total_peak, "memory_guard_tripped_at": self.tripped}

    def _loop(self) -> None:
        while not self._stop.is_set():
            watched = self._sample()
            if self.min_available is not None and self.tripped is None and watched:
                available = mem_available_bytes()
                if available < self.min_available:
                    self.tripped = available
                    for pid in watched:
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
            self._stop.wait(self.interval)

    def _sample(self) -> list[int]:
        watched, total = [], 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
                role = self.classify(cmdline)
                if role is None:
                    continue
                peak = _status_kb(f"/proc/{pid}/status", "VmHWM") * 1024
                total += _status_kb(f"/proc/{pid}/status", "VmRSS") * 1024
            except (OSError, ValueError):
                continue
            watched.append(int(pid))
            if peak > self.peaks.get(role, 0):
                self.peaks[role] = peak
            if peak > self.process_peaks.get(int(pid), ("", 0))[1]:
                self.process_peaks[int(pid)] = (role, peak)
        self.total_peak = max(self.total_peak, total)
        return watched


def mem_available_bytes() -> int:
    """The kernel's estimate of memory available to new work now (``MemAvailable`` in ``/proc/meminfo``)."""
    return _status_kb("/proc/meminfo", "MemAvailable") * 1024


def simulator_roles(marker: str) -> Callable[[str], str | None]:
    """Classify the NVFlare simulator's processes of one run (``marker``: a path only that run uses).

    ``server``: the simulator processes (the server runs in one of them); ``client``: the
    simulated sites' worker processes; ``user code``: nvflare-fdd's user-code processes.
    """

    def classify(cmdline: str) -> str | None:
        if marker not in cmdline:
            return None
        if "nvflare_fdd.client.worker" in cmdline:
            return "user code"
        if "simulator_worker" in cmdline:
            return "client"
        if "nvflare.cli simulator" in cmdline or "nvflare simulator" in cmdline:
            return "server"
        return None

    return classify


def thread_env(sites: int) -> dict[str, str]:
    """The per-site thread share ``fdd run`` gives each simulated site; plain NVFlare runs get the same."""
    threads = str(max(1, (os.cpu_count() or 1) // sites))
    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads),
            "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", threads)}


#: The benchmarks' own bundles: each folder holds what is its own; ``common`` what they all share (``data.py``,
#: ``requirements.txt``), which :func:`benchmark_bundle` writes beside it.
BUNDLES_DIR = BENCH_DIR / "bundles"


def benchmark_bundle(name: str, target: Path, **settings) -> Path:
    """``bundles/<name>`` as the flat bundle a benchmark runs, with the shared files and some ``config.yaml`` values
    replaced (see :func:`bundle_copy`)."""
    shutil.copytree(BUNDLES_DIR / "common", target, ignore=shutil.ignore_patterns("__pycache__"))
    return bundle_copy(BUNDLES_DIR / name, target, **settings)


def bundle_copy(source: Path, target: Path, **settings) -> Path:
    """A copy of a bundle with some ``config.yaml`` values replaced; files already in ``target`` stay unless the
    bundle has its own."""
    from omegaconf import OmegaConf

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    if settings:
        configs = OmegaConf.load(target / "config.yaml")
        for key, value in settings.items():
            configs[key] = value
        OmegaConf.save(configs, target / "config.yaml")
    return target
