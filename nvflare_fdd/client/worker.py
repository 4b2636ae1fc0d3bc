"""The user-code process: runs the client round in the job's environment, driven by the site's executor.

Started as ``python -m nvflare_fdd.client.worker --address SOCKET --bundle DIR --site NAME``
with ``$FDD_WORKER_AUTHKEY`` set, inside the site's sandbox (``nvflare_fdd.envs.sandbox``):
no network, no KDA credentials, nothing writable but the exchange folder. Messages are
JSON both ways; weights and the site's data travel as files in the exchange folder
(safetensors, Arrow), so neither side unpickles anything the other wrote.

Commands and replies::

    {"cmd": "setup", "algorithm": a, "fedprox_mu": mu}   -> {"ok": true, "device": "cpu"}
    {"cmd": "round", "round": 1, "params": p, "controls": c?, "algorithm": a, "fedprox_mu": mu}
        -> {"ok": true, "params": q, "control_diff": d?, "num_samples": n, "global_metrics": {...}, "local_metrics": {...}}
    {"cmd": "stop"}                           -> (exits)
    any failure                               -> {"ok": false, "error": {"code", "exc_type", "exc_bases", "frames",
                                                  "reason", "message", "trace"}}

While a command runs, ``{"kind": "phase", "code": ..., "event": "start"|"end"|"failed"}``
messages report each phase as it starts and ends. User code asks the platform for things
with ``{"kind": "request", "what": ...}``: in phase 2000 the worker asks for the site's data
(``"raw_datas"``; the executor reads the KDA and answers ``{"kind": "raw_datas", "dir": folder}``),
and ``model_manager.download_model(name)`` asks for a pretrained model (``"pretrained"``,
answered with its local ``path``). A request the platform refuses is answered ``{"kind": "refused",
"reason", "message"}`` and raised in user code, where it asked (``runtime.RequestRefused``).

Nothing this process sends is trusted: the executor keeps only what DESIGN §8 lets
leave a site (``nvflare_fdd.client.boundary``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Client
from pathlib import Path

from nvflare_fdd.client import runtime
from nvflare_fdd.client.phases import Phase, RoundError
from nvflare_fdd.client.round import ClientRound, default_device

AUTHKEY_ENV = "FDD_WORKER_AUTHKEY"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--device", default="")
    args = parser.parse_args(argv)

    _die_with_parent()
    connection = Client(args.address, family="AF_UNIX", authkey=bytes.fromhex(os.environ.pop(AUTHKEY_ENV)))

    def send(message: dict) -> None:
        connection.send_bytes(json.dumps(message).encode())

    request = requester_for(connection)

    def fetch_raw_datas():
        from nvflare_fdd.client.handover import read_raw_datas

        return read_raw_datas(request("raw_datas", {})["dir"])

    runtime.configure(device=args.device or default_device(), requester=request)

    def on_phase(event: dict) -> None:
        send({"kind": "phase", "code": event["code"], "event": event["event"]})

    with ClientRound(args.bundle, fetch_raw_datas, site=args.site, device=args.device or None, on_phase=on_phase) as client:
        while True:
            command = json.loads(connection.recv_bytes())
            if command["cmd"] == "stop":
                return 0
            try:
                if command["cmd"] in ("setup", "round"):
                    _follow_the_job(command)
                if command["cmd"] == "setup":
                    client.setup()
                    send({"ok": True, "device": client.device})
                elif command["cmd"] == "round":
                    send(_round(client, command))
                else:
                    send({"ok": False, "error": {"message": f"unknown command {command['cmd']!r}"}})
            except RoundError as error:
                send({"ok": False, "error": _error(error)})


def requester_for(connection) -> runtime.Requester:
    """``request(what, arguments)`` over ``connection``: the platform's answer, or ``RequestRefused`` raised."""

    def request(what: str, arguments: dict) -> dict:
        connection.send_bytes(json.dumps({"kind": "request", "what": what, **arguments}).encode())
        reply = json.loads(connection.recv_bytes())
        if reply.get("kind") == "refused":
            raise runtime.RequestRefused(str(reply.get("message", "")), str(reply.get("reason", "")))
        return reply

    return request


