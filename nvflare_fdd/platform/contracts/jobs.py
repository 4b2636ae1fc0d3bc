"""The contract of jobs: their states, events and shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from nvflare_fdd.platform.records import Job, JobEvent, JobState, NewJob


class JobRepository(Protocol):
    """Jobs: their states (``records.TRANSITIONS``), the events that record each move, and who may read them."""

    def create_job(self, job: NewJob, state: JobState = JobState.READY, reason: str = "created",
                   reason_code: str | None = "event.created", reason_params: Mapping[str, Any] | None = None) -> Job:
        """A new job in ``state``, with its first event (``reason``; the returned job's ``event``).

        Args:
            state: ``ready``, or ``running`` for an external run (its start time is set).

        Raises:
            StorageConflict: the name is taken, in any letter case (``job.name_taken``).
            NotFound: no such owner (``user.not_found``) or model (``model.not_found``).
        """
        ...

    def get_job(self, name: str) -> Job:
        """The job ``name``.

        Raises:
            NotFound: no such job (``job.not_found``).
        """
        ...

    def list_jobs(self, owner: str | None = None, states: Iterable[JobState] | None = None,
                  visible_to: str | None = None) -> list[Job]:  # fmt: skip
        """Jobs, oldest first: all, ``owner``'s, or those ``visible_to`` a user (their own and those shared with them),
        in any of ``states``.

        Raises:
            NotFound: no such ``owner`` or ``visible_to`` user (``user.not_found``).
        """
        ...

    def enqueue_job(self, name: str, max_queued_per_user: int, resume_from: int | None = None, reason: str = "",
                    reason_code: str | None = None, reason_params: Mapping[str, Any] | None = None) -> Job:  # fmt: skip
        """``ready → queued``, or ``failed/cancelled → queued`` to resume after round ``resume_from``.

        Sets the time it was queued and ``resume_from``, clears the run handle (and the failure when it resumes).
        Without a ``reason`` the event says the user asked to start it.

        Raises:
            StorageConflict: the owner already has ``max_queued_per_user`` queued jobs (``job.queue_full``),
                or the job's state does not allow it (``job.transition_invalid``).
            NotFound: no such job (``job.not_found``).
        """
        ...

    def claim_next_queued(self, capacity: int, runner: str) -> Job | None:
        """The oldest queued job, moved to ``running`` on ``runner``, if fewer than ``capacity`` jobs run there.

        Claims are serialised across processes: two schedulers never both see room for one more job, and never
        claim the same job.

        Returns:
            The claimed job; ``None`` when the runner is full or no job is queued.
        """
        ...

    def transition(
        self, name: str, to_state: JobState, reason: str, failure: Mapping[str, Any] | None = None, quiet: bool = False,
        reason_code: str | None = None, reason_params: Mapping[str, Any] | None = None,
    ) -> Job | None:
        """Move a job to ``to_state`` if ``records.TRANSITIONS`` allows it, recording the event and ``failure``
        (and the end time, for a final state).

        Returns:
            The job; ``None`` when ``quiet`` and the move is not allowed (a race already decided it).

        Raises:
            StorageConflict: the move is not allowed and not ``quiet`` (``job.transition_invalid``).
            NotFound: no such job (``job.not_found``).
        """
        ...

    def share_job(self, name: str, readers: Iterable[str]) -> Job:
        """Let ``readers`` read job ``name``; sharing again with a reader is no error.

        Raises:
            NotFound: no such job (``job.not_found``) or reader (``user.not_found``).
        """
        ...

    def unshare_job(self, name: str, reader: str) -> Job:
        """Stop sharing job ``name`` with ``reader``; a reader it was not shared with is no error.

        Raises:
            NotFound: no such job (``job.not_found``) or reader (``user.not_found``).
        """
        ...

    def set_run_handle(self, name: str, handle: str) -> None:
        """Record the runner's handle of the job's run (what polling and aborting it need).

        Raises:
            NotFound: no such job (``job.not_found``).
        """
        ...

    def job_events(self, name: str) -> list[JobEvent]:
        """The job's state changes, oldest first.

        Raises:
            NotFound: no such job (``job.not_found``).
        """
        ...

    def delete_job(self, name: str) -> None:
        """Delete a job with its events, shares, progress, metrics and result files.

        Raises:
            StorageConflict: the job is queued or running (``job.delete_active``).
            NotFound: no such job (``job.not_found``).
        """
        ...
