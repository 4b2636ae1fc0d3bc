"""The embedded runner's launcher: one platform job in the NVFlare simulator, watched as ``fdd run`` watches it.

``SimulatorRunner`` starts ``python -m nvflare_fdd.platform.runners.launch`` detached from the
platform (so a restarted platform finds the job again by its handle). The launcher runs the
simulator through ``nvflare_fdd.simulate.simulate`` — with its port-clash retry and its watchdog
that stops a simulator that broke down and would otherwise hang — and writes the outcome, as
JSON, where the runner polls for it. SIGTERM (a stopped job) stops the simulator's whole tree.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from nvflare_fdd.platform.runners.processes import start_time
from nvflare_fdd.results import atomic_write_bytes
from nvflare_fdd.simulate import _any_round_done, simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--sites", required=True, help="comma-separated site names")
    parser.add_argument("--outcome", required=True, help="where to write {exit_code, fatal}")
    parser.add_argument("--simulator-pid", required=True, help="where to write the simulator's process id")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # unwinds: the simulator is stopped
    pid_file = Path(args.simulator_pid)
    exit_code, fatal = simulate(
        Path(args.job), dict.fromkeys(args.sites.split(","), ""), Path(args.workspace), Path(args.log),
        progressed=_any_round_done, env=os.environ,
        on_start=lambda process: pid_file.write_text(f"{process.pid} {start_time(process.pid)}"),
    )  # fmt: skip
    atomic_write_bytes(Path(args.outcome), json.dumps({"exit_code": exit_code, "fatal": fatal}).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
