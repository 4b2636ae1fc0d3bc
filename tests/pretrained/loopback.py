"""The server's ``PretrainedServer`` and a site's ``fetch_pretrained`` in one process, NVFlare's messaging replaced by
direct calls that keep its rules (aux requests answered by the registered handler; a stream's messages handed to the
receiver's consumer one at a time, each reply back to the producer). Fast, and faults can be put in between."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nvflare.apis.event_type import EventType
from nvflare.apis.fl_constant import ReservedKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.streaming import StreamContextKey

from nvflare_fdd.pretrained.server import PretrainedServer

Tamper = Callable[[int, Shareable], Shareable | None]
"""``tamper(stream number, message)``: the message to deliver; ``None`` breaks the stream there."""


class _Workspace:
    def __init__(self, folder: Path):
        self.folder = folder

    def get_site_config_dir(self) -> str:
        return str(self.folder)


class _Engine:
    def __init__(self, loop: Loopback, workspace: Path):
        self.loop = loop
        self.workspace = _Workspace(workspace)
        self.handlers: dict[str, Callable] = {}
        self.factories: dict[tuple[str, str], object] = {}

    def get_workspace(self) -> _Workspace:
        return self.workspace

    def fire_event(self, event_type: str, fl_ctx: FLContext) -> None:
        """Log events (``log_error`` fires one) go nowhere."""

    def register_aux_message_handler(self, topic: str, message_handle_func) -> None:
        self.handlers[topic] = message_handle_func

    def register_stream_processing(self, channel: str, topic: str, factory, stream_done_cb=None, **kwargs) -> None:
        self.factories[(channel, topic)] = factory

    def send_aux_request(self, targets, topic: str, request: Shareable, timeout: float, fl_ctx: FLContext, **kwargs) -> dict:
        """A site's request, answered by the server's handler (with the site as the peer)."""
        self.loop.requests.append((topic, dict(request)))
        handler = self.loop.server_engine.handlers.get(topic)
        if handler is None:
            return {}
        return {"server": handler(topic, Shareable(dict(request)), self.loop.server_context())}

    def stream_objects(self, channel: str, topic: str, stream_ctx: dict, targets: list, producer, fl_ctx: FLContext, **kw):
        """The server's stream to the site: each message to the site's consumer, its reply back to the producer."""
        loop = self.loop
        number = len(loop.streams)
        loop.streams.append(targets)
        factory = loop.site_engine.factories.get((channel, topic))
        received = dict(stream_ctx)
        consumer = factory.get_consumer(received, loop.site_context) if factory else None
        if consumer is None:
            producer.process_replies({targets[0]: make_reply(ReturnCode.EXECUTION_EXCEPTION)}, stream_ctx, fl_ctx)
            return ReturnCode.ERROR, None
        while True:
            message, _ = producer.produce(stream_ctx, fl_ctx)
            delivered = loop.tamper(number, message) if loop.tamper else message
            if delivered is None:  # the connection broke: the receiver's side ends it
                received[StreamContextKey.RC] = ReturnCode.COMMUNICATION_ERROR
                consumer.finalize(received, loop.site_context)
                return ReturnCode.COMMUNICATION_ERROR, None
            more, reply = consumer.consume(delivered, received, loop.site_context)
            result = producer.process_replies({targets[0]: reply}, stream_ctx, fl_ctx)
            if not more or result is not None:
                received[StreamContextKey.RC] = reply.get_return_code(ReturnCode.OK)
                consumer.finalize(received, loop.site_context)
                return (ReturnCode.OK if result else ReturnCode.ERROR), result


class Loopback:
    """One server and one site (``site``); ``site_context`` is what a site's executor passes to ``fetch_pretrained``.

    Args:
        storage_url: the platform's store, given to ``PretrainedServer``.
        tamper: called with each stream message before the site gets it.
    """

    def __init__(self, storage_url: str, tmp_path: Path, site: str = "site_a", tamper: Tamper | None = None,
                 server_args: dict | None = None):  # fmt: skip
        self.site = site
        self.tamper = tamper
        self.requests: list[tuple[str, dict]] = []
        self.streams: list[list] = []
        self.server_engine = _Engine(self, tmp_path / "server-local")
        self.site_engine = _Engine(self, tmp_path / "site-local")
        self.server = PretrainedServer(storage_url=storage_url, **(server_args or {}))
        self.site_context = self._context(self.site_engine, site)
        self.server.handle_event(EventType.START_RUN, self._context(self.server_engine, "server"))

    def server_context(self) -> FLContext:
        context = self._context(self.server_engine, "server")
        context.set_peer_context(self._context(self.site_engine, self.site))
        return context

    def sends(self) -> list[list[str]]:
        """The files the site asked for, request by request."""
        from nvflare_fdd.pretrained import wire

        return [request[wire.KEY_FILES] for topic, request in self.requests if topic == wire.TOPIC_SEND]

    def close(self) -> None:
        self.server.handle_event(EventType.END_RUN, self._context(self.server_engine, "server"))

    @staticmethod
    def _context(engine: _Engine, name: str) -> FLContext:
        context = FLContext()
        context.set_prop(ReservedKey.ENGINE, engine, private=True, sticky=False)
        context.set_prop(ReservedKey.IDENTITY_NAME, name, private=True, sticky=False)
        context.set_prop(ReservedKey.RUN_NUM, "loopback_job", private=True, sticky=False)
        return context
