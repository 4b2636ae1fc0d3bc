"""What may leave a site, decided by the platform (DESIGN §8), not by the bundle.

The user-code process is untrusted: user code runs in it and can write anything
to the executor's socket. The executor therefore takes nothing from it as is.
Every field of a reply passes through this module before it can reach the server:

- **failures**: the phase code (the executor's own record of the running phase),
  the exception's type, and the traceback's frames in the bundle's own files,
  with the function and source line read by the platform from those files. The
  exception's message, the traceback's other frames and the process's output stay
  in the site's log (``share_error_messages`` in ``fdd_site.json`` lets a site
  send the message too). Problems the platform itself detects in user code are
  told by a key of ``REASONS``, whose text is the platform's.
- **parameters**: only tensors of the global model the site received, with its
  shape and dtype (a subset is fine: a partial ``state_dict()``).
- **sample count**: a whole number, at most the rows the site's KDA served.
- **metrics**: only the job's known names (``nvflare_fdd.metric_names``), finite
  values rounded to a few significant digits; what is dropped is reported by
  count and reason only.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nvflare_fdd.client.phases import Frame, Phase, RoundError
from nvflare_fdd.metric_policy import screen_metrics

#: Problems the platform finds in what user code did, by key: the text that may leave the site.
REASONS = {
    "config_yaml": "config.yaml cannot be read as a YAML mapping",
    "missing_file": "a required bundle file is missing (see `fdd validate`)",
    "missing_function:data_loader": "data.py must define a function `data_loader`",
    "missing_function:model_loader": "model.py must define a function `model_loader`",
    "missing_function:train": "train_eval.py must define a function `train`",
    "missing_function:evaluate": "train_eval.py must define a function `evaluate`",
    "not_a_module": "model_loader() must return a torch.nn.Module",
    "weights_do_not_fit": (
        "none of the received weights belong to the model; the server's model class and model_loader() "
        "must build the same architecture"
    ),
    "metrics_not_a_dict": "evaluate() must return a dict of metric name → number",
    "num_samples_invalid": "train() returned a num_samples that is not a whole number ≥ 0",
    "num_samples_unknown": (
        "cannot tell how many training samples this site used: return {'num_samples': n} from train(), "
        "or put a sized dataset (or a DataLoader over one) under data['train'] in data_loader()"
    ),
    "cuda_unavailable": (
        "the bundle moves data to a CUDA device and this site has no GPU: use `model_manager.DEVICE` (this "
        "site's device) instead of a hard-coded cuda:0"
    ),
    "pretrained_missing": (
        "the bundle asked for a pretrained model that is not in the platform's store (the site's log names it); "
        "add it with `fdd pretrained add NAME PATH`"
    ),
    "pretrained_unavailable": (
        "the site could not get a pretrained model the bundle asked for from the job's server (the site's log says why)"
    ),
    "scaffold_no_controls": "the job's algorithm is scaffold, and the server sent no SCAFFOLD controls with the task",
    "scaffold_not_updated": (
        "with the job's algorithm scaffold, train() must call FLScaffold(model).set_global(model) and get_controls() "
        "at its start, scaffold_apply(model, optimizer) after each backward() and scaffold_update(model, steps) at its end"
    ),
}

BUILTIN_EXCEPTIONS = frozenset(name for name, value in vars(builtins).items()
                               if isinstance(value, type) and issubclass(value, BaseException))  # fmt: skip
#: Exceptions of the libraries bundles use, and the platform's own, that may leave a site by name.
LIBRARY_EXCEPTIONS = frozenset({
    "torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError", "torch.AcceleratorError",
    "omegaconf.errors.ConfigAttributeError", "omegaconf.errors.ConfigKeyError", "omegaconf.errors.ConfigTypeError",
    "omegaconf.errors.MissingMandatoryValue", "omegaconf.errors.ValidationError",
    "omegaconf.errors.InterpolationResolutionError", "pandas.errors.ParserError", "pandas.errors.EmptyDataError",
    "pandas.errors.IntCastingNaNError", "yaml.scanner.ScannerError", "yaml.parser.ParserError",
    "nvflare_fdd.errors.FddError", "nvflare_fdd.errors.ContractError", "nvflare_fdd.errors.RequestRefused",
})  # fmt: skip
MAX_BASES = 16
_TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,5}$")
MAX_SHARED_MESSAGE_CHARS = 2_000
MAX_SOURCE_CHARS = 200
MAX_FRAMES = 20


# -- failures ---------------------------------------------------------------------------------------


def failure_from_worker(
    raw: Any,
    *,
    bundle_dir: str | Path,
    site: str,
    round_num: int | None,
    phase: Phase,
    share_messages: bool = False,
) -> RoundError:
    """The failure the user-code process reported, reduced to what may leave the site.

    Args:
        raw: the ``error`` of the worker's reply (anything: the process is untrusted).
        bundle_dir: the job's bundle; frames outside its files are dropped, and each kept
            frame's function and source line are read from the file itself.
        site: this site's name.
        round_num: the round the executor asked for (``None`` during setup).
        phase: the phase the executor saw start last (the worker's own ``code`` is used
            only when it is a phase of the same command that has started).
        share_messages: the site sends the exception's message too.

    Returns:
        A ``RoundError`` whose ``to_dict()`` is safe to send; its ``detail`` holds what the worker
        said, for the site's log.
    """
    raw = raw if isinstance(raw, Mapping) else {}
    exc_type = known_exception_type(raw.get("exc_type"), raw.get("exc_bases"), bundle_dir)
    frames = bundle_frames(raw.get("frames"), bundle_dir)
    reason = raw.get("reason") if raw.get("reason") in REASONS else ""
    message = describe(exc_type, frames, REASONS.get(reason, ""))
    if share_messages and isinstance(raw.get("message"), str) and raw["message"]:
        message = f"{message}\n{raw['message'][:MAX_SHARED_MESSAGE_CHARS]}"
    trace = render_trace(frames, exc_type)
    detail = "\n".join(str(raw.get(key))[-20_000:] for key in ("message", "trace") if raw.get(key))
    return RoundError(phase, site, round_num, message, trace, exc_type=exc_type, frames=frames, reason=reason,
                      detail=detail)  # fmt: skip


def known_exception_type(exc_type: Any, bases: Any, bundle_dir: str | Path) -> str:
    """The exception's type as it may leave the site: the first of its type and base classes (as the worker named
    them) that is a built-in exception, a class the bundle's files define, or one of ``LIBRARY_EXCEPTIONS``.

    A type's name is chosen by user code, which could make one at run time out of the site's data
    (``type(row, (ValueError,), {})``); such a type leaves the site as its nearest known base, ``ValueError``.
    ``""`` when the worker named no type, ``Exception`` when nothing it named is known.
    """
    if not isinstance(exc_type, str) or not exc_type:
        return ""
    candidates = [exc_type, *(bases if isinstance(bases, list) else [])[:MAX_BASES]]
    defined = _bundle_classes(str(Path(bundle_dir).resolve()))
    for name in candidates:
        if isinstance(name, str) and _TYPE_NAME.match(name) and (
                name in BUILTIN_EXCEPTIONS or name in LIBRARY_EXCEPTIONS or name in defined):  # fmt: skip
            return name
    return "Exception"


def describe(exc_type: str, frames: tuple[Frame, ...], reason_text: str = "") -> str:
    """``KeyError in data.py line 12, `df = raw_datas["x"]``` (the innermost bundle frame), or the reason."""
    what = exc_type or "an error"
    if frames:
        last = frames[-1]
        where = f"{what} in {last.file} line {last.line}, `{last.source}`"
    else:
        where = f"{what} outside the bundle's own files" if exc_type else "the user code failed"
    return f"{reason_text} ({where})" if reason_text else where


def render_trace(frames: tuple[Frame, ...], exc_type: str) -> str:
    """The frames like a Python traceback, without the exception's message."""
    if not frames and not exc_type:
        return ""
    lines = ["Traceback (the bundle's frames):", *(frame.render() for frame in frames)]
    return "\n".join([*lines, exc_type or "Exception"])


