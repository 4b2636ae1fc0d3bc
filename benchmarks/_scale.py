"""What the scale and PEFT benchmarks share: model sizes, the memory a run needs, one guarded simulator run.

Models are ``bundles/scale_linear``: ``layers`` square bias-free layers of ``width``: 4 layers up to a
width of 8192 (268M parameters), then more layers of 8192, so no tensor exceeds 256 MB (no single array
nears NVFlare's 2 GB message limit, and the per-tensor transfer buffers stay small).

Before each run the memory it needs is estimated (``MemoryModel``) and compared with ``MemAvailable``:
a run that cannot fit is skipped, and a run that does start is watched and stopped if the machine's
available memory falls below ``GUARD_FLOOR`` (``PeakWatcher(min_available=...)``).
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks._common import Result, benchmark_bundle, mem_available_bytes, standalone_main

BUNDLE = "scale_linear"
GIB = 2**30
GB = 1e9
WIDE = 8192
#: Memory left to the rest of the machine when deciding whether a run fits. The estimate only skips what
#: would not fit; the guard (``GUARD_FLOOR``), not the estimate, keeps the machine safe, and estimates
#: run high at large sizes (1B needed 18.1 GiB where the line through 250M and 470M said 21.7).
HEADROOM = 0
#: A run is stopped when the machine's available memory falls below this.
GUARD_FLOOR = 1 * GIB
#: What a run's processes hold at one time, in float32 model copies, before a measurement in the same run
#: refines it: 2 sites × 2 rounds at 250M parameters measured fdd 5.5 (streamed: server 2.5, each client
#: 0.5, each user-code process 1.5, at different moments) and plain NVFlare 13.1 (server 7.0, each
#: client 3.6); a PEFT run holds the trunk once per site (see the README's method notes).
PRIOR_COPIES = {"fdd": 6.0, "plain": 16.0, "peft": 4.0}
#: The same runs' memory with a tiny model: interpreters, torch, NVFlare (server, clients, user code).
PRIOR_FIXED = {"fdd": 2.0 * GIB, "plain": 1.6 * GIB, "peft": 2.0 * GIB}
#: Below this model size a run's memory says little about copies (the fixed part dominates).
LEARN_FROM_BYTES = 256 * 2**20
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMbBgG]?)\s*$")
_UNITS = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}


def parse_size(text: str | int) -> int:
    """``"1B"``, ``"250M"``, ``"2m"`` or a plain number → a parameter count."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if match is None:
        raise ValueError(f"a model size is a number with an optional k/M/B suffix (e.g. 250M, 1B), not {text!r}")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def shape(parameters: int) -> tuple[int, int]:
    """``(width, layers)`` of the model closest to ``parameters`` values."""
    width = min(WIDE, max(8, int(math.sqrt(parameters / 4))))
    return width, max(1, round(parameters / width**2))


def parameter_count(width: int, layers: int) -> int:
    return layers * width * width


def adapter_count(width: int, rank: int) -> int:
    return 2 * width * rank


def label(parameters: int) -> str:
    """A short size label: ``1.07B``, ``268M``, ``1.05M``."""
    if parameters >= 1e9:
        return f"{parameters / 1e9:.3g}B"
    if parameters >= 1e6:
        return f"{parameters / 1e6:.3g}M"
    return f"{parameters / 1e3:.3g}k"


def scale_bundle(work: Path, parameters: int, peft: bool = False, adapter_rank: int = 8) -> tuple[Path, dict]:
    """A copy of ``bundles/scale_linear`` set to a size; returns it and its settings."""
    width, layers = shape(parameters)
    settings = {"width": width, "layers": layers, "peft": peft, "adapter_rank": adapter_rank}
    name = f"scale_{'peft_' if peft else ''}{width}x{layers}"
    return benchmark_bundle(BUNDLE, work / name, **settings), settings


