"""User code in its own process: every way it can end is reported with its phase, and stop leaves nothing behind."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from nvflare_fdd.client.phases import RoundError
from nvflare_fdd.client.process import WorkerProcess
from nvflare_fdd.envs import Environment
from nvflare_fdd.kda import import_file, load_raw_datas

ZERO = {"linear.weight": np.zeros((1, 3), np.float32), "linear.bias": np.zeros(1, np.float32)}


@pytest.fixture
def kda_url(tmp_path, kda_frame_factory) -> str:
    csv_path = tmp_path / "site.csv"
    kda_frame_factory([-(i % 5) * 0.5 for i in range(24)]).to_csv(csv_path, index=False)
    url = f"sqlite:///{tmp_path / 'site.db'}"
    import_file(url, csv_path)
    return url


def started_worker(bundle: Path, kda_url: str, **options) -> WorkerProcess:
    worker = WorkerProcess(Environment([sys.executable]), bundle, "site_x", lambda: load_raw_datas(kda_url), device="cpu",
                           **options)  # fmt: skip
    worker.start()
    return worker


def run_one_round(worker: WorkerProcess):
    worker.setup()
    path = worker.exchange / "global-1.safetensors"
    save_file(ZERO, str(path))
    return worker.run_round(1, str(path))


def test_a_round_in_the_worker_returns_weights_metrics_and_phases(tiny_bundle, kda_url):
    worker = started_worker(tiny_bundle, kda_url)
    try:
        reply = run_one_round(worker)
        update = load_file(reply.params)
    finally:
        worker.stop()
    assert reply.num_samples == 24 == worker.served_rows
    assert [p.code for p in reply.phases] == [4000, 4001, 5000, 6000, 7000, 8000]
    assert all(p.end >= p.start for p in reply.phases)
    assert reply.local_metrics["mse"] < reply.global_metrics["mse"]
    assert set(update) == set(ZERO)
    assert not np.array_equal(update["linear.weight"], ZERO["linear.weight"])  # it trained
    assert not worker.exchange.exists()  # stop() cleans up


TRAIN_ENDINGS = {
    "segfault": ("import ctypes\n\ndef train(m, d, c):\n    ctypes.string_at(0)\n", "killed by SIGSEGV"),
    "os._exit": ("import os\n\ndef train(m, d, c):\n    os._exit(3)\n", "exited with code 3"),
    "exception": ("def train(m, d, c):\n    raise MemoryError(f'CUDA out of memory: {1 + 1} GB')\n",
                  "MemoryError in train_eval.py line 2, `raise MemoryError(f'CUDA out of memory: {1 + 1} GB')`"),
    "sys.exit": ("import sys\n\ndef train(m, d, c):\n    sys.exit(4)\n", "SystemExit in train_eval.py line 4, `sys.exit(4)`"),
}


@pytest.mark.parametrize("ending", sorted(TRAIN_ENDINGS))
def test_every_way_train_can_end_is_a_6000_failure(make_bundle, kda_url, ending):
    body, expected = TRAIN_ENDINGS[ending]
    evaluate = "\n\ndef evaluate(m, d, c):\n    return {'loss': 1.0}\n"
    bundle = make_bundle({"train_eval.py": body + evaluate}, name=ending.replace(".", "_"))
    worker = started_worker(bundle, kda_url)
    try:
        with pytest.raises(RoundError) as caught:
            run_one_round(worker)
    finally:
        worker.stop()
    assert (caught.value.code, caught.value.site, caught.value.round) == (6000, "site_x", 1)
    assert expected in caught.value.message
    assert "2 GB" not in str(caught.value.to_dict())  # the exception's message stays at the site
    if ending == "exception":
        assert "CUDA out of memory: 2 GB" in caught.value.detail


def test_a_broken_data_py_fails_at_2001_with_the_users_traceback(make_bundle, kda_url):
    bundle = make_bundle({"data.py": "import no_such_module_for_fdd\n\ndef data_loader(r, c):\n    return r\n"}, name="nodata")
    worker = started_worker(bundle, kda_url)
    try:
        with pytest.raises(RoundError) as caught:
            worker.setup()
    finally:
        worker.stop()
    assert caught.value.code == 2001
    assert caught.value.exc_type == "ModuleNotFoundError"
    assert 'File "data.py", line 1, in <module>\n    import no_such_module_for_fdd' in caught.value.trace


def test_stop_kills_what_user_code_started(make_bundle, kda_url):
    token = f"fdd-grandchild-{time.time_ns()}"
    spawner = (
        "import os, subprocess, sys, time\n\n"
        "def train(m, d, c):\n"
        f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', {token!r}])\n"
        "    open(os.path.join(os.getcwd(), 'spawned'), 'w').close()\n"
        "    time.sleep(300)\n\n"
        "def evaluate(m, d, c):\n    return {'loss': 1.0}\n"
    )
    bundle = make_bundle({"train_eval.py": spawner}, name="spawner")
    worker = started_worker(bundle, kda_url)
    stop_requested = {"now": False}
    worker.should_stop = lambda: stop_requested["now"]

    def stop_when_spawned() -> None:
        while not (worker.exchange / "spawned").exists():
            time.sleep(0.1)
        stop_requested["now"] = True

    threading.Thread(target=stop_when_spawned, daemon=True).start()
    with pytest.raises(RoundError, match="the job was stopped"):
        run_one_round(worker)
    worker.stop()
    time.sleep(0.5)
    assert not _processes_with(token), "a process started by user code survived"


def test_a_stop_from_another_thread_during_a_call_ends_it_as_a_round_error(tmp_path):
    """The executor stops the worker on ABORT_TASK from NVFlare's thread while its task thread waits for a message."""
    import subprocess
    from multiprocessing import Pipe

    ours, theirs = Pipe()
    worker = WorkerProcess(Environment([sys.executable]), tmp_path, "site_x", lambda: {}, device="cpu")
    worker.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    worker._connection = ours
    stopped: list[bool] = []

    def stopped_between_two_reads() -> bool:
        if not stopped:
            stopped.append(True)
            worker.stop(grace=0.1)  # what the executor's ABORT_TASK handler does, on NVFlare's thread
        return False

    worker.should_stop = stopped_between_two_reads
    try:
        with pytest.raises(RoundError, match="the user-code process ended"):
            worker.setup()
    finally:
        worker.stop()
        theirs.close()
    assert worker.process.poll() is not None


