"""errors.py is the error hierarchy: every FddError subclass of the package is defined there and named in its list.

The only ones defined elsewhere are those bound to their module's own data (``RoundError`` to the client round's
phases, ``MissingPretrained`` to the pretrained store's message), and the list names their module.
"""

from __future__ import annotations

import importlib
import pkgutil

import nvflare_fdd
from nvflare_fdd import errors
from nvflare_fdd.errors import FddError

DEFINED_BESIDE_THEIR_DATA = {"nvflare_fdd.client.phases.RoundError", "nvflare_fdd.pretrained.manifest.MissingPretrained"}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _package_errors() -> set[type]:
    for module in pkgutil.walk_packages(nvflare_fdd.__path__, "nvflare_fdd."):
        importlib.import_module(module.name)
    return {cls for cls in _subclasses(FddError) if cls.__module__.startswith("nvflare_fdd.")}


def test_every_error_class_is_defined_in_errors_py():
    classes = _package_errors()
    assert len(classes) >= 20
    elsewhere = sorted(f"{cls.__module__}.{cls.__name__}" for cls in classes if cls.__module__ != "nvflare_fdd.errors")
    assert elsewhere == sorted(DEFINED_BESIDE_THEIR_DATA), "define new errors in nvflare_fdd/errors.py"


def test_every_error_class_is_listed_in_the_hierarchy():
    doc = errors.__doc__ or ""
    missing = sorted(f"{cls.__module__}.{cls.__name__}" for cls in _package_errors()
                     if (cls.__name__ if cls.__module__ == "nvflare_fdd.errors" else f"{cls.__module__}.{cls.__name__}")
                     not in doc)  # fmt: skip
    assert missing == [], f"add these to the hierarchy in nvflare_fdd/errors.py: {missing}"