class MemoryModel:
    """The memory a run needs: ``fixed + copies × model bytes``, from priors, then from measured runs.

    ``copies`` is what the run's processes (server, each client, each user-code process) held at one
    time: the largest sum of their resident sizes a sample saw. The processes peak at different
    moments (the server while it averages, the user code while it trains), so the sum of each one's
    own peak, also recorded, overstates what the machine must have.
    """

    def __init__(self) -> None:
        self.copies = dict(PRIOR_COPIES)
        self.fixed = dict(PRIOR_FIXED)
        self.source = {side: "prior" for side in PRIOR_COPIES}
        self._points: dict[str, list[tuple[int, int]]] = {}

    def need(self, side: str, model_bytes: int) -> int:
        return int(self.fixed[side] + self.copies[side] * model_bytes)

    def learn_fixed(self, side: str, measured: dict) -> None:
        """A tiny-model run of ``side``: its memory is the fixed part."""
        self.fixed[side] = measured["total_peak_bytes"]

    def learn(self, side: str, model_bytes: int, measured: dict) -> None:
        """A completed run of ``side`` with a model of ``model_bytes``: its copies, if the model is large enough.

        With two such runs, the line through them: buffers of a fixed size (chunks, a tensor loaded at a
        time) weigh less per copy the larger the model, so one size's ratio overstates a larger one's.
        """
        if model_bytes < LEARN_FROM_BYTES:
            return
        peak = measured["total_peak_bytes"]
        points = self._points.setdefault(side, [])
        points.append((model_bytes, peak))
        if len(points) >= 2 and points[-1][0] > points[-2][0]:
            (small, low), (large, high) = points[-2:]
            self.copies[side] = max(0.0, (high - low) / (large - small))
            self.fixed[side] = max(0, int(high - self.copies[side] * large))
            self.source[side] = f"fitted to {small / GB:.2g} and {large / GB:.2g} GB"
            return
        self.copies[side] = max(0.0, (peak - self.fixed[side]) / model_bytes)
        self.source[side] = f"measured at {model_bytes / GB:.2g} GB"

    def to_dict(self) -> dict:
        return {"copies": dict(self.copies), "fixed_bytes": dict(self.fixed), "source": dict(self.source)}


def fits(need: int) -> tuple[bool, int]:
    """Whether ``need`` bytes fit in what the machine has available now (keeping ``HEADROOM``); and that amount."""
    available = mem_available_bytes()
    return need <= available - HEADROOM, available


def process_peak_sum(measured: dict) -> int:
    """The sum of each watched process's own peak resident memory."""
    return sum(entry["bytes"] for entry in measured.get("process_peak_bytes", {}).values())


def prefer_oom_kill() -> None:
    """Make this process and its children the kernel's first choice if memory runs out (shared machines)."""
    try:
        Path("/proc/self/oom_score_adj").write_text("1000")
    except OSError:
        pass


def prepare(config: dict, site_rows: int) -> dict[str, str]:
    """What every ladder run starts with: ``config["sizes"]`` as a tuple (the command line gives a comma-separated
    string), this process first in line for the OOM killer, and ``config["sites"]`` sites over one generated KDA of
    ``site_rows`` rows: site name → KDA URL."""
    from benchmarks._kda_data import large_kda

    if isinstance(config["sizes"], str):
        config["sizes"] = tuple(size for size in config["sizes"].split(",") if size.strip())
    prefer_oom_kill()
    url = large_kda(site_rows)
    return {f"site_{index + 1}": url for index in range(config["sites"])}


def size_entry(requested: int) -> dict:
    """The model closest to ``requested`` parameters: its ``label``, ``parameters``, ``width`` and ``layers``."""
    width, layers = shape(requested)
    parameters = parameter_count(width, layers)
    return {"label": label(parameters), "parameters": parameters, "width": width, "layers": layers}


def fit_entry(memory: MemoryModel, side: str, model_bytes: int) -> dict:
    """One side's entry at one size, before it runs: the memory it needs and what the machine has available now,
    and where that does not fit, the ``status`` that skips it."""
    need = memory.need(side, model_bytes)
    ok, available = fits(need)
    entry: dict = {"needed_bytes": need, "available_bytes": available}
    if not ok:
        entry["status"] = f"skipped: needs ~{need / 2**30:.0f} GiB, {available / 2**30:.0f} GiB available"
    return entry