def test_the_worker_ends_when_the_executor_process_dies(make_bundle, kda_url, tmp_path):
    """A killed NVFlare client must not leave user code running (and training) behind."""
    import os
    import signal
    import subprocess

    sleepy = "import time\n\ndef train(m, d, c):\n    time.sleep(300)\n\ndef evaluate(m, d, c):\n    return {'loss': 1.0}\n"
    bundle = make_bundle({"train_eval.py": sleepy}, name="sleepy_orphan")
    pid_file = tmp_path / "worker.pid"
    script = tmp_path / "executor.py"
    script.write_text(
        "import sys, threading, time\n"
        "from nvflare_fdd.client.process import WorkerProcess\n"
        "from nvflare_fdd.envs import Environment\n"
        "from nvflare_fdd.kda import load_raw_datas\n"
        f"worker = WorkerProcess(Environment([sys.executable]), {str(bundle)!r}, 'site_x', "
        f"lambda: load_raw_datas({kda_url!r}), device='cpu')\n"
        "worker.start()\n"
        "worker.setup()\n"
        "import numpy as np\n"
        "from safetensors.numpy import save_file\n"
        "params = worker.exchange / 'global-1.safetensors'\n"
        "save_file({'linear.weight': np.zeros((1, 3), np.float32), 'linear.bias': np.zeros(1, np.float32)}, str(params))\n"
        "threading.Thread(target=worker.run_round, args=(1, params), daemon=True).start()\n"
        "time.sleep(2)\n"
        f"open({str(pid_file)!r}, 'w').write(str(worker.process.pid))\n"
        "time.sleep(300)\n"
    )
    executor = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 90
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    worker_pid = int(pid_file.read_text())
    assert _running(worker_pid)  # busy in train(), nowhere near its socket
    os.kill(executor.pid, signal.SIGKILL)
    executor.wait()
    deadline = time.monotonic() + 10
    while _running(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(worker_pid), "the worker outlived its executor"


def _running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _processes_with(token: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if token.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found
