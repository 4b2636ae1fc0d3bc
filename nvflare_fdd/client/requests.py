"""What user code may ask of the executor while it runs, and how the executor says no.

The worker forwards a request (today: ``pretrained``, from ``model_manager.download_model``) over its
socket; the executor's handler answers with a dict or raises ``Refusal``, which the worker raises in user
code as ``RequestRefused`` (``nvflare_fdd.errors``, importable from ``nvflare_fdd.client.runtime``) at the line that asked (DESIGN §8).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nvflare_fdd.errors import Refusal


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
