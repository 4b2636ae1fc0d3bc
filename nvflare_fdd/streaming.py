"""Model tensors streamed, chunk by chunk, over NVFlare's download service (DESIGN §5).

A large model does not travel inside the task or the reply. The sender offers it
through its cell's download service (``nvflare.fuel.f3.streaming``) and puts in the
message only a reference: its cell's FQCN, the download's id, and the tensors' layout
(names, dtypes and shapes). The receiver pulls the tensors in chunks of at most
``CHUNK_BYTES``, one tensor after the other, and hands each chunk on as it comes:

- the server adds a site's update into its ``WeightedAccumulator`` chunk by chunk
  (``AccumulatorSink``), so no site's whole update is ever in its memory;
- a site writes the global model straight into the safetensors file its user code
  reads (``FileSink``), so the model is never in the NVFlare client's memory either.

Each side serves from what it already holds: the server from the global model's
arrays (``ArraysSource``), a site from its private copy of the user code's update file
(``FileSource``), and only the byte ranges of the tensors it checked; a site serves its update to the
server's cell alone. A receiver checks
each chunk against the layout it was told (its position, its size, whole elements) and
that every tensor arrived whole; the layout itself is checked by the caller against
the model (the server's spec, or the global model a site received).

The chunk protocol: a state ``{"t": tensor index, "b": byte offset}`` names the next
chunk; the producer returns that chunk and the position after it. The receiver keeps
its own position and refuses a chunk for any other, so a sender cannot place bytes
elsewhere; a state that is echoed back unchanged lets NVFlare pipeline the requests.
"""

from __future__ import annotations

import json
import os
import struct
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from nvflare_fdd.errors import StreamError

CHUNK_BYTES = 8 << 20
"""A chunk's largest size; every chunk holds whole elements of one tensor."""
OFFER_TIMEOUT = 3600.0
"""Seconds an offer stays open without any receiver asking for a chunk."""
REQUEST_TIMEOUT = 120.0
"""Seconds a receiver waits for one chunk."""
MAX_HEADER_BYTES = 100 << 20

# safetensors' dtype names; numpy has no bfloat16 (``transport.to_numpy`` sends it as float32)
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32",
              "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}  # fmt: skip
_NP_DTYPES = {value: key for key, value in _ST_DTYPES.items()}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a streamed model: its name, numpy dtype and shape (``shape``/``dtype`` as an array's)."""

    key: str
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


Layout = Sequence[TensorInfo]


def layout_of(arrays: Mapping[str, np.ndarray]) -> list[TensorInfo]:
    """The layout of ``arrays``, in their order."""
    return [TensorInfo(key, np.dtype(value.dtype), tuple(int(n) for n in value.shape)) for key, value in arrays.items()]


def layout_bytes(layout: Layout) -> int:
    return sum(info.nbytes for info in layout)


def reference(ref: Mapping[str, Any], what: str) -> tuple[str, str, list[TensorInfo]]:
    """``(fqcn, download id, layout)`` of a reference a message carried; every part is checked.

    Raises:
        StreamError: the reference is malformed (naming ``what`` it was for).
    """
    if not isinstance(ref, Mapping):
        raise StreamError(f"the {what}'s stream reference is not a mapping")
    fqcn, ref_id, tensors = ref.get("fqcn"), ref.get("ref"), ref.get("tensors")
    if not isinstance(fqcn, str) or not fqcn or not isinstance(ref_id, str) or not ref_id:
        raise StreamError(f"the {what}'s stream reference has no sender or download id")
    if not isinstance(tensors, list):
        raise StreamError(f"the {what}'s stream reference has no tensor list")
    layout, seen = [], set()
    for entry in tensors:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 3 and isinstance(entry[0], str)
                and entry[1] in _NP_DTYPES and isinstance(entry[2], (list, tuple))
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in entry[2])):  # fmt: skip
            raise StreamError(f"the {what}'s stream reference has a malformed tensor entry")
        if entry[0] in seen:
            raise StreamError(f"the {what}'s stream reference names tensor {entry[0]!r} twice")
        seen.add(entry[0])
        layout.append(TensorInfo(entry[0], np.dtype(entry[1]), tuple(entry[2])))
    return fqcn, ref_id, layout


