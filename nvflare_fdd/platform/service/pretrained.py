"""The pretrained-model store as users use it: shared by everyone signed in; its owner or an admin removes a model."""

from __future__ import annotations

from pathlib import Path

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.contracts import Storage
from nvflare_fdd.platform.records import PretrainedModel, User
from nvflare_fdd.platform.service.access import AccessRules


class PretrainedService(AccessRules):
    """Add, list and remove pretrained models."""

    def add_pretrained(self, user: User, name: str, path: str | Path, progress=None) -> PretrainedModel:
        """Add the folder (laid out like a Hugging Face model repository) or file at ``path`` as ``name``.

        Args:
            progress: ``progress(stage, file, nbytes)`` as the files are hashed and stored (see ``PretrainedStore``).

        Raises:
            PretrainedError: a bad name, path or file, or more than ``pretrained_max_gb``.
            StorageConflict: the name is taken.
        """
        from nvflare_fdd.pretrained.manifest import check_name, scan_source

        check_name(name)
        found = scan_source(path, self.config.pretrained_max_bytes)
        return self._pretrained_storage().add_pretrained(user.name, name, found.kind, found.files, progress)

    def pretrained_models(self) -> list[PretrainedModel]:
        """Every model in the store (anyone signed in may list and use them)."""
        return self._pretrained_storage().list_pretrained()

    def pretrained_model(self, name: str) -> PretrainedModel:
        """One model of the store with its files; ``NotFound`` names the missing name."""
        return self._pretrained_storage().get_pretrained(name)

    def remove_pretrained(self, user: User, name: str) -> None:
        """Remove a model from the store (its owner or an admin). A job that asks for it later fails, naming it."""
        storage = self._pretrained_storage()
        self._owned(user, storage.get_pretrained(name).owner, "pretrained model", name)
        storage.remove_pretrained(name)

    def _pretrained_storage(self) -> Storage:
        if not hasattr(self.storage, "get_pretrained"):
            raise FddError(f"the storage backend {self.config.storage_backend!r} has no pretrained-model store")
        return self.storage
