"""Saving each round's global model off the round's critical path, in order, without losing exactness.

Writing a large global model (``.pt`` and ``.safetensors``, fsynced) takes about as long as a
round of a small one; the next round need not wait for it. ``BackgroundSaver`` runs the
round's persistence steps — keep the best model, save the controls, save the global model,
then record the round as finished — one after another on one thread, while the controller
goes on with the next round. A round counts as saved (and resumable) only once its record is
written, which happens after its files are complete.

At most one round's steps are pending: ``submit`` first waits for the previous round's, so
the saver never holds a model the controller no longer does (the model being saved is the one
being sent). A failed step is raised by the next ``submit`` or ``wait``, with its round.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class SaveFailed(Exception):
    """A persistence step of ``round`` failed; ``cause`` is the error (an ``OSError`` for a full disk)."""

    def __init__(self, round_num: int, cause: BaseException):
        self.round = round_num
        self.cause = cause
        super().__init__(f"round {round_num}: {cause}")

    def explain(self) -> str:
        """What failed, for the job's owner: a file that could not be written names itself and what is kept."""
        exc = self.cause
        if not isinstance(exc, OSError):
            return f"{type(exc).__name__}: {exc}"
        where = f" ({exc.filename})" if exc.filename else ""
        return (f"the server could not save the global model of round {self.round}: {exc.strerror or exc}{where}; "
                "rounds before it are saved and recorded")  # fmt: skip


class BackgroundSaver:
    """One thread that runs each round's persistence steps in order."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fdd-save")
        self._pending: tuple[int, Future] | None = None

    def submit(self, round_num: int, steps: Callable[[], object]) -> None:
        """Run ``steps`` (round ``round_num``'s saving and recording) once the previous round's are done.

        Raises:
            SaveFailed: the previous round's steps failed.
        """
        self.wait()
        self._pending = (round_num, self._pool.submit(steps))

    def wait(self) -> None:
        """Wait for the pending steps.

        Raises:
            SaveFailed: they failed.
        """
        if self._pending is None:
            return
        round_num, future = self._pending
        self._pending = None
        error = future.exception()
        if error is not None:
            raise SaveFailed(round_num, error)

    def close(self) -> None:
        """Wait for what is pending (its failure is not raised here) and stop the thread."""
        try:
            self.wait()
        except SaveFailed:
            pass
        self._pool.shutdown(wait=True)