def reference_meta(fqcn: str, ref_id: str, layout: Layout) -> dict[str, Any]:
    """What a message carries of an offer (plain data: strings, numbers, lists)."""
    return {"fqcn": fqcn, "ref": ref_id, "tensors": [[info.key, info.dtype.name, list(info.shape)] for info in layout]}


# -- the chunk protocol --------------------------------------------------------------------------


def _position(layout: Layout, tensor: int, offset: int) -> tuple[int, int]:
    """The first chunk position at or after ``(tensor, offset)``: empty tensors and finished ones are skipped."""
    while tensor < len(layout) and offset >= layout[tensor].nbytes:
        tensor, offset = tensor + 1, 0
    return tensor, offset


def _state(tensor: int, offset: int) -> dict[str, int]:
    return {"t": tensor, "b": offset}


def _chunk_size(info: TensorInfo, offset: int) -> int:
    whole = CHUNK_BYTES - CHUNK_BYTES % info.dtype.itemsize
    return min(whole, info.nbytes - offset)


class _Source:
    """Serves ``layout``'s tensors in chunks; subclasses read the bytes.

    ``receivers``: the only cells (FQCNs) it serves; ``None`` serves any that has the download's id.
    """

    def __init__(self, layout: Layout, receivers: Collection[str] | None = None):
        self.layout = list(layout)
        self.receivers = frozenset(receivers) if receivers is not None else None

    def read(self, index: int, offset: int, size: int) -> bytes:
        raise NotImplementedError

    def produce(self, state: dict, requester: str) -> tuple[str, Any, dict]:
        from nvflare.fuel.f3.streaming.download_service import ProduceRC

        if self.receivers is not None and requester not in self.receivers:
            return ProduceRC.ERROR, None, {}
        tensor, offset = (state or {}).get("t", 0), (state or {}).get("b", 0)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (tensor, offset)):
            return ProduceRC.ERROR, None, {}
        tensor, offset = _position(self.layout, tensor, offset)
        if tensor >= len(self.layout):
            return ProduceRC.EOF, None, {}
        info = self.layout[tensor]
        if offset % info.dtype.itemsize:
            return ProduceRC.ERROR, None, {}
        size = _chunk_size(info, offset)
        return ProduceRC.OK, self.read(tensor, offset, size), _state(*_position(self.layout, tensor, offset + size))

    def transaction_done(self, transaction_id: str, status: str) -> None:
        self.close()

    def close(self) -> None:
        """Let go of what it serves (NVFlare calls ``transaction_done`` once every receiver has it, or it expired)."""


class ArraysSource(_Source):
    """Serves numpy arrays (the server's global model) without copying them whole."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self._bytes = [np.ascontiguousarray(value).reshape(-1).view(np.uint8) for value in arrays.values()]
        super().__init__(layout_of(arrays))

    def read(self, index: int, offset: int, size: int) -> bytes:
        if not self._bytes:
            raise StreamError("the global model was already withdrawn")
        return self._bytes[index][offset : offset + size].tobytes()

    def close(self) -> None:
        self._bytes = []


class FileSource(_Source):
    """Serves the checked tensors of a safetensors file (``read_layout``), and removes the file when done."""

    def __init__(self, path: Path, layout: Layout, offsets: Sequence[int], receivers: Collection[str] | None = None):
        self._path = Path(path)
        self._offsets = list(offsets)
        self._fd: int | None = os.open(self._path, os.O_RDONLY)
        super().__init__(layout, receivers)

    def read(self, index: int, offset: int, size: int) -> bytes:
        if self._fd is None:
            raise StreamError("the update was already withdrawn")
        return os.pread(self._fd, size, self._offsets[index] + offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._path.unlink(missing_ok=True)


def _as_downloadable(source: _Source):
    """``source`` as NVFlare's ``Downloadable`` (imported late: ``import nvflare_fdd`` does not import NVFlare)."""
    from nvflare.fuel.f3.streaming.download_service import Downloadable

    class _Downloadable(Downloadable):
        def __init__(self):
            super().__init__(source.layout)

        def produce(self, state, requester):
            return source.produce(state, requester)

        def transaction_done(self, transaction_id, status):
            source.transaction_done(transaction_id, status)

    return _Downloadable()


