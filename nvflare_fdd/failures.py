"""``Failure``: why a job failed, as recorded by the server and shown to the job's owner.

A site's failure reaches the server as the plain data of
``nvflare_fdd.client.phases.RoundError.to_dict()``; the server takes it through
``Failure.from_site``, which keeps only the known fields, each of its type and
within its bound, so nothing a site sends is stored unbounded (DESIGN §8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from nvflare_fdd.client.phases import MAX_FRAMES, MAX_MESSAGE_CHARS, MAX_TRACE_CHARS, MAX_TYPE_CHARS, Phase

_PHASE_NAMES = {phase.value: phase.label for phase in Phase}
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
MAX_FIELD_CHARS = 256


@dataclass(frozen=True)
class Failure:
    """One job failure: where (site, round, phase) and what (message, the bundle's frames).

    Attributes:
        code: the K-MELLODDY phase code, or ``None`` for a failure outside the client round.
        phase: the phase's name (the platform's), or what failed on the server (``aggregation``).
        site: the site, ``server`` or ``platform``.
        round: the round, or ``None``.
        message: one line for the developer.
        trace: the frames in the bundle's files, or the server's explanation.
        exc_type: the exception's type, when user code raised one.
        frames: ``{file, line, function, source}`` per frame in the bundle's files.
    """

    code: int | None
    phase: str
    site: str
    round: int | None
    message: str
    trace: str = ""
    exc_type: str = ""
    frames: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line for a log or the console: where, which phase, and the message."""
        return describe_failure(self.to_dict())

    @classmethod
    def of(cls, phase: str, message: str, *, site: str = "server", round: int | None = None, trace: str = "",
           code: int | None = None) -> Failure:  # fmt: skip
        """A failure the platform itself found (``phase`` names what failed, e.g. ``aggregation``), by default the
        server's, outside any round."""
        return cls(code=code, phase=phase, site=site, round=round, message=message, trace=trace)

    @classmethod
    def from_site(cls, data: Any, site: str, round_num: int | None) -> Failure:
        """A site's reported failure, reduced to known fields of the right types and sizes.

        Args:
            data: what the site sent (its ``RoundError.to_dict()``), or anything else.
            site: the site, as NVFlare knows it (the data's own ``site`` is ignored).
            round_num: the round of the task the site answered.
        """
        data = data if isinstance(data, Mapping) else {}
        code = data.get("code")
        code = code if isinstance(code, int) and code in _PHASE_NAMES else None
        return cls(
            code=code,
            phase=_PHASE_NAMES.get(code, "site") if code is not None else "site",
            site=site,
            round=round_num,
            message=_text(data.get("message"), MAX_MESSAGE_CHARS) or "the site reported a failure without a message",
            trace=_text(data.get("trace"), MAX_TRACE_CHARS),
            exc_type=_text(data.get("exc_type"), MAX_TYPE_CHARS),
            frames=[frame for item in (data.get("frames") or [])[-MAX_FRAMES:] if (frame := _frame(item)) is not None]
            if isinstance(data.get("frames"), list) else [],
        )  # fmt: skip


def describe_failure(failure: Mapping[str, Any]) -> str:
    """``Failure.describe`` for a failure read back as plain data (``failure.json``, storage)."""
    code, phase = failure.get("code"), failure.get("phase") or ""
    where = f"site {failure.get('site')}" + (f", round {failure['round']}" if failure.get("round") else "")
    head = f"{code} ({phase})" if code else phase
    return f"{where}: {head} failed: {failure.get('message', '')}"


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else "…" + value[-(limit - 1):]


def _frame(item: Any) -> dict | None:
    if not isinstance(item, Mapping):
        return None
    file, line = item.get("file"), item.get("line")
    if not isinstance(file, str) or not _NAME.match(file) or isinstance(line, bool) or not isinstance(line, int):
        return None
    return {
        "file": file,
        "line": line,
        "function": _text(item.get("function"), 128),
        "source": _text(item.get("source"), MAX_FIELD_CHARS),
    }
