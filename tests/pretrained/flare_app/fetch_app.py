"""A test job's custom code: the server asks every site to fetch pretrained models, each site answers what it got.

``FetchController`` broadcasts one ``fetch`` task naming the models and writes every site's answer to
``fetch_results.json`` in the server's run folder, with the server's peak memory before and after.
``FetchExecutor`` calls ``fetch_pretrained`` for each name into its own cache folder
(``<cache_root>/<site>``), and answers each model's path, its files' sha256, or the error's text.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from pathlib import Path

from nvflare.apis.controller_spec import Task
from nvflare.apis.executor import Executor
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.impl.controller import Controller
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal

RESULTS = "fetch_results.json"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """This process's resident memory, sampled every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.25):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.samples.append(rss_mib())

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        samples = self.samples or [rss_mib()]
        return {"max": max(samples), "last": samples[-1], "count": len(samples), "series": samples[:: max(1, len(samples) // 40)]}


def digest_files(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    result = {}
    for file in files:
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        result[file.name if path.is_file() else file.relative_to(path).as_posix()] = digest.hexdigest()
    return result


class FetchController(Controller):
    def __init__(self, names: list[str], sites: int = 2, timeout: int = 600):
        super().__init__(task_check_period=0.1)
        self.names = list(names)
        self.sites = sites
        self.timeout = timeout
        self.answers: dict[str, dict] = {}

    def start_controller(self, fl_ctx: FLContext) -> None:
        pass

    def control_flow(self, abort_signal: Signal, fl_ctx: FLContext) -> None:
        before = peak_rss_mib()
        rss_before = rss_mib()
        sampler = RssSampler()
        task = Task(name="fetch", data=Shareable({"names": self.names}), timeout=self.timeout,
                    result_received_cb=self._received)
        self.broadcast_and_wait(task, fl_ctx, min_responses=self.sites, abort_signal=abort_signal)
        run_dir = Path(fl_ctx.get_engine().get_workspace().get_run_dir(fl_ctx.get_job_id()))
        record = {"sites": self.answers, "server_peak_rss_mib_before": before, "server_peak_rss_mib_after": peak_rss_mib(),
                  "server_rss_mib_before": rss_before, "server_rss_mib_during": sampler.stop()}
        (run_dir / RESULTS).write_text(json.dumps(record, indent=2))

    def _received(self, client_task, fl_ctx: FLContext) -> None:
        result = client_task.result
        self.answers[client_task.client.name] = dict(result.get("answers") or {}, _rc=result.get_return_code())

    def process_result_of_unknown_task(self, client, task_name, client_task_id, result, fl_ctx) -> None:
        pass

    def stop_controller(self, fl_ctx: FLContext) -> None:
        pass


class FetchExecutor(Executor):
    def __init__(self, cache_root: str, timeout: float = 120.0):
        super().__init__()
        self.cache_root = cache_root
        self.timeout = timeout

    def execute(self, task_name: str, shareable: Shareable, fl_ctx: FLContext, abort_signal: Signal) -> Shareable:
        from nvflare_fdd.errors import FddError
        from nvflare_fdd.pretrained.site import fetch_pretrained

        site = fl_ctx.get_identity_name()
        cache_dir = Path(self.cache_root) / site
        answers: dict = {"_peak_rss_mib_before": peak_rss_mib(), "_rss_mib_before": rss_mib()}
        sampler = RssSampler()
        for name in shareable.get("names", []):
            started = time.monotonic()
            try:
                path = fetch_pretrained(name, fl_ctx, cache_dir, timeout=self.timeout)
            except FddError as exc:
                answers[name] = {"error": str(exc), "type": type(exc).__name__}
                continue
            seconds = time.monotonic() - started
            again = time.monotonic()
            second = fetch_pretrained(name, fl_ctx, cache_dir, timeout=self.timeout)  # cached now: at once
            answers[name] = {"path": str(path), "absolute": path.is_absolute(), "seconds": seconds,
                             "again_seconds": time.monotonic() - again, "same": second == path,
                             "files": digest_files(path)}
        answers["_peak_rss_mib_after"] = peak_rss_mib()
        answers["_rss_mib_during"] = sampler.stop()
        reply = make_reply(ReturnCode.OK)
        reply["answers"] = answers
        return reply
