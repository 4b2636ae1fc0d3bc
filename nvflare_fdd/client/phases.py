"""The phases of the client round and their K-MELLODDY error codes (DESIGN §3)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from enum import IntEnum

from nvflare_fdd.errors import FddError


class Phase(IntEnum):
    """A step of the client round; the value is the code reported on failure."""

    ENVIRONMENT = 900  # building the job's environment from requirements.txt (before K-MELLODDY's 1000)
    CONFIG = 1000
    DATA_DOWNLOAD = 2000
    DATA_LOADER = 2001
    MODEL = 3000
    RECEIVE = 4000
    LOAD_WEIGHTS = 4001
    GLOBAL_EVAL = 5000
    TRAIN = 6000
    LOCAL_EVAL = 7000
    BASELINE = 7500  # the local-only baseline's training and eval (a job setting; not one of K-MELLODDY's codes)
    SEND = 8000

    @property
    def label(self) -> str:
        """Lower-case name as shown to users, e.g. ``"global eval"``."""
        return _LABELS[self]


_LABELS = {
    Phase.ENVIRONMENT: "environment",
    Phase.CONFIG: "config",
    Phase.DATA_DOWNLOAD: "data download",
    Phase.DATA_LOADER: "data_loader",
    Phase.MODEL: "model_loader",
    Phase.RECEIVE: "receive",
    Phase.LOAD_WEIGHTS: "load weights",
    Phase.GLOBAL_EVAL: "global eval",
    Phase.TRAIN: "train",
    Phase.LOCAL_EVAL: "local eval",
    Phase.BASELINE: "local baseline",
    Phase.SEND: "send",
}


@dataclass(frozen=True)
class PhaseTiming:
    """When one phase ran, in seconds since the epoch."""

    code: int
    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Frame:
    """One frame of a traceback inside the bundle's own files: what a developer needs to find the line."""

    file: str
    line: int
    function: str
    source: str

    def render(self) -> str:
        return f'  File "{self.file}", line {self.line}, in {self.function}\n    {self.source}'


class RoundError(FddError):
    """A phase of the client round failed.

    What leaves a site (``to_dict``) is what DESIGN §8 allows: the phase code, the exception
    type and the traceback's frames in the bundle's own files, with a message the platform
    wrote. ``detail`` (the exception's own message, the full traceback, the process's output)
    stays in the site's log unless the site shares error messages.

    Attributes:
        phase: the failing phase (its value is the K-MELLODDY error code).
        site: the site name, as configured for the run.
        round: the round, or ``None`` before the first round.
        message: one line for the developer (``KeyError in data.py line 12, `df = raw_datas["x"]```).
        trace: the frames in the bundle's files, rendered like a Python traceback.
        exc_type: the exception's class (``KeyError``, ``torch.OutOfMemoryError``), or ``""``.
        frames: the frames in the bundle's files, outermost first.
        reason: a key of the platform's catalogue of contract problems (``nvflare_fdd.client.boundary``), or ``""``.
        detail: text that stays at the site.
        exc_bases: the exception type's base classes, nearest first (in the user-code process only: the executor
            sends the first of the type and its bases that it knows, see ``boundary.known_exception_type``).
    """

    def __init__(
        self,
        phase: Phase,
        site: str,
        round: int | None,
        message: str,
        trace: str = "",
        *,
        exc_type: str = "",
        frames: tuple[Frame, ...] | list[Frame] = (),
        reason: str = "",
        detail: str = "",
        exc_bases: tuple[str, ...] = (),
    ):
        self.phase = Phase(phase)
        self.site = site
        self.round = round
        self.message = message
        self.trace = trace
        self.exc_type = exc_type
        self.frames = tuple(frames)
        self.reason = reason
        self.detail = detail
        self.exc_bases = tuple(exc_bases)
        where = f"site {site}" + (f", round {round}" if round is not None else "")
        super().__init__(f"[{self.phase.value} {self.phase.label}] {where}: {message}")

    @property
    def code(self) -> int:  # type: ignore[override]  # a round's errors are coded by phase number (DESIGN §8), not by key
        """The phase's number (``4000``...), which is what sites send."""
        return self.phase.value

    def to_dict(self) -> dict:
        """What may leave the site, as plain data, every field cut to its bound."""
        return {
            "code": self.code,
            "phase": self.phase.label,
            "site": self.site,
            "round": self.round,
            "message": _tail(self.message, MAX_MESSAGE_CHARS),
            "trace": _tail(self.trace, MAX_TRACE_CHARS),
            "exc_type": self.exc_type[:MAX_TYPE_CHARS],
            "frames": [asdict(frame) for frame in self.frames[-MAX_FRAMES:]],
        }

    @classmethod
    def from_dict(cls, data: dict) -> RoundError:
        """A ``to_dict()`` result back as an error (the fields are trusted: the site's platform wrote them)."""
        frames = [Frame(**frame) for frame in data.get("frames") or ()]
        return cls(Phase(data["code"]), data["site"], data.get("round"), data["message"], data.get("trace", ""),
                   exc_type=data.get("exc_type", ""), frames=frames)  # fmt: skip


MAX_MESSAGE_CHARS = 2_000
MAX_TRACE_CHARS = 8_000
MAX_TYPE_CHARS = 128
MAX_FRAMES = 20


def _tail(text: str, limit: int) -> str:
    """The last ``limit`` characters (where a traceback's cause is), marked when cut."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def now() -> float:
    """Wall-clock time stamp used for every phase (seconds since the epoch)."""
    return time.time()
