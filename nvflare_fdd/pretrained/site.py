"""``fetch_pretrained``: a site gets a pretrained model from its job's server, through NVFlare, into its cache.

Called by platform code in the NVFlare client process (the site's executor) when user code asks
``model_manager.download_model(name)``. It asks the server for the model's manifest (over the aux
channel), and unless the cache has that content already, asks for the files it lacks and receives
them over NVFlare's object streaming, each file hashed as it is written and renamed into place
only when its sha256 matches (``nvflare_fdd.pretrained.cache``). A broken transfer is resumed
from the files already verified. The site's cache folder: ``pretrained_cache`` in its
``local/fdd_site.json``, else ``nvflare_fdd.pretrained.cache.default_cache_dir()``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.streaming import ConsumerFactory, ObjectConsumer, StreamContext, StreamContextKey

from nvflare_fdd.platform.records import PretrainedFile
from nvflare_fdd.pretrained import wire
from nvflare_fdd.pretrained.cache import VerifiedFile, cached, ensure_cached, staged_whole
from nvflare_fdd.pretrained.manifest import Manifest, MissingPretrained, PretrainedError, check_name

DEFAULT_TIMEOUT = 120.0
MAX_MODELS_PER_JOB = 8
"""Distinct pretrained models one job may ask for at one site (each name it asks for reaches the server)."""
ATTEMPTS = 3
_WAIT_STEP = 0.2


def fetch_pretrained(name: str, fl_ctx: FLContext, cache_dir: Path, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """The local absolute path of pretrained model ``name``: fetched from the job's server unless cached.

    Safe from several threads and processes at once (jobs and sites sharing a cache): one fetches,
    the others wait for it and find the model in the cache.

    Args:
        name: the model's name in the platform's store.
        fl_ctx: the caller's FLContext in the site's NVFlare client process.
        cache_dir: the site's pretrained-model cache (see ``site_cache_dir``).
        timeout: seconds to wait for the server's answer, and at most between two pieces of a file.

    Returns:
        The model's folder in the cache, or its file for a one-file model.

    Raises:
        MissingPretrained: the store has no model ``name`` (the message says how to add it).
        PretrainedError: the server could not be reached, or the model did not arrive whole after retries.
    """
    check_name(name)
    engine = fl_ctx.get_engine()
    reply = _ask(engine, wire.TOPIC_MANIFEST, {wire.KEY_NAME: name}, fl_ctx, timeout, name)
    try:
        manifest = Manifest.from_dict(reply.get(wire.KEY_MANIFEST))
    except PretrainedError as exc:
        raise PretrainedError(f"the server sent a bad manifest for pretrained model {name!r}: {exc}") from None
    if manifest.name != name:
        raise PretrainedError(f"asked the server for pretrained model {name!r}, got {manifest.name!r}")
    found = cached(cache_dir, manifest)
    if found is not None:
        return found

    def fill(staging: Path, files: Sequence[PretrainedFile]) -> None:
        _fetch_files(engine, fl_ctx, manifest, staging, files, timeout)

    return ensure_cached(manifest, Path(cache_dir), fill, log=lambda line: _log(fl_ctx, line))


class JobPretrained:
    """The pretrained models of one job at one site: what the site's executor answers ``download_model`` with.

    The names user code asks for are its words, so they are bounded before any reaches the server
    (DESIGN §8): the job first gets the store's catalogue of names; a name not in it fails here, and
    only names of the catalogue, at most ``limit`` distinct ones per job, are asked for. A name asked
    again is answered from memory.

    Args:
        cache_dir: the site's cache (``site_cache_dir``).
        limit: distinct models the job may ask for.
        timeout: see ``fetch_pretrained``.
    """

    def __init__(self, cache_dir: Path, limit: int = MAX_MODELS_PER_JOB, timeout: float = DEFAULT_TIMEOUT):
        self.cache_dir = Path(cache_dir)
        self.limit = limit
        self.timeout = timeout
        self._catalogue: frozenset[str] | None = None
        self._paths: dict[str, Path] = {}
        self._lock = threading.Lock()

    def path(self, name: str, fl_ctx: FLContext) -> Path:
        """The local path of pretrained model ``name``, fetched from the job's server unless cached.

        Raises:
            MissingPretrained: the store has no model ``name`` (decided at the site: the name is not sent).
            PretrainedError: more than ``limit`` models, a bad name, or the fetch failed.
        """
        check_name(name)
        with self._lock:
            if name in self._paths:
                return self._paths[name]
            if self._catalogue is None:
                reply = _ask(fl_ctx.get_engine(), wire.TOPIC_CATALOGUE, {}, fl_ctx, self.timeout, name)
                names = reply.get(wire.KEY_NAMES)
                if not isinstance(names, list) or not all(isinstance(entry, str) for entry in names):
                    raise PretrainedError("the server sent a bad catalogue of pretrained models")
                self._catalogue = frozenset(names)
            if name not in self._catalogue:
                raise MissingPretrained(name)
            if len(self._paths) >= self.limit:
                raise PretrainedError(f"a job may use at most {self.limit} pretrained models at a site")
            self._paths[name] = fetch_pretrained(name, fl_ctx, self.cache_dir, self.timeout)
            return self._paths[name]


def site_cache_dir(site_config_dir: str | Path | None) -> Path:
    """The site's pretrained-model cache: ``pretrained_cache`` in ``fdd_site.json``, else the default."""
    from nvflare_fdd.pretrained.cache import default_cache_dir
    from nvflare_fdd.site_config import SITE_CONFIG_FILE, read_site_file

    configured = read_site_file(site_config_dir).get("pretrained_cache")
    if configured is None:
        return default_cache_dir()
    if not isinstance(configured, str) or not configured.strip():
        raise PretrainedError(f'{SITE_CONFIG_FILE}: "pretrained_cache" must be a folder path, not {configured!r}')
    return Path(configured).expanduser()


