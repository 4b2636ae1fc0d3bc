"""``CheckingController``: an NVFlare ``Controller`` whose ``task_check_period`` takes effect.

NVFlare (2.7 and 2.9) hands a controller's ``task_check_period`` to its ``WFCommServer`` as the
attribute ``task_check_period``, but the communicator reads ``_task_check_period`` (0.2 s unless
built with another value). The setting is therefore lost, and a finished task waits up to 0.2 s
for the communicator's monitor, then up to 0.2 s more for ``wait_for_task``: up to 0.4 s a round.
"""

from __future__ import annotations

from nvflare.apis.impl.controller import Controller


class CheckingController(Controller):
    """A ``Controller`` that makes its communicator check tasks every ``task_check_period`` seconds."""

    def set_communicator(self, communicator) -> None:
        super().set_communicator(communicator)
        if hasattr(communicator, "_task_check_period"):
            communicator._task_check_period = self._task_check_period
