"""nvflare-fdd-eventlog: an append-only audit trail of nvflare-fdd's platform events.

Job state changes, round progress and recorded metrics each become one JSON line in
``$FDD_EVENT_LOG`` (default ``event-log.jsonl`` in the platform's home); ``fdd-eventlog
tail`` prints the last ones (see ``fdd_eventlog.log``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from fdd_eventlog.log import (  # noqa: E402
    LOG_ENV,
    EventLogError,
    Tail,
    append_event,
    encode_line,
    event_record,
    log_path,
    tail,
)

__all__ = [
    "LOG_ENV",
    "EventLogError",
    "Tail",
    "__version__",
    "append_event",
    "encode_line",
    "event_record",
    "log_path",
    "tail",
]
