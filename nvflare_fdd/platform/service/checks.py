"""What the platform service refuses before it asks storage: its own errors, and the rules for names and texts."""

from __future__ import annotations

import re

from nvflare_fdd.errors import BundleRejected as BundleRejected  # defined in errors.py, importable from here too
from nvflare_fdd.errors import FddError
from nvflare_fdd.errors import PermissionDenied as PermissionDenied  # likewise

JOB_NAME = re.compile(r"^[A-Za-z0-9_]+$")
VERSION = re.compile(r"^[A-Za-z0-9_.\-]+$")
LIMITS = {"job_name": 64, "class_name": 100, "version": 32, "group_name": 64, "description": 2000}
"""The longest each name or text may be, in characters (the web forms say so too)."""


def check_length(field: str, value: str) -> None:
    """Refuse a name or text longer than ``LIMITS[field]`` characters.

    Raises:
        FddError: naming the field, its limit and the length given.
    """
    limit = LIMITS[field]
    if len(value or "") > limit:
        raise FddError(f"{field} may be at most {limit} characters long, got {len(value)}: shorten it",
                       code="field.too_long", params={"field": field, "limit": limit, "length": len(value)})


def split_model(label: str) -> tuple[str, str]:
    """``Class:version`` → ``(class_name, version)``.

    Raises:
        FddError: the label is not of that form.
    """
    class_name, sep, version = label.partition(":")
    if not sep or not class_name or not version:
        raise FddError(f"name a model as Class:version (e.g. SolubilityMLP:1.0), got {label!r}", code="model.label_invalid",
                       params={"label": label})
    return class_name, version


def check_version(version: str) -> None:
    """Refuse a model version with characters other than letters, digits, ``.``, ``-`` and ``_``.

    Raises:
        FddError: naming the version.
    """
    if not VERSION.match(version or ""):
        raise FddError(f"version {version!r} may use letters, digits, '.', '-' and '_'", code="model.version_invalid",
                       params={"version": version})