# -- the transfer -------------------------------------------------------------------------------


def _fetch_files(engine, fl_ctx: FLContext, manifest: Manifest, staging: Path, files: Sequence[PretrainedFile],
                 timeout: float) -> None:  # fmt: skip
    """Receive ``files`` into ``staging``; a broken stream is asked for again, from the first file not yet verified."""
    _register(engine)
    problem = ""
    for attempt in range(1, ATTEMPTS + 1):
        todo = [entry for entry in files if not staged_whole(staging, entry)]
        if not todo:
            return
        transfer = _Transfer(manifest, staging, todo)
        with _TRANSFERS_LOCK:
            _TRANSFERS[transfer.tx] = transfer
        try:
            request = {wire.KEY_TX: transfer.tx, wire.KEY_NAME: manifest.name, wire.KEY_DIGEST: manifest.digest,
                       wire.KEY_FILES: [entry.path for entry in todo]}  # fmt: skip
            _ask(engine, wire.TOPIC_SEND, request, fl_ctx, timeout, manifest.name)
            problem = transfer.wait(timeout, fl_ctx.get_run_abort_signal())
        finally:
            transfer.cancel()
            with _TRANSFERS_LOCK:
                _TRANSFERS.pop(transfer.tx, None)
        if not problem:
            return
        if attempt < ATTEMPTS:
            _log(fl_ctx, f"pretrained model {manifest.name}: {problem}; asking again (attempt {attempt + 1} of {ATTEMPTS})")
    raise PretrainedError(f"pretrained model {manifest.name!r} did not arrive whole after {ATTEMPTS} attempts: {problem}")


class _Transfer:
    """One stream of files from the server into a staging folder, and the fetch waiting for it."""

    def __init__(self, manifest: Manifest, staging: Path, files: Sequence[PretrainedFile]):
        self.tx = uuid.uuid4().hex
        self.manifest = manifest
        self.staging = staging
        self.expected = list(files)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.problem = ""
        self.cancelled = False
        self.current: VerifiedFile | None = None
        self.finished = 0
        self.last_progress = time.monotonic()

    def receive(self, message: Shareable) -> bool:
        """Write one message of the stream; returns whether more are expected.

        Raises:
            PretrainedError: the message is not the next one of the expected files, or a file arrived damaged.
        """
        with self.lock:
            if self.cancelled:
                raise PretrainedError("the fetch stopped waiting for this transfer")
            self.last_progress = time.monotonic()
            if self.finished >= len(self.expected):
                raise PretrainedError("more files than were asked for")
            entry = self.expected[self.finished]
            if message.get(wire.KEY_PATH) != entry.path:
                raise PretrainedError(f"expected {entry.path}, the server sent {message.get(wire.KEY_PATH)!r}")
            if self.current is None:
                self.current = VerifiedFile(self.staging, self.manifest.name, entry)
            data = message.get(wire.KEY_DATA)
            if data:
                self.current.write(data)
            if not message.get(wire.KEY_END):
                return True
            self.current.finish()
            self.current, self.finished = None, self.finished + 1
            return self.finished < len(self.expected)

    def end(self, problem: str = "") -> None:
        """The stream ended: with ``problem``, or (if every file arrived) fine."""
        with self.lock:
            if self.current is not None:
                self.current.abort()
                self.current = None
            if not problem and self.finished < len(self.expected):
                problem = f"the stream ended after {self.finished} of {len(self.expected)} file(s)"
            self.problem = self.problem or problem
        self.done.set()

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            if self.current is not None:
                self.current.abort()
                self.current = None

    def wait(self, timeout: float, abort_signal) -> str:
        """Wait for the stream to end; returns the problem, "" when every file arrived."""
        while not self.done.wait(_WAIT_STEP):
            if abort_signal is not None and abort_signal.triggered:
                raise PretrainedError(f"pretrained model {self.manifest.name!r}: the job was aborted during the download")
            if time.monotonic() - self.last_progress > timeout:
                return f"nothing arrived from the server for {timeout:.0f} s"
        return self.problem


