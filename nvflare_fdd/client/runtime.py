"""What the platform tells the user code it runs: the site's device, the job's algorithm, and a way to ask for things.

The injected modules (``model_manager``, ``controller_manager``: DESIGN §9) read it. The process
that runs user code sets it up before importing the bundle: the site's worker (``configure`` with
the worker's request channel), the server's model builder, and ``fdd check`` in its own process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nvflare_fdd.errors import FddError
from nvflare_fdd.errors import RequestRefused as RequestRefused  # defined in errors.py; bundles import it from here

ALGORITHMS = ("fedavg", "fedprox", "scaffold")
DEFAULT_FEDPROX_MU = 0.01

Requester = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class Runtime:
    """The current process's view of its job.

    Attributes:
        device: where the model trains (``cpu``, ``cuda:0``).
        algorithm: ``fedavg``, ``fedprox`` or ``scaffold``.
        fedprox_mu: FedProx's coefficient, as the server sent it.
        requester: asks the platform for something (``"pretrained"``), or ``None`` where nothing can be asked.
        local_baseline: each round also trains a local-only copy of the model (its metrics: kind ``baseline``).
    """

    device: str = "cpu"
    algorithm: str = "fedavg"
    fedprox_mu: float = DEFAULT_FEDPROX_MU
    requester: Requester | None = None
    local_baseline: bool = False

    def request(self, what: str, **arguments: Any) -> dict[str, Any]:
        """Ask the platform (the site's executor, the server) for ``what``.

        Raises:
            FddError: nothing can be asked here, or the platform refused (its message says why).
        """
        if self.requester is None:
            raise FddError(f"this process cannot ask the platform for {what!r}")
        return self.requester(what, arguments)


_current = Runtime()


def current() -> Runtime:
    return _current


def configure(**settings: Any) -> Runtime:
    """Set the current process's runtime (unknown settings are an error)."""
    global _current
    algorithm = settings.get("algorithm", "fedavg")
    if algorithm not in ALGORITHMS:
        raise FddError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    _current = Runtime(**settings)
    return _current


@contextlib.contextmanager
def configured(**settings: Any) -> Iterator[Runtime]:
    """The current process's runtime set to ``settings`` (the others kept) for a ``with`` block, then restored."""
    global _current
    previous = _current
    try:
        yield configure(**{**vars(previous), **settings})
    finally:
        _current = previous
