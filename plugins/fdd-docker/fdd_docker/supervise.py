"""Runs a ``docker run`` client and removes its container when the client is stopped or its starter dies.

``python -I -m fdd_docker.supervise --docker DOCKER --name NAME -- DOCKER run --name NAME ...``

Killing a ``docker run`` client leaves its container running, and an executor
killed outright (``SIGKILL``, the out-of-memory killer) cleans up nothing. This
process stands between the two: it runs the client as its child and runs
``docker rm --force NAME`` when

- it gets ``SIGTERM``, ``SIGINT`` or ``SIGHUP`` (the executor stopping the worker's process group), or
- its parent, the executor, is gone (it looks twice a second).

It exits as the container's process did: a worker killed by a signal inside the
container (docker reports ``128 + N``) ends this process by the same signal, so the
executor reports it as it would a local worker.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

WATCH_INTERVAL = 0.5
REMOVE_TIMEOUT = 60.0
SIGNALLED = {128 + signal.SIGKILL: signal.SIGKILL, 128 + signal.SIGSEGV: signal.SIGSEGV,
             128 + signal.SIGABRT: signal.SIGABRT, 128 + signal.SIGBUS: signal.SIGBUS}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docker", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the docker run command after --")
    parent = os.getppid()
    removed = threading.Event()
    lock = threading.Lock()

    def remove() -> None:
        with lock:
            if removed.is_set():
                return
            removed.set()
            try:
                subprocess.run([args.docker, "rm", "--force", args.name], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=REMOVE_TIMEOUT, check=False)  # fmt: skip
            except (OSError, subprocess.TimeoutExpired):
                pass

    received: list[int] = []

    def on_signal(signum: int, frame) -> None:
        received.append(signum)
        threading.Thread(target=remove, daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    child = subprocess.Popen(command)

    def watch() -> None:
        while child.poll() is None:
            if os.getppid() != parent:  # the executor is gone: nobody will stop the container
                remove()
                return
            time.sleep(WATCH_INTERVAL)

    threading.Thread(target=watch, name="fdd-executor-watch", daemon=True).start()
    code = child.wait()
    if received:
        remove()
        _exit_by(received[0])
    if code in SIGNALLED:
        _exit_by(SIGNALLED[code])
    return code


def _exit_by(signum: int) -> None:
    """End this process by ``signum``, so its parent sees what ended the worker."""
    sys.stdout.flush()
    sys.stderr.flush()
    if signum != signal.SIGKILL:  # SIGKILL has no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    time.sleep(5)  # the signal is delivered before this ends


if __name__ == "__main__":
    sys.exit(main())