def bundle_frames(raw_frames: Any, bundle_dir: str | Path) -> tuple[Frame, ...]:
    """Frames that point at a real line of a ``.py`` file of the bundle; function and source from the file."""
    if not isinstance(raw_frames, list):
        return ()
    files = _bundle_sources(str(Path(bundle_dir).resolve()))
    frames = []
    for item in raw_frames[-MAX_FRAMES:]:
        if not isinstance(item, Mapping):
            continue
        name, line = item.get("file"), item.get("line")
        if not isinstance(name, str) or isinstance(line, bool) or not isinstance(line, int) or name not in files:
            continue
        lines, functions = files[name]
        if not 1 <= line <= len(lines):
            continue
        frames.append(Frame(name, line, functions.get(line, "<module>"), lines[line - 1].strip()[:MAX_SOURCE_CHARS]))
    return tuple(frames)


@lru_cache(maxsize=8)
def _bundle_classes(bundle_dir: str) -> frozenset[str]:
    """``module.Class`` (and ``module.Outer.Inner``) of every class a ``class`` statement in the bundle's files defines."""
    found: set[str] = set()

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                found.add(f"{prefix}.{node.name}")
                visit(node.body, f"{prefix}.{node.name}")

    for path in sorted(Path(bundle_dir).glob("*.py")):
        try:
            visit(ast.parse(path.read_text(errors="replace")).body, path.stem)
        except (OSError, SyntaxError, ValueError):
            continue
    return frozenset(found)