class Offer:
    """An open download of one model through ``cell``: ``meta`` goes into the message, ``close()`` withdraws it."""

    def __init__(self, cell: Any, source: _Source, num_receivers: int, timeout: float = OFFER_TIMEOUT):
        from nvflare.fuel.f3.streaming.obj_downloader import ObjectDownloader

        self._source = source
        self._downloader = ObjectDownloader(cell=cell, timeout=timeout, num_receivers=num_receivers)
        ref_id = self._downloader.add_object(_as_downloadable(source))
        self.meta = reference_meta(cell.get_fqcn(), ref_id, source.layout)

    def close(self) -> None:
        try:
            self._downloader.delete_transaction()
        finally:
            self._source.close()


# -- receiving ----------------------------------------------------------------------------------


class _Sink:
    """Takes a stream's chunks in order, checking each against the layout; subclasses put the bytes somewhere."""

    supports_pipelining = True  # the state is echoed back unchanged (NVFlare may ask for the next chunk early)

    def __init__(self, layout: Layout):
        self.layout = list(layout)
        self._at = _position(self.layout, 0, 0)
        self.error: str | None = None
        self.complete = False

    def write(self, index: int, offset: int, data: bytes) -> None:
        raise NotImplementedError

    def consume(self, ref_id: str, state: dict, data: Any) -> dict:
        tensor, offset = self._at
        if tensor >= len(self.layout):
            raise StreamError("the sender sent more than the tensors it announced")
        info = self.layout[tensor]
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) != _chunk_size(info, offset):
            raise StreamError(f"tensor {info.key!r}: a chunk of the wrong size at byte {offset}")
        after = _position(self.layout, tensor, offset + len(data))
        if state != _state(*after):
            raise StreamError(f"tensor {info.key!r}: the sender's position does not follow byte {offset}")
        self.write(tensor, offset, bytes(data))  # no copy of bytes, which NVFlare hands over
        self._at = after
        return state

    def download_completed(self, ref_id: str) -> None:
        if self._at[0] < len(self.layout):
            self.error = f"the stream ended before tensor {self.layout[self._at[0]].key!r} was complete"
            raise StreamError(self.error)
        self.complete = True

    def download_failed(self, ref_id: str, reason: str) -> None:
        self.error = reason


def _consumer(sink: _Sink):
    from nvflare.fuel.f3.streaming.download_service import Consumer

    class _Consumer(Consumer):
        supports_pipelining = True

        def consume(self, ref_id, state, data):
            return sink.consume(ref_id, state, data)

        def download_completed(self, ref_id):
            sink.download_completed(ref_id)

        def download_failed(self, ref_id, reason):
            sink.download_failed(ref_id, reason)

    return _Consumer()


def fetch(cell: Any, fqcn: str, ref_id: str, sink: _Sink, abort_signal: Any = None) -> None:
    """Pull a whole stream from ``fqcn`` into ``sink``.

    Raises:
        StreamError: the stream failed or ended early (the reason as NVFlare or the sink gave it).
    """
    from nvflare.fuel.f3.streaming.download_service import download_object

    download_object(from_fqcn=fqcn, ref_id=ref_id, per_request_timeout=REQUEST_TIMEOUT, cell=cell,
                    consumer=_consumer(sink), abort_signal=abort_signal)  # fmt: skip
    if not sink.complete:
        raise StreamError(sink.error or "the stream ended without its tensors")


class FileSink(_Sink):
    """Writes the stream into a safetensors file (header first, then each chunk in place)."""

    def __init__(self, path: Path, layout: Layout):
        super().__init__(layout)
        header, self._offsets = _safetensors_header(self.layout)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(self._fd, header)
        os.ftruncate(self._fd, len(header) + layout_bytes(self.layout))

    def write(self, index: int, offset: int, data: bytes) -> None:
        os.pwrite(self._fd, data, self._offsets[index] + offset)

    def download_completed(self, ref_id: str) -> None:
        self.close()
        super().download_completed(ref_id)

    def download_failed(self, ref_id: str, reason: str) -> None:
        self.close()
        super().download_failed(ref_id, reason)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None  # type: ignore[assignment]


