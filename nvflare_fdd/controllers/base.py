"""``FddController``: what nvflare-fdd's controllers share on top of NVFlare's ``Controller``.

- ``task_check_period`` takes effect. NVFlare (2.7 and 2.9) hands it to the controller's
  ``WFCommServer`` as the attribute ``task_check_period``, but the communicator reads
  ``_task_check_period`` (0.2 s unless built with another value). The setting is therefore lost,
  and a finished task waits up to 0.2 s for the communicator's monitor, then up to 0.2 s more for
  ``wait_for_task``: up to 0.4 s a round.
- A result for a task that has ended (a site answering late) is logged and ignored.
"""

from __future__ import annotations

from nvflare.apis.client import Client
from nvflare.apis.fl_context import FLContext
from nvflare.apis.impl.controller import Controller
from nvflare.apis.shareable import Shareable


class FddController(Controller):
    """A ``Controller`` whose communicator checks tasks every ``task_check_period`` seconds."""

    def set_communicator(self, communicator) -> None:
        super().set_communicator(communicator)
        if hasattr(communicator, "_task_check_period"):
            communicator._task_check_period = self._task_check_period

    def process_result_of_unknown_task(
        self, client: Client, task_name: str, client_task_id: str, result: Shareable, fl_ctx: FLContext
    ) -> None:
        self.log_warning(fl_ctx, f"ignoring a late or unknown {task_name} result from {client.name}")