@lru_cache(maxsize=8)
def _bundle_sources(bundle_dir: str) -> dict[str, tuple[list[str], dict[int, str]]]:
    """Each ``.py`` file of the bundle: its lines, and the innermost function around each line."""
    sources = {}
    for path in sorted(Path(bundle_dir).glob("*.py")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        lines = text.splitlines()
        functions: dict[int, str] = {}
        try:
            tree = ast.parse(text)
        except SyntaxError:
            tree = None
        if tree is not None:
            nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
            for node in sorted(nodes, key=lambda n: (n.lineno, -(n.end_lineno or n.lineno))):
                for number in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                    functions[number] = node.name  # inner definitions come later and win
        sources[path.name] = (lines, functions)
    return sources


# -- parameters --------------------------------------------------------------------------------------


def check_update(update: Mapping[str, Any], reference: Mapping[str, Any], site: str, round_num: int,
                 what: str = "update") -> None:  # fmt: skip
    """The update may hold only tensors of ``reference`` (the global model the site received), same shape and dtype.

    Args:
        what: what is checked, in messages (``"SCAFFOLD control differences"`` against the global controls).

    Raises:
        RoundError: 8000, naming a key only when it is one of the reference's (user-made names stay at the site).
    """
    unknown = [key for key in update if key not in reference]
    if unknown:
        raise RoundError(
            Phase.SEND, site, round_num,
            f"the {what} holds {len(unknown)} tensor(s) the global model does not have; only the model's own "
            "parameters may leave a site (their names are in this site's log)",
            detail=f"tensors not in the global model: {', '.join(sorted(map(str, unknown))[:20])}",
        )  # fmt: skip
    for key, value in update.items():
        expected = reference[key]
        if tuple(value.shape) != tuple(expected.shape) or value.dtype != expected.dtype:
            raise RoundError(
                Phase.SEND, site, round_num,
                f"tensor {key!r} of the {what} has another shape or dtype than the global model's "
                f"{tuple(expected.shape)} {expected.dtype}",
                detail=f"{key}: sent {tuple(value.shape)} {value.dtype}",
            )  # fmt: skip


# -- sample count ------------------------------------------------------------------------------------


def check_num_samples(value: Any, served_rows: int, site: str, round_num: int) -> int:
    """The training-sample count: a whole number between 0 and the rows the KDA served for the job.

    Raises:
        RoundError: 8000 (6000's result is judged when it is sent).
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RoundError(Phase.SEND, site, round_num, REASONS["num_samples_invalid"], reason="num_samples_invalid")
    if value > served_rows:
        raise RoundError(
            Phase.SEND, site, round_num,
            "train() reported more training samples than this site's KDA served for the job; "
            "num_samples must count the rows the model trained on",
            detail=f"num_samples={value}, rows served={served_rows}",
        )  # fmt: skip
    return value


# -- metrics -----------------------------------------------------------------------------------------


@dataclass
class ScreenedMetrics:
    """Metrics that may leave the site, and what was kept back, by reason only."""

    accepted: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    """``{reason: count}``; the names stay at the site (``dropped_names``)."""
    dropped_names: dict[str, str] = field(default_factory=dict)


def screen_site_metrics(metrics: Any, allowed: Collection[str], digits: int = 6) -> ScreenedMetrics:
    """Keep finite scalars under the job's known names, each rounded to ``digits`` significant digits."""
    screened = ScreenedMetrics()
    if not isinstance(metrics, Mapping):
        screened.dropped["not a dict"] = 1
        return screened
    known = {name: value for name, value in metrics.items() if isinstance(name, str) and name in allowed}
    for name in metrics:
        if not (isinstance(name, str) and name in allowed):
            screened.dropped_names[str(name)[:64]] = "not one of the job's metric names"
    unknown = len(metrics) - len(known)
    if unknown:
        screened.dropped["not one of the job's metric names"] = unknown
    checked = screen_metrics(known)
    for name, why in checked.rejected.items():
        screened.dropped_names[name] = why
    reasons = Counter(_reason_class(why) for why in checked.rejected.values())
    for reason, count in reasons.items():
        screened.dropped[reason] = screened.dropped.get(reason, 0) + count
    screened.accepted = {name: round_significant(value, digits) for name, value in checked.accepted.items()}
    return screened


def round_significant(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant digits (0 stays 0)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _reason_class(why: str) -> str:
    for prefix in ("not a real number", "not finite", "more than"):
        if why.startswith(prefix):
            return prefix if prefix != "more than" else "too many metrics"
    return "bad name"

