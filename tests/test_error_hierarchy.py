"""errors.py lists the whole error hierarchy: a new FddError subclass anywhere in the package must be named there."""

from __future__ import annotations

import importlib
import pkgutil

import nvflare_fdd
from nvflare_fdd import errors
from nvflare_fdd.errors import FddError


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_class_is_listed_in_errors_py():
    for module in pkgutil.walk_packages(nvflare_fdd.__path__, "nvflare_fdd."):
        importlib.import_module(module.name)
    classes = {cls for cls in _subclasses(FddError) if cls.__module__.startswith("nvflare_fdd.")}
    assert len(classes) >= 20
    doc = errors.__doc__ or ""
    missing = sorted(f"{cls.__module__}.{cls.__name__}" for cls in classes
                     if (cls.__name__ if cls.__module__ == "nvflare_fdd.errors" else f"{cls.__module__}.{cls.__name__}")
                     not in doc and f"its ``{cls.__name__}``" not in doc)  # fmt: skip
    assert missing == [], f"add these to the hierarchy in nvflare_fdd/errors.py: {missing}"
