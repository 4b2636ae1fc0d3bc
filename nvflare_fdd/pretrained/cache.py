"""The pretrained-model cache of a site or the server: one folder per model content, never half-written.

Layout of a cache folder::

    <digest>/                 a model: its files (a one-file model: that file alone)
    .staging/<digest>/        a model being fetched: each file written as <path>.part, renamed when verified
    .<digest>.lock            taken by whoever fills <digest>/ (jobs and sites sharing the cache wait)
    .trash/                   damaged copies on their way out

``<digest>`` is the sha256 of the model's manifest. Every file is checked against its sha256 as it is
written; the whole folder is renamed into place only when every file is there, so a half-downloaded
model is never visible. A cached model is checked again (every file there, with its size) each time it
is asked for; a damaged one is removed and fetched again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from nvflare_fdd.envs import file_lock
from nvflare_fdd.platform.records import PretrainedFile
from nvflare_fdd.pretrained.manifest import Manifest, MissingPretrained, PretrainedError, check_name, check_relative_path

CACHE_ENV = "FDD_PRETRAINED_CACHE"
STAGING = ".staging"
TRASH = ".trash"
PART = ".part"

Fill = Callable[[Path, Sequence[PretrainedFile]], None]
"""``fill(staging, files)`` writes each of ``files`` under ``staging`` with ``VerifiedFile``."""


def default_cache_dir() -> Path:
    """``$FDD_PRETRAINED_CACHE``, else ``~/.cache/nvflare-fdd/pretrained``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nvflare-fdd" / "pretrained").expanduser()


def model_path(cache_dir: Path, manifest: Manifest) -> Path:
    """Where ``manifest``'s model is in ``cache_dir``: its folder, or for a one-file model that file."""
    folder = Path(cache_dir).resolve() / manifest.digest
    return folder if manifest.kind == "folder" else folder / manifest.files[0].path


def cached(cache_dir: Path, manifest: Manifest) -> Path | None:
    """The model's path when it is in the cache whole (every file there, with its size), else ``None``."""
    folder = Path(cache_dir) / manifest.digest
    if not folder.is_dir():
        return None
    for entry in manifest.files:
        try:
            if (folder / entry.path).stat().st_size != entry.size:
                return None
        except OSError:
            return None
    return model_path(cache_dir, manifest)


def ensure_cached(manifest: Manifest, cache_dir: Path, fill: Fill, log: Callable[[str], None] = lambda line: None) -> Path:
    """The model's path in ``cache_dir``, filled by ``fill`` first unless it is there already.

    Safe from several threads and processes at once: one fills, under the model's lock; the others wait
    and then find it. Files a failed attempt verified in the staging folder are kept for the next one.

    Raises:
        PretrainedError: ``fill`` failed (the staging folder keeps what was verified), or left a file out.
    """
    cache_dir = Path(cache_dir)
    found = cached(cache_dir, manifest)
    if found is not None:
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(cache_dir / f".{manifest.digest}.lock"):
        found = cached(cache_dir, manifest)
        if found is not None:  # another job or site filled it while we waited
            return found
        target = cache_dir / manifest.digest
        if target.exists():
            log(f"pretrained model {manifest.name}: the cached copy is damaged; fetching it again")
            _discard(cache_dir, target)
        staging = cache_dir / STAGING / manifest.digest
        staging.mkdir(parents=True, exist_ok=True)
        missing = [entry for entry in manifest.files if not staged_whole(staging, entry)]
        if missing:
            fill(staging, missing)
        left_out = [entry.path for entry in manifest.files if not staged_whole(staging, entry)]
        if left_out:
            raise PretrainedError(f"pretrained model {manifest.name!r}: {len(left_out)} file(s) did not arrive: "
                                  f"{', '.join(left_out[:5])}")  # fmt: skip
        for part in staging.rglob(f"*{PART}"):
            part.unlink()
        os.rename(staging, target)
        log(f"pretrained model {manifest.name}: {len(manifest.files)} file(s), {manifest.size} bytes, cached at {target}")
    return model_path(cache_dir, manifest)


