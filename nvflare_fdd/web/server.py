"""Serving the web UI with waitress (a production WSGI server), the platform's queue ticking beside it."""

from __future__ import annotations

import logging
import threading

from waitress.server import create_server

from nvflare_fdd.platform.service import Platform
from nvflare_fdd.web.app import create_app
from nvflare_fdd.web.settings import WebSettings, load_web_settings

log = logging.getLogger(__name__)


class QueueTicker:
    """Calls ``platform.tick()`` every ``interval`` seconds in a daemon thread until stopped.

    A failing tick is logged (once per distinct error, so a database outage does not flood
    the log) and the loop goes on.
    """

    def __init__(self, platform: Platform, interval: float = 1.0):
        self.platform = platform
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fdd-queue", daemon=True)

    def start(self) -> QueueTicker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        last_error = None
        while not self._stop.is_set():
            try:
                self.platform.tick()
                last_error = None
            except Exception as exc:  # keep the queue alive; the next tick retries
                if str(exc) != last_error:
                    log.exception("the queue tick failed; retrying every %.1f s", self.interval)
                last_error = str(exc)
            self._stop.wait(self.interval)


def prepare(platform: Platform) -> None:
    """Before serving: build the runner (the demo institutions on first use) once, not in two request
    threads at once, and bring the records in line with the runner, as ``fdd server run`` does."""
    platform.sites()
    for name in platform.reconcile():
        log.warning("job %s was reconciled with the runner: now %s", name, platform.storage.get_job(name).state.value)


def make_server(app, settings: WebSettings, host: str, port: int):
    """A waitress server for ``app`` on ``host:port`` (0: a free one), not yet serving.

    Behind a reverse proxy (``ui.trusted_proxy``), its ``X-Forwarded-For`` and ``X-Forwarded-Proto``
    give the client's address (sign-in throttling) and scheme (``Secure`` cookies, HSTS).
    """
    options = {"host": host, "port": port, "threads": settings.threads, "url_scheme": settings.url_scheme,
               "ident": "fdd", "clear_untrusted_proxy_headers": True}  # fmt: skip
    if settings.trusted_proxy:
        options.update(trusted_proxy=settings.trusted_proxy, trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"})
    return create_server(app, **options)


class RunningServer:
    """A web UI served in background threads (for tests and embedding); ``close()`` stops it all."""

    def __init__(self, server, ticker: QueueTicker):
        self.server = server
        self.ticker = ticker
        self._thread = threading.Thread(target=server.run, name="fdd-web", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.server.effective_host}:{self.server.effective_port}"

    def close(self) -> None:
        self.ticker.stop()
        for channel in list(self.server._map.values()):  # the listening socket, open connections, the trigger
            channel.handle_close()
        self.server.task_dispatcher.shutdown()
        self._thread.join(10)


def start_server(platform: Platform, host: str = "127.0.0.1", port: int = 0, settings: WebSettings | None = None,
                 stats=None) -> RunningServer:  # fmt: skip
    """Serve the web UI over ``platform`` on ``host:port`` (port 0: a free one) in background threads."""
    settings = settings or load_web_settings(platform.config)
    app = create_app(platform, settings, stats=stats)
    prepare(platform)
    server = make_server(app, settings, host, port)
    return RunningServer(server, QueueTicker(platform, settings.tick_interval).start())


class WebUI:
    """The ``web`` UI backend (``fdd ui --backend web``): the web pages over a platform.

    Args:
        platform: the platform service.
    """

    def __init__(self, platform: Platform):
        self.platform = platform

    def serve(self, host: str, port: int) -> None:
        """Serve with waitress until interrupted, with the queue ticking every second."""
        settings = load_web_settings(self.platform.config)
        app = create_app(self.platform, settings)
        prepare(self.platform)
        server = make_server(app, settings, host, port)
        ticker = QueueTicker(self.platform, settings.tick_interval).start()
        log.info("serving the web UI on http://%s:%s", server.effective_host, server.effective_port)
        try:
            server.run()  # waitress stops on Ctrl-C
        finally:
            ticker.stop()
