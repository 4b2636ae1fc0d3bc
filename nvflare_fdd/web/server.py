"""Serving the web UI: a threaded WSGI server, with the platform's queue ticking beside it."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import BaseWSGIServer, make_server

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


class RunningServer:
    """A web UI served in background threads (for tests and embedding); ``close()`` stops it all."""

    def __init__(self, server: BaseWSGIServer, ticker: QueueTicker):
        self.server = server
        self.ticker = ticker
        self._thread = threading.Thread(target=server.serve_forever, name="fdd-web", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
        self.ticker.stop()


def start_server(platform: Platform, host: str = "127.0.0.1", port: int = 0, settings: WebSettings | None = None,
                 stats=None) -> RunningServer:  # fmt: skip
    """Serve the web UI over ``platform`` on ``host:port`` (port 0: a free one) in background threads."""
    settings = settings or load_web_settings(platform.config)
    app = create_app(platform, settings, stats=stats)
    prepare(platform)
    server = make_server(host, port, app, threaded=True)
    return RunningServer(server, QueueTicker(platform, settings.tick_interval).start())


class WebUI:
    """The ``web`` UI backend (``fdd ui --backend web``): the web pages over a platform.

    Args:
        platform: the platform service.
    """

    def __init__(self, platform: Platform):
        self.platform = platform

    def serve(self, host: str, port: int) -> None:
        """Serve until interrupted, with the queue ticking every second."""
        settings = load_web_settings(self.platform.config)
        app = create_app(self.platform, settings)
        prepare(self.platform)
        server = make_server(host, port, app, threaded=True)
        ticker = QueueTicker(self.platform, settings.tick_interval).start()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            ticker.stop()
