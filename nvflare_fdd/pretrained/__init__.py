"""The pretrained-model store: what ``model_manager.download_model(name)`` gives user code.

Models (a folder laid out like a Hugging Face model repository, or one file) are added with
``fdd pretrained add`` or the web models page and kept in the platform's storage, content-
addressed. A site gets one through NVFlare itself: ``nvflare_fdd.pretrained.site.fetch_pretrained``
asks the job's server, whose ``PretrainedServer`` component streams it from storage, into the
site's cache (``nvflare_fdd.pretrained.cache``), verified. The server fills the same cache straight
from storage with ``materialize_pretrained``. This module imports neither NVFlare nor the database.
"""

from __future__ import annotations

from nvflare_fdd.pretrained.manifest import (
    Manifest,
    MissingPretrained,
    PretrainedError,
    check_name,
    check_relative_path,
    scan_source,
)

__all__ = ["Manifest", "MissingPretrained", "PretrainedError", "check_name", "check_relative_path", "scan_source"]
