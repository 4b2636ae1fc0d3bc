"""Who may see and change what: a user sees their own models and jobs and jobs shared with them, and changes
only their own; an admin sees and changes all."""

from __future__ import annotations

from collections.abc import Iterable

from nvflare_fdd.platform.errors import NotFound
from nvflare_fdd.platform.records import Job, JobState, Model, User
from nvflare_fdd.platform.service.base import PlatformBase
from nvflare_fdd.platform.service.checks import PermissionDenied


class AccessRules(PlatformBase):
    """Reads as a user may make them, sharing, and the owner check every change makes."""

    def models(self, user: User) -> list[Model]:
        """The models ``user`` may see: their own (an admin: all)."""
        return self.storage.list_models(owner=None if user.is_admin else user.name)

    def model(self, user: User, class_name: str, version: str) -> Model:
        """One of ``user``'s models (an admin: anyone's); another user's is not found."""
        model = self.storage.get_model(class_name, version)
        if model.owner != user.name and not user.is_admin:
            raise NotFound(f"no model {class_name} version {version}; see `fdd models list`", code="model.not_found",
                           params={"model": f"{class_name}:{version}"})
        return model

    def job(self, user: User, name: str) -> Job:
        """A job ``user`` may read: their own, one shared with them, or any for an admin."""
        job = self.storage.get_job(name)
        if not (user.is_admin or job.owner == user.name or user.name in job.shared_with):
            raise NotFound(f"no job named {name!r}; see `fdd jobs list`", code="job.not_found", params={"name": name})
        return job

    def jobs(self, user: User, states: Iterable[JobState] | None = None, mine: bool = False) -> list[Job]:
        """The jobs ``user`` may read (``mine``: only their own)."""
        if mine:
            return self.storage.list_jobs(owner=user.name, states=states)
        return self.storage.list_jobs(states=states, visible_to=None if user.is_admin else user.name)

    def share_job(self, user: User, name: str, readers: Iterable[str]) -> Job:
        """Let ``readers`` read the owner's job ``name`` (its progress, metrics, failure and models), not change it."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        readers = sorted(set(readers) - {job.owner})
        for reader in readers:
            self.storage.get_user(reader)  # an unknown user is an error, not a silent no-op
        return self.storage.share_job(name, readers)

    def unshare_job(self, user: User, name: str, reader: str) -> Job:
        """Stop letting ``reader`` read job ``name``."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        return self.storage.unshare_job(name, reader)

    @staticmethod
    def _owned(user: User, owner: str, kind: str, name: str) -> None:
        """Refuse a change by anyone but ``owner`` or an admin (``kind``: ``model``, ``job`` or ``pretrained model``)."""
        if user.name != owner and not user.is_admin:
            raise PermissionDenied(f"{kind} {name} belongs to {owner}; only its owner or an admin can change it",
                                   code=f"{kind.replace(' model', '')}.not_owner", params={"name": name, "owner": owner})