class AccumulatorSink(_Sink):
    """Adds the stream into an accumulator, chunk by chunk: ``add_chunk(tensor index, first element, values)`` is
    ``WeightedAccumulator.begin``'s ``StreamedUpdate.add_chunk``, given a tensor that shares the chunk's bytes."""

    def __init__(self, layout: Layout, add_chunk: Callable[[int, int, Any], None]):
        super().__init__(layout)
        self._add = add_chunk

    def write(self, index: int, offset: int, data: bytes) -> None:
        info = self.layout[index]
        self._add(index, offset // info.dtype.itemsize, _read_only_tensor(np.frombuffer(data, dtype=info.dtype)))


# -- safetensors files ----------------------------------------------------------------------------


def _safetensors_header(layout: Layout) -> tuple[bytes, list[int]]:
    """A safetensors header for ``layout`` (data in its order) and each tensor's absolute byte offset."""
    entries: dict[str, dict] = {}
    starts, start = [], 0
    for info in layout:
        entries[info.key] = {"dtype": _NP_DTYPES[info.dtype.name], "shape": list(info.shape),
                             "data_offsets": [start, start + info.nbytes]}  # fmt: skip
        starts.append(start)
        start += info.nbytes
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data to 8 bytes
    offsets = [8 + len(text) + begin for begin in starts]
    return struct.pack("<Q", len(text)) + text, offsets


def read_layout(path: Path) -> tuple[list[TensorInfo], list[int]]:
    """The tensors of a safetensors file another process wrote, and each one's absolute byte offset.

    Nothing but the header is read; it is checked as untrusted input: known dtypes, whole shapes,
    each tensor's bytes exactly its size, inside the file, and no two tensors sharing bytes.

    Raises:
        StreamError: the file is not a well-formed safetensors file.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise StreamError("not a safetensors file: shorter than its header's length")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise StreamError("not a safetensors file: the header's length is out of bounds")
        try:
            header = json.loads(handle.read(length))
        except ValueError as exc:
            raise StreamError(f"not a safetensors file: the header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise StreamError("not a safetensors file: the header is not an object")
    base, data_size = 8 + length, size - 8 - length
    layout: list[TensorInfo] = []
    spans: list[tuple[int, int, int]] = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = np.dtype(_ST_DTYPES[entry["dtype"]]), tuple(entry["shape"]), entry["data_offsets"]
            info = TensorInfo(key, dtype, shape)
            valid = (all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (*shape, begin, end))
                     and end - begin == info.nbytes and end <= data_size)  # fmt: skip
        except (KeyError, TypeError, ValueError):
            valid = False
        if not valid:
            raise StreamError(f"not a safetensors file: tensor {key!r}'s entry is malformed or out of bounds")
        layout.append(info)
        spans.append((begin, end, len(spans)))
    ordered = sorted(spans)
    for (_, end, _), (begin, _, _) in zip(ordered, ordered[1:]):
        if begin < end:
            raise StreamError("not a safetensors file: two tensors share bytes")
    return layout, [base + begin for begin, _, _ in spans]


def read_array(fd: int, info: TensorInfo, offset: int) -> np.ndarray:
    """One tensor of a file (at ``offset``, as ``read_layout`` found it) read with ``pread`` into a fresh array.

    Not mapped: a mapped file's pages would count in the process's memory beside the copy made of them.
    """
    array = np.empty(info.shape, dtype=info.dtype)
    buffer, done = array.reshape(-1).view(np.uint8).data, 0
    while done < len(buffer):
        read = os.preadv(fd, [buffer[done:]], offset + done)
        if read <= 0:
            raise StreamError(f"{info.key}: the file ends inside the tensor")
        done += read
    return array


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file's tensors as numpy arrays, one copy in memory (``safetensors.numpy.load_file`` holds two
    while it loads: the file's bytes and the arrays)."""
    layout, offsets = read_layout(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        return {info.key: read_array(fd, info, offset) for info, offset in zip(layout, offsets)}
    finally:
        os.close(fd)


def _read_only_tensor(values: np.ndarray):
    """A read-only chunk as a torch tensor sharing its memory (torch warns on read-only buffers; it is only read)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(values)


def available() -> bool:
    """Whether this NVFlare has the download service (2.7 and later)."""
    try:
        from nvflare.fuel.f3.streaming import download_service, obj_downloader  # noqa: F401
    except ImportError:
        return False
    return True