class VerifiedFile:
    """One file of a model written into a staging folder: hashed as it is written, renamed into place only if its
    size and sha256 are the manifest's.

    Args:
        staging: the model's staging folder.
        name: the model's name (for messages).
        entry: the file's manifest entry (its path is checked again here).
    """

    def __init__(self, staging: Path, name: str, entry: PretrainedFile):
        self.entry = entry
        self.name = name
        self.final = Path(staging) / check_relative_path(entry.path)
        self.part = self.final.with_name(self.final.name + PART)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.part, "wb")
        self._digest = hashlib.sha256()
        self.written = 0

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.entry.size:
            self.abort()
            raise PretrainedError(f"pretrained model {self.name!r}: {self.entry.path} is longer than its "
                                  f"{self.entry.size} bytes")  # fmt: skip
        self._handle.write(data)
        self._digest.update(data)
        self.written += len(data)

    def finish(self) -> Path:
        """Check the file against its manifest entry and rename it into place.

        Raises:
            PretrainedError: the size or sha256 differs (the partial file is removed).
        """
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        sha = self._digest.hexdigest()
        if self.written != self.entry.size or sha != self.entry.sha256:
            self.part.unlink(missing_ok=True)
            raise PretrainedError(
                f"pretrained model {self.name!r}: {self.entry.path} arrived damaged ({self.written} bytes, sha256 {sha}; "
                f"expected {self.entry.size} bytes, sha256 {self.entry.sha256})"
            )
        os.chmod(self.part, 0o444)
        os.replace(self.part, self.final)
        return self.final

    def abort(self) -> None:
        """Close and remove the partial file."""
        if not self._handle.closed:
            self._handle.close()
        self.part.unlink(missing_ok=True)

    def __enter__(self) -> VerifiedFile:
        return self

    def __exit__(self, kind, value, trace) -> None:
        if kind is not None:
            self.abort()
        elif not self._handle.closed:
            self.finish()


def materialize_pretrained(name: str, storage, cache_dir: Path) -> Path:
    """The server's copy of pretrained model ``name`` in ``cache_dir`` (same layout as a site's), filled straight
    from ``storage`` (a ``SqlStorage``) unless it is cached already. Safe from several threads and processes.

    Returns:
        The absolute path of the model's folder, or of its file for a one-file model.

    Raises:
        MissingPretrained: the store has no model ``name`` (the message names it and how to add it).
        PretrainedError: a file's content in storage does not match its sha256.
    """
    from nvflare_fdd.platform.errors import NotFound

    check_name(name)
    try:
        manifest = Manifest.of(storage.get_pretrained(name))
    except NotFound:
        raise MissingPretrained(name) from None

    def fill(staging: Path, files: Sequence[PretrainedFile]) -> None:
        for entry in files:
            with VerifiedFile(staging, name, entry) as out:
                for chunk in storage.pretrained_chunks(entry.sha256):
                    out.write(chunk)

    return ensure_cached(manifest, cache_dir, fill)


def from_this_machine(name: str, cache_dir: Path | None = None) -> Path:
    """``download_model`` outside a job (``fdd check``): pretrained model ``name`` from this machine's platform store
    (``$FDD_STORAGE_URL``, else the platform's configured storage), into ``cache_dir`` (default: the cache).

    Raises:
        MissingPretrained: the store has no model ``name``, or this machine has no store.
    """
    from nvflare_fdd.platform.config import load_config
    from nvflare_fdd.platform.storage import SqlStorage

    check_name(name)
    url = load_config().storage_url  # $FDD_STORAGE_URL over platform.yaml
    if store_absent(url):
        raise MissingPretrained(name)
    storage = SqlStorage(url)
    try:
        return materialize_pretrained(name, storage, Path(cache_dir or default_cache_dir()))
    finally:
        storage.close()


def store_absent(url: str) -> bool:
    """Whether ``url`` is a SQLite database that does not exist (nothing was ever added on this machine)."""
    if not url.startswith("sqlite"):
        return False
    from sqlalchemy import make_url

    database = make_url(url).database
    if not database:
        return False
    return database != ":memory:" and not os.path.exists(os.path.expanduser(database))


def staged_whole(staging: Path, entry: PretrainedFile) -> bool:
    """Whether ``entry`` is in ``staging`` already (verified: only a verified file gets its final name)."""
    try:
        return (staging / entry.path).stat().st_size == entry.size
    except OSError:
        return False


def _discard(cache_dir: Path, folder: Path) -> None:
    """Move a damaged model folder out of sight at once, then delete it."""
    trash = cache_dir / TRASH
    trash.mkdir(exist_ok=True)
    moved = trash / f"{folder.name}-{uuid.uuid4().hex[:8]}"
    os.rename(folder, moved)
    shutil.rmtree(moved, ignore_errors=True)
