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


class RoundError(FddError):
    """A phase of the client round failed.

    Attributes:
        phase: the failing phase (its value is the K-MELLODDY error code).
        site: the site name, as configured for the run.
        round: the zero-based round, or ``None`` before the first round.
        trace: the user's traceback (or the platform's explanation) as text.
    """

    def __init__(self, phase: Phase, site: str, round: int | None, message: str, trace: str = ""):
        self.phase = Phase(phase)
        self.site = site
        self.round = round
        self.message = message
        self.trace = trace
        where = f"site {site}" + (f", round {round}" if round is not None else "")
        super().__init__(f"[{self.phase.value} {self.phase.label}] {where}: {message}")

    @property
    def code(self) -> int:
        return self.phase.value

    def to_dict(self) -> dict:
        """Plain data, safe to send to the server (no user objects); message and trace are cut to their ends."""
        return {
            "code": self.code,
            "phase": self.phase.label,
            "site": self.site,
            "round": self.round,
            "message": _tail(self.message, MAX_MESSAGE_CHARS),
            "trace": _tail(self.trace, MAX_TRACE_CHARS),
        }

    @classmethod
    def from_dict(cls, data: dict) -> RoundError:
        return cls(Phase(data["code"]), data["site"], data.get("round"), data["message"], data.get("trace", ""))


MAX_MESSAGE_CHARS = 2_000
MAX_TRACE_CHARS = 8_000


def _tail(text: str, limit: int) -> str:
    """The last ``limit`` characters (where a traceback's cause is), marked when cut."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def now() -> float:
    """Wall-clock time stamp used for every phase (seconds since the epoch)."""
    return time.time()
