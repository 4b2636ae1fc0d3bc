"""The contracts of stored file content and of the pretrained-model store."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from nvflare_fdd.platform.records import PretrainedModel

Progress = Callable[[str, str, int], None]
"""``progress(stage, path, nbytes)``: ``stage`` is ``hash`` or ``store``; told each chunk's length as it is done."""


class BlobRepository(Protocol):
    """Stored file content, addressed by its sha256 (what sites download pretrained models by)."""

    def pretrained_chunks(self, sha256: str) -> Iterator[bytes]:
        """The content with this sha256, chunk by chunk, each chunk read in a transaction of its own
        (a long download never blocks writers).

        Raises:
            NotFound: no such content, or it was removed while being read.
        """
        ...



class PretrainedRepository(Protocol):
    """The pretrained-model store: models shared by every user, named uniquely, their files content-addressed."""

    def add_pretrained(self, owner: str, name: str, kind: str, files: Mapping[str, Path],
                       progress: Progress | None = None) -> PretrainedModel:  # fmt: skip
        """Store a model: ``files`` maps each relative path (``/``-separated, checked by the caller) to a file.

        Content the store already has is referenced, not stored again. A model of several GB must not
        keep other writers waiting while it is stored.

        Args:
            kind: ``folder`` or ``file`` (``PretrainedModel.kind``).
            progress: told of each chunk as it is hashed and stored.

        Raises:
            StorageConflict: the name is taken (also when another add took it meanwhile), or a file changed
                while it was stored.
            NotFound: no such owner.
        """
        ...

    def list_pretrained(self) -> list[PretrainedModel]:
        """Every model in the store, by name."""
        ...

    def get_pretrained(self, name: str) -> PretrainedModel:
        """One model with its manifest.

        Raises:
            NotFound: no such name (the message says how to add it).
        """
        ...

    def remove_pretrained(self, name: str) -> None:
        """Remove a model from the store; content no other model, model file or artefact uses is deleted.

        Raises:
            NotFound: no such name.
        """
        ...

    def write_pretrained_file(self, name: str, path: str, destination: Path) -> Path:
        """Write one file of a model (its relative ``path``) to ``destination`` and return ``destination``.

        Raises:
            NotFound: no such model, or it has no such file.
        """
        ...
