"""``PretrainedServer``: the server component that hands a job's sites the pretrained models they ask for.

A site asks over NVFlare's aux channel for a model's manifest, then for the files it lacks; the
server streams them from the platform's storage over NVFlare's object streaming, a piece at a
time, each piece acknowledged before the next (see ``nvflare_fdd.pretrained.wire``). A site never
needs a path to the platform's files, or any network but NVFlare's.

Where the server finds the store: ``storage_url`` if configured, else ``storage_url`` in the
server's ``local/fdd_site.json`` (with ``storage_backend``, like the recorder), else
``$FDD_STORAGE_URL`` (what the platform's simulator runner sets), else the platform's default
storage from ``nvflare_fdd.platform.config.load_config()`` — where ``fdd pretrained add`` put it
on this machine, which is what ``fdd run`` uses. The store is opened on the first request, so a
job that uses no pretrained model never touches it. The server's own model building gets its copy
with ``materialize`` (the component's id in the ``fdd`` template: ``PRETRAINED_SERVER_ID``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from nvflare.apis.event_type import EventType
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.streaming import ObjectProducer, StreamContext

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.records import PretrainedFile
from nvflare_fdd.pretrained import wire
from nvflare_fdd.pretrained.cache import store_absent
from nvflare_fdd.pretrained.manifest import Manifest, MissingPretrained, PretrainedError, check_name

PRETRAINED_SERVER_ID = "fdd_pretrained"


class PretrainedServer(FLComponent):
    """Answers the sites' requests for pretrained models from the platform's store.

    Args:
        storage_url: the platform's storage; "" looks it up (see the module docstring).
        storage_backend: its backend; "" = ``storage_backend`` in ``fdd_site.json``, else ``sql``.
        piece_bytes: bytes of a file in one stream message.
        piece_timeout: seconds a site may take to acknowledge a piece.
    """

    def __init__(self, storage_url: str = "", storage_backend: str = "", piece_bytes: int = wire.DEFAULT_PIECE_BYTES,
                 piece_timeout: float = 120.0):  # fmt: skip
        super().__init__()
        self.storage_url = storage_url
        self.storage_backend = storage_backend
        self.piece_bytes = int(piece_bytes)
        self.piece_timeout = float(piece_timeout)
        self._storage = None
        self._storage_lock = threading.Lock()
        self._site_config_dir: str | None = None

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type == EventType.START_RUN:
            engine = fl_ctx.get_engine()
            self._site_config_dir = engine.get_workspace().get_site_config_dir()
            engine.register_aux_message_handler(topic=wire.TOPIC_CATALOGUE, message_handle_func=self._handle_catalogue)
            engine.register_aux_message_handler(topic=wire.TOPIC_MANIFEST, message_handle_func=self._handle_manifest)
            engine.register_aux_message_handler(topic=wire.TOPIC_SEND, message_handle_func=self._handle_send)
        elif event_type == EventType.END_RUN and self._storage is not None:
            close = getattr(self._storage, "close", None)
            if close is not None:
                close()
            self._storage = None

    # -- requests -------------------------------------------------------------------------------

    def _handle_catalogue(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        from nvflare_fdd.platform.errors import NotFound

        try:
            names = [model.name for model in self.store(fl_ctx).list_pretrained()]
        except NotFound:
            names = []
        except Exception as exc:
            return self._refusal(fl_ctx, "", exc)
        reply = _status(wire.STATUS_OK)
        reply[wire.KEY_NAMES] = names
        return reply

    def _handle_manifest(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        name = request.get(wire.KEY_NAME)
        try:
            check_name(name)
            model = self.store(fl_ctx).get_pretrained(name)
        except Exception as exc:
            return self._refusal(fl_ctx, name, exc)
        reply = _status(wire.STATUS_OK)
        reply[wire.KEY_MANIFEST] = Manifest.of(model).to_dict()
        self.log_info(fl_ctx, f"{_peer(fl_ctx)} asked for pretrained model {name} ({len(model.files)} files, {model.size} bytes)")
        return reply

    def _handle_send(self, topic: str, request: Shareable, fl_ctx: FLContext) -> Shareable:
        name, digest, paths, tx = (request.get(key) for key in (wire.KEY_NAME, wire.KEY_DIGEST, wire.KEY_FILES, wire.KEY_TX))
        peer = _peer(fl_ctx)
        try:
            check_name(name)
            model = self.store(fl_ctx).get_pretrained(name)
            if model.digest != digest:
                raise PretrainedError(f"pretrained model {name!r} was replaced in the store while it was being fetched; "
                                      "ask for it again")  # fmt: skip
            by_path = {entry.path: entry for entry in model.files}
            if not isinstance(paths, list) or not paths or any(path not in by_path for path in paths):
                raise PretrainedError(f"pretrained model {name!r}: the request names files it does not have")
            if not isinstance(tx, str) or not tx or not peer:
                raise PretrainedError("a request for files without a transfer id or a site")
        except Exception as exc:
            return self._refusal(fl_ctx, name, exc)
        entries = [by_path[path] for path in paths]
        thread = threading.Thread(target=self._stream, args=(peer, name, tx, digest, entries, fl_ctx),
                                  name=f"fdd-pretrained-{peer}", daemon=True)  # fmt: skip
        thread.start()
        return _status(wire.STATUS_OK)

    def _stream(self, peer: str, name: str, tx: str, digest: str, entries: Sequence[PretrainedFile], fl_ctx: FLContext) -> None:
        """Stream ``entries`` to ``peer`` (in a thread of its own: the request was answered already)."""
        producer = _PieceProducer(self._storage, entries, self.piece_bytes, self.piece_timeout)
        started = time.monotonic()
        try:
            rc, _ = fl_ctx.get_engine().stream_objects(
                channel=wire.STREAM_CHANNEL, topic=wire.STREAM_TOPIC, stream_ctx={wire.KEY_TX: tx, wire.KEY_DIGEST: digest},
                targets=[peer], producer=producer, fl_ctx=fl_ctx,
            )  # fmt: skip
        except Exception as exc:
            self.log_error(fl_ctx, f"sending pretrained model {name} to {peer} failed: {exc}")
            return
        seconds = time.monotonic() - started
        if rc == ReturnCode.OK:
            rate = producer.sent_bytes / max(seconds, 1e-6) / 2**20
            self.log_info(fl_ctx, f"sent pretrained model {name} to {peer}: {len(entries)} file(s), {producer.sent_bytes} "
                                  f"bytes in {seconds:.1f} s ({rate:.1f} MiB/s)")  # fmt: skip
        else:
            self.log_error(fl_ctx, f"sending pretrained model {name} to {peer} stopped after {producer.sent_bytes} bytes: "
                                   f"{rc} {producer.failure or ''}".rstrip())  # fmt: skip

    def _refusal(self, fl_ctx: FLContext, name: object, exc: Exception) -> Shareable:
        """The reply to a request that cannot be served. Only the platform's own words go to the site: an unexpected
        error (say, the database is unreachable) stays in the server's log."""
        from nvflare_fdd.platform.errors import NotFound

        if isinstance(exc, NotFound):
            reply = _status(wire.STATUS_MISSING)
            reply[wire.KEY_MESSAGE] = str(exc)
        elif isinstance(exc, PretrainedError):
            reply = _status(wire.STATUS_ERROR)
            reply[wire.KEY_MESSAGE] = str(exc)
        else:
            self.log_error(fl_ctx, f"cannot serve pretrained model {name!r} to {_peer(fl_ctx)}: {exc}")
            reply = _status(wire.STATUS_ERROR)
            reply[wire.KEY_MESSAGE] = (f"the server cannot read the platform's pretrained-model store for {name!r}; "
                                       "its log says why")  # fmt: skip
        return reply

    # -- the store ------------------------------------------------------------------------------

    def store(self, fl_ctx: FLContext):
        """The platform's storage this server serves from, opened on first use (see the module docstring).

        Raises:
            NotFound: nothing is configured and this machine's platform has no store yet.
            FddError: the configured backend is missing or has no pretrained-model store.
        """
        with self._storage_lock:
            if self._storage is None:
                self._storage = self._open_store(fl_ctx)
            return self._storage

    def materialize(self, name: str, fl_ctx: FLContext, cache_dir: Path) -> Path:
        """The server's own copy of pretrained model ``name`` (its model building), filled straight from the store.

        Raises:
            MissingPretrained: the store has no model ``name``.
        """
        from nvflare_fdd.platform.errors import NotFound
        from nvflare_fdd.pretrained.cache import materialize_pretrained

        try:
            storage = self.store(fl_ctx)
        except NotFound:
            raise MissingPretrained(name) from None
        return materialize_pretrained(name, storage, cache_dir)

    def _open_store(self, fl_ctx: FLContext):
        from nvflare_fdd.platform.errors import NotFound
        from nvflare_fdd.plugin.manager import plugin_manager
        from nvflare_fdd.site_config import read_site_file, server_storage_backend, server_storage_url

        settings = read_site_file(self._site_config_dir)
        url = self.storage_url or server_storage_url(settings)
        if not url:
            from nvflare_fdd.platform.config import load_config

            url = load_config().storage_url
            if store_absent(url):  # nothing was ever added on this machine: do not create a database for it
                raise NotFound("the platform's pretrained-model store is empty (nothing was added on this machine); "
                               "add models with `fdd pretrained add NAME PATH`")  # fmt: skip
        backend = self.storage_backend or server_storage_backend(settings)
        backends = plugin_manager().storage_backends()
        if backend not in backends:
            raise FddError(f"no storage backend {backend!r}; installed: {', '.join(sorted(backends))}")
        storage = backends[backend](url)
        if not hasattr(storage, "get_pretrained"):
            raise FddError(f"the storage backend {backend!r} has no pretrained-model store")
        self.log_info(fl_ctx, f"serving pretrained models from the platform's store ({backend} storage)")
        return storage


