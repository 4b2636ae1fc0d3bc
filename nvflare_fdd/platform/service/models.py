"""The model registry as users use it: bundles validated before they are stored, changes by their owners."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nvflare_fdd.errors import FddError
from nvflare_fdd.metric_names import check_declared
from nvflare_fdd.platform.records import Model, User
from nvflare_fdd.platform.service.access import AccessRules
from nvflare_fdd.platform.service.checks import BundleRejected, check_length, check_version


class ModelService(AccessRules):
    """Register, edit, delete and export models."""

    def register_model(self, user: User, bundle: str | Path, class_name: str, version: str, description: str = "",
                       metric_names: Iterable[str] = ()) -> Model:  # fmt: skip
        """Validate ``bundle`` (folder or zip) and register it as ``class_name`` ``version``.

        Args:
            metric_names: names ``evaluate()`` returns that are neither in the common vocabulary nor literal
                keys of its dict (DESIGN §8: only names known before a run leave a site).
        """
        check_length("class_name", class_name)
        check_length("version", version)
        check_length("description", description)
        check_version(version)
        try:
            declared = check_declared(metric_names)
        except ValueError as exc:
            raise FddError(str(exc), code="model.metric_names_invalid", params={"names": " ".join(metric_names)}) from exc
        with self._validated_files(bundle, class_name) as files:
            return self.storage.add_model(user.name, class_name, version, description, files, declared)

    def replace_model_files(self, user: User, class_name: str, version: str, bundle: str | Path) -> Model:
        """Replace a model's files with a validated ``bundle`` (its owner or an admin)."""
        self._owned(user, self.storage.get_model(class_name, version).owner, "model", f"{class_name}:{version}")
        with self._validated_files(bundle, class_name) as files:
            return self.storage.replace_model_files(class_name, version, files)

    def describe_model(self, user: User, class_name: str, version: str, description: str) -> Model:
        """Replace a model's description (its owner or an admin)."""
        self._owned(user, self.storage.get_model(class_name, version).owner, "model", f"{class_name}:{version}")
        check_length("description", description)
        return self.storage.update_model_description(class_name, version, description)

    def delete_model(self, user: User, class_name: str, version: str) -> None:
        """Delete a model for good; refused while any job uses it (the refusal names the jobs)."""
        self._owned(user, self.storage.get_model(class_name, version).owner, "model", f"{class_name}:{version}")
        self.storage.delete_model(class_name, version)

    def export_model(self, user: User, class_name: str, version: str, folder: Path) -> Path:
        """Write one of ``user``'s models' files into ``folder``."""
        self.model(user, class_name, version)
        return self.storage.export_model_files(class_name, version, folder)

    def _validated_files(self, bundle: str | Path, class_name: str):
        from contextlib import contextmanager

        from nvflare_fdd.bundle import open_bundle, validate_bundle

        @contextmanager
        def files():
            problems = validate_bundle(bundle, model_class=class_name)
            if problems:
                raise BundleRejected(problems)
            with open_bundle(bundle) as folder:
                yield {path.name: path for path in sorted(Path(folder).iterdir()) if path.is_file()}

        return files()
