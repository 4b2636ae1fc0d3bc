"""The contract of the model registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from nvflare_fdd.platform.records import Model


class ModelRepository(Protocol):
    """The model registry: a model is ``class_name`` + ``version`` with its bundle's files."""

    def add_model(
        self, owner: str, class_name: str, version: str, description: str, files: Mapping[str, Path],
        metric_names: Iterable[str] = (),
    ) -> Model:  # fmt: skip
        """Register a model; ``files`` maps each file name to the file whose content is stored.

        Args:
            metric_names: metric names declared at registration (``Model.metric_names``).

        Raises:
            StorageConflict: ``class_name`` + ``version`` is taken, by any user, in any letter case (``model.exists``).
            NotFound: no such owner (``user.not_found``).
        """
        ...

    def replace_model_files(self, class_name: str, version: str, files: Mapping[str, Path]) -> Model:
        """Replace all of a model's files (the registry's edit); content nothing else uses any more is removed.

        Raises:
            NotFound: no such model (``model.not_found``).
            StorageConflict: a queued or running job uses the model (``model.in_use_replace``).
        """
        ...

    def update_model_description(self, class_name: str, version: str, description: str) -> Model:
        """Replace a model's description.

        Raises:
            NotFound: no such model (``model.not_found``).
        """
        ...

    def delete_model(self, class_name: str, version: str) -> None:
        """Delete a model and its files for good.

        Raises:
            NotFound: no such model (``model.not_found``).
            StorageConflict: a queued or running job uses it (``model.in_use_delete``), or any other job does
                (``model.used_by_jobs``: delete those jobs first).
        """
        ...

    def get_model(self, class_name: str, version: str) -> Model:
        """One model, named exactly as registered.

        Raises:
            NotFound: no such model (``model.not_found``).
        """
        ...

    def list_models(self, owner: str | None = None) -> list[Model]:
        """Every model, or ``owner``'s, by class name and version.

        Raises:
            NotFound: no such owner (``user.not_found``).
        """
        ...

    def export_model_files(self, class_name: str, version: str, folder: Path) -> Path:
        """Write a model's files into ``folder`` (created if missing) and return ``folder``.

        Raises:
            NotFound: no such model (``model.not_found``).
        """
        ...
