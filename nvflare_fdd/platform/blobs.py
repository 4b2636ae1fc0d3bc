"""File contents in the platform database: stored once per sha256, in chunks, streamed in and out.

A blob is used by model files, job artefacts and pretrained-model files; it is dropped when the
last of them goes. Nothing here holds a whole file in memory: one chunk at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nvflare_fdd.platform.schema import ArtefactRow, BlobChunkRow, BlobRow, ModelFileRow, PretrainedFileRow

CHUNK_BYTES = 8 << 20


def file_sha256(path: Path, on_bytes: Callable[[int], None] | None = None) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a file, read in chunks; ``on_bytes`` is told each chunk's length."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            size += len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest(), size


def put_blob(session: Session, path: Path, known: tuple[str, int] | None = None,
             on_bytes: Callable[[int], None] | None = None) -> tuple[int, int]:  # fmt: skip
    """Store a file's content once (by sha256), in chunks; returns ``(blob id, size)``.

    Args:
        known: the file's ``(sha256, size)`` when the caller already hashed it.
        on_bytes: told the length of each chunk written (progress of big uploads).
    """
    sha, size = known or file_sha256(path)
    existing = session.scalars(select(BlobRow).where(BlobRow.sha256 == sha)).first()
    if existing is not None:
        if on_bytes is not None:
            on_bytes(size)
        return existing.id, existing.size
    blob = BlobRow(sha256=sha, size=size)
    try:
        with session.begin_nested():
            session.add(blob)
            session.flush()
    except IntegrityError:  # another writer stored the same content meanwhile: use theirs
        existing = session.scalars(select(BlobRow).where(BlobRow.sha256 == sha)).one()
        if on_bytes is not None:
            on_bytes(size)
        return existing.id, existing.size
    with open(path, "rb") as handle:
        for seq, chunk in enumerate(iter(lambda: handle.read(CHUNK_BYTES), b"")):
            session.execute(insert(BlobChunkRow).values(blob_id=blob.id, seq=seq, data=chunk))
            if on_bytes is not None:
                on_bytes(len(chunk))
    return blob.id, size


def drop_blob_if_unused(session: Session, blob_id: int) -> None:
    """Delete a blob no model file, artefact or pretrained-model file uses any more."""
    used = 0
    for table in (ArtefactRow, ModelFileRow, PretrainedFileRow):
        used += session.execute(select(func.count()).select_from(table).where(table.blob_id == blob_id)).scalar_one()
    if not used:
        session.execute(delete(BlobChunkRow).where(BlobChunkRow.blob_id == blob_id))
        session.execute(delete(BlobRow).where(BlobRow.id == blob_id))


def blob_chunks(session: Session, blob_id: int) -> Iterator[bytes]:
    """A blob's chunks in order, one in memory at a time (columns, not entities: nothing piles up in the session)."""
    seqs = session.scalars(select(BlobChunkRow.seq).where(BlobChunkRow.blob_id == blob_id).order_by(BlobChunkRow.seq)).all()
    for seq in seqs:
        yield session.execute(select(BlobChunkRow.data).where(BlobChunkRow.blob_id == blob_id, BlobChunkRow.seq == seq)).scalar_one()