def _error(error: RoundError) -> dict:
    return {
        "code": error.code,
        "exc_type": error.exc_type,
        "exc_bases": list(error.exc_bases),
        "frames": [{"file": frame.file, "line": frame.line} for frame in error.frames],
        "reason": error.reason,
        "message": error.message,
        "trace": error.trace,
    }


def _die_with_parent(interval: float = 1.0) -> None:
    """End this process group if the executor's process goes away (a killed NVFlare client or simulator).

    The worker leads its own process group (the executor starts it in a new session), so
    this also ends whatever user code started, such as data loader workers. (Inside the
    sandbox, bubblewrap's ``--die-with-parent`` and its process namespace do the same.)
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="fdd-parent-watch", daemon=True).start()


def _follow_the_job(command: dict) -> None:
    """The job's algorithm and FedProx coefficient, as the server sent them with the task."""
    settings = runtime.current()
    runtime.configure(
        device=settings.device, requester=settings.requester, algorithm=command.get("algorithm", settings.algorithm),
        fedprox_mu=float(command.get("fedprox_mu", settings.fedprox_mu)),
        local_baseline=bool(command.get("local_baseline", settings.local_baseline)),
    )  # fmt: skip


def _round(client: ClientRound, command: dict) -> dict:
    import torch
    from safetensors.torch import load_file, save_file

    round_num = command["round"]
    with client.phase(Phase.RECEIVE, round_num, []):
        params = FileTensors(command["params"]) if command.get("params") else None
        controls = load_file(command["controls"]) if command.get("controls") else None
    out = Path(command["params"]).with_name(f"update-{round_num}.safetensors")
    files: dict[str, str] = {}

    def send(result) -> None:  # inside the round's send phase
        save_file(savable_tensors(result.params), str(out))
        if result.control_diff is not None:
            diff_path = out.with_name(f"control-diff-{round_num}.safetensors")
            save_file(savable_tensors({key: torch.as_tensor(value) for key, value in result.control_diff.items()}),
                      str(diff_path))  # fmt: skip
            files["control_diff"] = str(diff_path)

    result = client.run(round_num, params, controls, send=send)
    return {"ok": True, "params": str(out), "num_samples": result.num_samples, "global_metrics": result.global_metrics,
            "local_metrics": result.local_metrics, "baseline_metrics": result.baseline_metrics, **files}  # fmt: skip


class FileTensors(Mapping):
    """The tensors of a safetensors file, each read when it is asked for: the global model is never in memory twice.

    Read with ``pread`` into a fresh tensor, not mapped: a mapped file's pages would count in this process's memory.
    """

    def __init__(self, path: str):
        from nvflare_fdd.streaming import read_layout

        layout, offsets = read_layout(Path(path))
        self._where = {info.key: (info, offset) for info, offset in zip(layout, offsets)}
        self._fd = os.open(path, os.O_RDONLY)

    def __getitem__(self, key: str):
        import torch

        from nvflare_fdd.streaming import read_array

        return torch.from_numpy(read_array(self._fd, *self._where[key]))

    def __iter__(self):
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __del__(self) -> None:
        if hasattr(self, "_fd"):  # not when the file's header was refused
            os.close(self._fd)


def savable_tensors(params: dict) -> dict:
    """Tensors safetensors accepts: contiguous, no shared memory (tied weights are copied), no bfloat16."""
    import torch

    seen: set[int] = set()
    tensors = {}
    for key, value in params.items():
        value = value.float() if value.dtype == torch.bfloat16 else value.contiguous()
        if value.numel() and value.data_ptr() in seen:
            value = value.clone()
        seen.add(value.data_ptr())
        tensors[key] = value
    return tensors


if __name__ == "__main__":
    sys.exit(main())