def run_entry(entry: dict, side: str, bundle: Path, sites: dict[str, str], work: Path, model_class: str,
              model_args: dict, config: dict, trained_bytes: int, probe: dict | None) -> dict | None:
    """One guarded run of ``side`` (see :func:`run_side`; ``config``'s rounds and timeout) into ``entry``: the figures of
    :func:`summarise` when it completes, else its ``status`` (stopped: out of memory, or failed) and error.

    Returns:
        The run's measurements, or ``None`` where it did not complete.
    """
    from benchmarks._simulator import OutOfMemory

    try:
        measured = run_side(side, bundle, sites, config["rounds"], work, model_class, model_args, config["timeout"])
    except OutOfMemory as exc:
        entry.update(status="stopped: out of memory", error=str(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
        entry.update(status="failed", error=f"{type(exc).__name__}: {exc}"[-3000:])
        return None
    entry.update(summarise(measured, trained_bytes, probe))
    return measured


def ladder_main(run: Callable[..., Result], description: str, ladder: Iterable[str], sizes_help: str) -> None:
    """``main()`` of a ladder benchmark: :func:`standalone_main` with ``--sizes``, the comma-separated sizes that
    :func:`prepare` reads (``sizes_help`` says what they are; the default is ``ladder``)."""

    def options(parser) -> None:
        parser.add_argument("--sizes", help=f"{sizes_help} (default {','.join(ladder)})")

    standalone_main(run, description, options)


def run_side(side: str, bundle: Path, sites: dict[str, str], rounds: int, work: Path, model_class: str,
             model_args: dict, timeout: float) -> dict:  # fmt: skip
    """One guarded simulator run: ``plain`` (plain NVFlare) or ``fdd``/``peft`` (``fdd run``); its raw measurements.

    Raises:
        OutOfMemory: the guard stopped it. Any other failure of the run is raised as it is.
    """
    from benchmarks._simulator import run_fdd, run_plain

    try:
        if side == "plain":
            return run_plain(bundle, sites, rounds, work, model_class, model_args, timeout=timeout,
                             min_available=GUARD_FLOOR)  # fmt: skip
        return run_fdd(bundle, sites, rounds, work, model_class, timeout=timeout, min_available=GUARD_FLOOR)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # a large model's saved files and exchange folders


def round_periods(measured: dict) -> list[float]:
    """Each round's period but the last's: the last site's receive of round r to the last site's of r+1.

    In round 1 the period starts when the last site is ready: nvflare-fdd sets a site up (environment,
    user-code process, data, ``model_loader``) on its first task, after receiving it, while the plain
    script does the same before its first ``receive()``; the setup phases' end marks that point.
    """
    records = measured["rounds"]
    setup_end = {site: max(phase["end"] for phase in phases)
                 for site, phases in ((measured.get("progress") or {}).get("setup") or {}).items() if phases}  # fmt: skip
    rounds = sorted(records)
    periods = []
    for current, following in itertools.pairwise(rounds):
        ready = [max(site["received"], setup_end.get(name, 0.0) if current == rounds[0] else 0.0)
                 for name, site in records[current]["sites"].items()]  # fmt: skip
        end = max(site["received"] for site in records[following]["sites"].values())
        periods.append(end - max(ready))
    return periods


def summarise(measured: dict, model_bytes: int, probe: dict | None) -> dict:
    """The figures of one completed run: round period, seconds per GB, server peak in model copies."""
    periods = round_periods(measured)
    period = sum(periods) / len(periods)
    server = measured.get("peak_bytes", {}).get("server", 0)
    server_fixed = probe.get("peak_bytes", {}).get("server", 0) if probe else 0
    return {
        "status": "completed",
        "seconds": measured["seconds"],
        "round_periods_s": periods,
        "round_period_s": period,
        "s_per_gb": period / (model_bytes / GB),
        "server_peak_bytes": server,
        "server_copies": (server - server_fixed) / model_bytes,
        "server_copies_raw": server / model_bytes,
        "process_peak_sum_bytes": process_peak_sum(measured),
        "total_peak_bytes": measured.get("total_peak_bytes", 0),
        "peak_bytes": measured.get("peak_bytes", {}),
    }
