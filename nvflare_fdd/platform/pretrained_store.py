"""The pretrained-model store's part of ``SqlStorage``: models whose files are content-addressed blobs.

A model of several GB must not hold the database's write lock while it is stored (on SQLite
every transaction takes it): each file is hashed first, outside any transaction; content the
store already has is only referenced; new content is written as a *staged* blob, a few chunks per
transaction, and a last short transaction gives the staged blobs their sha256 and records the
model. A staged blob that an interrupted add left behind is removed by a later add after a day.
Reading is a short transaction per chunk as well, so a site's download never blocks writers.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nvflare_fdd.platform.blobs import CHUNK_BYTES, drop_blob_if_unused, file_sha256
from nvflare_fdd.platform.contracts import Progress
from nvflare_fdd.platform.errors import NotFound, StorageConflict
from nvflare_fdd.platform.records import PretrainedFile, PretrainedModel
from nvflare_fdd.platform.schema import BlobChunkRow, BlobRow, PretrainedFileRow, PretrainedModelRow, UserRow

STAGED = "staged:"
STAGED_MAX_AGE = 24 * 3600.0
CHUNKS_PER_TRANSACTION = 4
FINALIZE_ATTEMPTS = 3


def _missing(name: str) -> NotFound:
    from nvflare_fdd.pretrained.manifest import missing_message

    return NotFound(missing_message(name))


class PretrainedStore:
    """Mixed into ``SqlStorage``: needs its ``_session()``."""

    _session: Callable

    def add_pretrained(self, owner: str, name: str, kind: str, files: Mapping[str, Path],
                       progress: Progress | None = None) -> PretrainedModel:  # fmt: skip
        """Store a model: ``files`` maps each relative path (``/``-separated, checked by the caller) to a file.

        Raises:
            StorageConflict: the name is taken (also when another add took it meanwhile), or a file changed
                while it was stored.
            NotFound: no such owner.
        """
        from nvflare_fdd.pretrained.manifest import manifest_digest

        self._refuse_taken(name)
        self._drop_stale_staged()
        tell = progress or (lambda stage, path, nbytes: None)
        hashes = {}
        for path, source in files.items():
            tell("hash", path, 0)  # an empty file is counted too
            hashes[path] = file_sha256(source, partial(tell, "hash", path))
        entries = tuple(PretrainedFile(path, size, sha) for path, (sha, size) in sorted(hashes.items()))
        digest = manifest_digest(kind, entries)
        staged: dict[str, int] = {}  # sha256 → staged blob id
        try:
            for _attempt in range(FINALIZE_ATTEMPTS):
                for path, (sha, size) in sorted(hashes.items()):
                    tell("store", path, 0)
                    if sha not in staged and not self._blob_exists(sha):
                        staged[sha] = self._stage_blob(path, files[path], sha, partial(tell, "store", path))
                    else:
                        tell("store", path, size)
                try:
                    return self._record_pretrained(owner, name, kind, digest, entries, staged)
                except _BlobGone:
                    tell = lambda stage, path, nbytes: None  # noqa: E731 (stored again quietly)
                    continue
            raise StorageConflict(f"could not store {name!r}: files it shares with other models were removed meanwhile; "
                                  "run the add again")  # fmt: skip
        finally:
            self._drop_staged(list(staged.values()))

    def list_pretrained(self) -> list[PretrainedModel]:
        """Every model in the store, by name."""
        with self._session() as session:
            rows = session.scalars(select(PretrainedModelRow).order_by(PretrainedModelRow.name)).all()
            return [_pretrained(session, row) for row in rows]

    def get_pretrained(self, name: str) -> PretrainedModel:
        """One model with its manifest.

        Raises:
            NotFound: the store has no such name (the message says how to add it).
        """
        with self._session() as session:
            row = session.scalars(select(PretrainedModelRow).where(PretrainedModelRow.name == name)).first()
            if row is None:
                raise _missing(name)
            return _pretrained(session, row)

    def remove_pretrained(self, name: str) -> None:
        """Remove a model from the store; content no other model, file or artefact uses is deleted."""
        with self._session() as session:
            row = session.scalars(select(PretrainedModelRow).where(PretrainedModelRow.name == name)).first()
            if row is None:
                raise _missing(name)
            blobs = set(session.scalars(select(PretrainedFileRow.blob_id).where(PretrainedFileRow.model_id == row.id)))
            session.execute(delete(PretrainedFileRow).where(PretrainedFileRow.model_id == row.id))
            session.delete(row)
            session.flush()
            for blob_id in blobs:
                drop_blob_if_unused(session, blob_id)

    def pretrained_chunks(self, sha256: str) -> Iterator[bytes]:
        """The content with this sha256, chunk by chunk, each chunk read in a transaction of its own.

        Raises:
            NotFound: no such content (or it was removed while being read).
        """
        with self._session() as session:
            blob_id = session.scalar(select(BlobRow.id).where(BlobRow.sha256 == sha256))
            if blob_id is None:
                raise NotFound(f"the store has no content {sha256}; its model was removed")
            seqs = session.scalars(select(BlobChunkRow.seq).where(BlobChunkRow.blob_id == blob_id)
                                   .order_by(BlobChunkRow.seq)).all()  # fmt: skip
        for seq in seqs:
            with self._session() as session:
                data = session.scalar(select(BlobChunkRow.data).where(BlobChunkRow.blob_id == blob_id, BlobChunkRow.seq == seq))
            if data is None:
                raise NotFound(f"the store's content {sha256} was removed while it was being read")
            yield data

    def write_pretrained_file(self, name: str, path: str, destination: Path) -> Path:
        """Write one file of a model (its relative ``path``) to ``destination``, chunk by chunk."""
        entry = next((f for f in self.get_pretrained(name).files if f.path == path), None)
        if entry is None:
            raise NotFound(f"pretrained model {name!r} has no file {path!r}")
        with open(destination, "wb") as handle:
            for chunk in self.pretrained_chunks(entry.sha256):
                handle.write(chunk)
        return destination

    # -- inside --------------------------------------------------------------------------------

    def _refuse_taken(self, name: str) -> None:
        with self._session() as session:
            if session.scalar(select(PretrainedModelRow.id).where(PretrainedModelRow.name == name)) is not None:
                raise StorageConflict(f"a pretrained model named {name!r} already exists; remove it first "
                                      f"(`fdd pretrained remove {name}`) or choose another name")  # fmt: skip

    def _blob_exists(self, sha: str) -> bool:
        with self._session() as session:
            return session.scalar(select(BlobRow.id).where(BlobRow.sha256 == sha)) is not None

    def _stage_blob(self, path: str, source: Path, sha: str, on_bytes: Callable[[int], None]) -> int:
        """Write a file as a staged blob, a few chunks per transaction; checks it still has the hashed content."""
        with self._session() as session:
            blob = BlobRow(sha256=f"{STAGED}{int(time.time())}:{uuid.uuid4().hex}", size=0)
            session.add(blob)
            session.flush()
            blob_id = blob.id
        digest, size, seq, done = hashlib.sha256(), 0, 0, False
        with open(source, "rb") as handle:
            while not done:
                with self._session() as session:  # a few chunks, then the write lock is free for others
                    for _ in range(CHUNKS_PER_TRANSACTION):
                        chunk = handle.read(CHUNK_BYTES)
                        if not chunk:
                            done = True
                            break
                        session.execute(insert(BlobChunkRow).values(blob_id=blob_id, seq=seq, data=chunk))
                        digest.update(chunk)
                        size, seq = size + len(chunk), seq + 1
                        on_bytes(len(chunk))
        if digest.hexdigest() != sha:
            self._drop_staged([blob_id])
            raise StorageConflict(f"{source} ({path}) changed while it was being stored; run the add again")
        with self._session() as session:
            session.get(BlobRow, blob_id).size = size
        return blob_id

    def _record_pretrained(self, owner: str, name: str, kind: str, digest: str, entries: tuple[PretrainedFile, ...],
                           staged: dict[str, int]) -> PretrainedModel:  # fmt: skip
        """One short transaction: staged blobs get their sha256 (or give way to the same content stored
        meanwhile), and the model and its files are recorded."""
        renamed: list[str] = []
        try:
            with self._session() as session:
                owner_row = session.scalars(select(UserRow).where(UserRow.name == owner)).first()
                if owner_row is None:
                    raise NotFound(f"no user named {owner!r}")
                blob_ids: dict[str, int] = {}
                for entry in entries:
                    if entry.sha256 in blob_ids:
                        continue
                    existing = session.scalar(select(BlobRow.id).where(BlobRow.sha256 == entry.sha256))
                    if existing is None and entry.sha256 not in staged:
                        raise _BlobGone()
                    if existing is None:
                        existing = staged[entry.sha256]
                        session.get(BlobRow, existing).sha256 = entry.sha256
                        renamed.append(entry.sha256)
                    blob_ids[entry.sha256] = existing
                row = PretrainedModelRow(name=name, kind=kind, digest=digest, size=sum(e.size for e in entries),
                                         owner_id=owner_row.id, created_at=datetime.now(UTC))  # fmt: skip
                session.add(row)
                session.flush()
                for entry in entries:
                    session.add(PretrainedFileRow(model_id=row.id, path=entry.path, blob_id=blob_ids[entry.sha256],
                                                  size=entry.size))  # fmt: skip
                session.flush()
                model = _pretrained(session, row)
        except IntegrityError:
            self._refuse_taken(name)  # the name was taken meanwhile: say so
            raise _BlobGone() from None  # else the same content was stored or removed meanwhile: once more
        for sha in renamed:  # they are the model's now
            del staged[sha]
        return model

    def _drop_staged(self, blob_ids: list[int]) -> None:
        """Delete staged blobs that were not given a sha256 (an add that failed or found the content stored)."""
        if not blob_ids:
            return
        with self._session() as session:
            for blob_id in blob_ids:
                row = session.get(BlobRow, blob_id)
                if row is not None and row.sha256.startswith(STAGED):
                    session.execute(delete(BlobChunkRow).where(BlobChunkRow.blob_id == blob_id))
                    session.delete(row)

    def _drop_stale_staged(self) -> None:
        """Staged blobs older than a day: left by an add that was killed."""
        with self._session() as session:
            rows = session.execute(select(BlobRow.id, BlobRow.sha256).where(BlobRow.sha256.like(f"{STAGED}%"))).all()
        stale = [blob_id for blob_id, key in rows if _staged_at(key) < time.time() - STAGED_MAX_AGE]
        self._drop_staged(stale)


class _BlobGone(Exception):
    """Content the add relied on is no longer stored (removed, or replaced by the same content meanwhile)."""


def _staged_at(key: str) -> float:
    try:
        return float(key.split(":")[1])
    except (IndexError, ValueError):
        return 0.0


def _pretrained(session: Session, row: PretrainedModelRow) -> PretrainedModel:
    files = session.execute(
        select(PretrainedFileRow.path, PretrainedFileRow.size, BlobRow.sha256)
        .join(BlobRow, BlobRow.id == PretrainedFileRow.blob_id)
        .where(PretrainedFileRow.model_id == row.id).order_by(PretrainedFileRow.path)
    ).all()  # fmt: skip
    return PretrainedModel(
        name=row.name, kind=row.kind, digest=row.digest, size=row.size, owner=session.get_one(UserRow, row.owner_id).name,
        created_at=row.created_at, files=tuple(PretrainedFile(path, size, sha) for path, size, sha in files),
    )  # fmt: skip