_TRANSFERS: dict[str, _Transfer] = {}
_TRANSFERS_LOCK = threading.Lock()


class _Consumer(ObjectConsumer):
    def __init__(self, transfer: _Transfer):
        self.transfer = transfer
        self.problem = ""

    def consume(self, shareable: Shareable, stream_ctx: StreamContext, fl_ctx: FLContext) -> tuple[bool, Shareable]:
        try:
            more = self.transfer.receive(shareable)
        except (PretrainedError, OSError) as exc:
            self.problem = str(exc)
            return False, make_reply(ReturnCode.ERROR)
        return more, make_reply(ReturnCode.OK)

    def finalize(self, stream_ctx: StreamContext, fl_ctx: FLContext) -> None:
        rc = stream_ctx.get(StreamContextKey.RC, ReturnCode.OK)
        problem = self.problem or ("" if rc == ReturnCode.OK else f"the stream ended with {rc}")
        self.transfer.end(problem)


class _ConsumerFactory(ConsumerFactory):
    """Finds the fetch a new stream belongs to by its transfer id; a stream nobody waits for is refused."""

    def get_consumer(self, stream_ctx: StreamContext, fl_ctx: FLContext) -> ObjectConsumer | None:
        with _TRANSFERS_LOCK:
            transfer = _TRANSFERS.get(stream_ctx.get(wire.KEY_TX))
        if transfer is None or stream_ctx.get(wire.KEY_DIGEST) != transfer.manifest.digest:
            return None
        return _Consumer(transfer)


_FACTORY = _ConsumerFactory()


def _register(engine) -> None:
    """Receive the pretrained-model stream in this process (registering again replaces, so it may be repeated)."""
    engine.register_stream_processing(channel=wire.STREAM_CHANNEL, topic=wire.STREAM_TOPIC, factory=_FACTORY)


def _ask(engine, topic: str, values: dict, fl_ctx: FLContext, timeout: float, name: str) -> Shareable:
    """Send one aux request to the server; returns its reply when its status is ``ok``.

    Raises:
        MissingPretrained: the server's store has no model ``name``.
        PretrainedError: no answer, or the server refused.
    """
    replies = engine.send_aux_request(targets=None, topic=topic, request=Shareable(values), timeout=timeout, fl_ctx=fl_ctx)
    reply = next(iter((replies or {}).values()), None)
    if not isinstance(reply, Shareable) or reply.get_return_code(ReturnCode.OK) != ReturnCode.OK:
        rc = reply.get_return_code() if isinstance(reply, Shareable) else "no reply"
        raise PretrainedError(f"the server did not answer the request for pretrained model {name!r} within "
                              f"{timeout:.0f} s ({rc}); is the job's server configured with the PretrainedServer "
                              "component (the fdd job template has it)?")  # fmt: skip
    status = reply.get(wire.KEY_STATUS)
    if status == wire.STATUS_MISSING:
        raise MissingPretrained(name)
    if status != wire.STATUS_OK:
        raise PretrainedError(str(reply.get(wire.KEY_MESSAGE) or f"the server refused pretrained model {name!r}"))
    return reply


def _log(fl_ctx: FLContext, line: str) -> None:
    import logging

    logging.getLogger(__name__).info("%s: %s", fl_ctx.get_identity_name(), line)
