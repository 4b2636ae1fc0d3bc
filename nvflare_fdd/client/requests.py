"""What user code may ask of the executor while it runs, and how the executor says no.

The worker forwards a request (today: ``pretrained``, from ``model_manager.download_model``) over its
socket; the executor's handler answers with a dict or raises ``Refusal``, which the worker raises in user
code as ``nvflare_fdd.client.runtime.RequestRefused`` at the line that asked (DESIGN §8).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nvflare_fdd.errors import FddError


class Refusal(FddError):
    """A handler cannot serve a request: the worker raises it in user code (``RequestRefused``), so the command fails
    at the bundle's line that asked, told by ``reason`` (a key of ``nvflare_fdd.client.boundary.REASONS``); the
    message stays at the site unless the site shares error messages."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def pretrained_handler(resolve: Callable[[str], Path], note: Callable[[str], None] = lambda text: None) -> Callable[[dict], dict]:
    """The handler of user code's ``pretrained`` requests (``model_manager.download_model``).

    Args:
        resolve: the local path of a pretrained model by name (raises ``PretrainedError``).
        note: receives what went wrong, with the name (the site's log: the name is user code's words).
    """
    from nvflare_fdd.pretrained.manifest import MissingPretrained, PretrainedError

    def handle(arguments: dict) -> dict:
        name = arguments.get("name", "")
        try:
            return {"path": str(resolve(name))}
        except MissingPretrained as exc:
            note(str(exc))
            raise Refusal(str(exc), "pretrained_missing") from exc
        except PretrainedError as exc:
            note(f"pretrained model {name!r}: {exc}")
            raise Refusal(str(exc), "pretrained_unavailable") from exc

    return handle