class _PieceProducer(ObjectProducer):
    """The stream's messages: each file in pieces of ``piece_bytes``, read from storage one chunk at a time."""

    def __init__(self, storage, entries: Sequence[PretrainedFile], piece_bytes: int, timeout: float):
        self._messages = _messages(storage, list(entries), piece_bytes)
        self.timeout = timeout
        self.sent_bytes = 0
        self.failure = ""
        self._last_sent = False

    def produce(self, stream_ctx: StreamContext, fl_ctx: FLContext) -> tuple[Shareable, float]:
        message = next(self._messages)
        self.sent_bytes += len(message.get(wire.KEY_DATA, b""))
        self._last_sent = bool(message.get(wire.KEY_LAST))
        return message, self.timeout

    def process_replies(self, replies: dict[str, Shareable], stream_ctx: StreamContext, fl_ctx: FLContext):
        for target, reply in replies.items():
            rc = reply.get_return_code(ReturnCode.OK)
            if rc != ReturnCode.OK:
                self.failure = f"{target} answered {rc}"
                return False
        return True if self._last_sent else None


def _messages(storage, entries: list[PretrainedFile], piece_bytes: int) -> Iterator[Shareable]:
    for index, entry in enumerate(entries):
        for chunk in storage.pretrained_chunks(entry.sha256):
            if len(chunk) <= piece_bytes:
                yield Shareable({wire.KEY_PATH: entry.path, wire.KEY_DATA: chunk})
                continue
            view = memoryview(chunk)
            for offset in range(0, len(chunk), piece_bytes):
                yield Shareable({wire.KEY_PATH: entry.path, wire.KEY_DATA: bytes(view[offset:offset + piece_bytes])})
        yield Shareable({wire.KEY_PATH: entry.path, wire.KEY_END: True, wire.KEY_LAST: index == len(entries) - 1})


def _status(status: str) -> Shareable:
    reply = make_reply(ReturnCode.OK)
    reply[wire.KEY_STATUS] = status
    return reply


def _peer(fl_ctx: FLContext) -> str:
    peer_ctx = fl_ctx.get_peer_context()
    return peer_ctx.get_identity_name() if peer_ctx is not None else ""
