"""The simulator watchdog: a broken-down simulator is stopped at once instead of hanging to the timeout."""

from __future__ import annotations

import subprocess
import sys
import time

from nvflare_fdd.simulate import watch_simulator

BROKEN = (
    "import sys, time\n"
    "print('INFO - ClientTaskWorker started to run', flush=True)\n"
    "print('ERROR - run_client_thread error: RuntimeError: Failed to create connection to the child process', flush=True)\n"
    "time.sleep(600)\n"
)


def test_a_fatal_log_line_stops_the_simulator_and_names_the_line(tmp_path):
    log_path = tmp_path / "simulator.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", BROKEN], stdout=log, start_new_session=True)
        started = time.monotonic()
        return_code, fatal = watch_simulator(process, tmp_path / "ws", log_path, None, timeout=120, started=started)
    assert return_code is None
    assert "Failed to create connection to the child process" in fatal
    assert time.monotonic() - started < 30
    assert process.poll() is not None  # the whole process group was stopped


def test_a_clean_exit_is_reported_with_its_code(tmp_path):
    log_path = tmp_path / "simulator.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", "print('done')"], stdout=log, start_new_session=True)
        assert watch_simulator(process, tmp_path / "ws", log_path, None, timeout=60, started=time.monotonic()) == (0, None)


def test_the_timeout_stops_a_silent_hang(tmp_path):
    log_path = tmp_path / "simulator.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdout=log, start_new_session=True)
        assert watch_simulator(process, tmp_path / "ws", log_path, None, timeout=1, started=time.monotonic()) == (None, None)
    assert process.poll() is not None
