"""What the POC test modules share: polling with a diagnosis, the NVFlare job id, a slow bundle."""

from __future__ import annotations

import json
import time

import pytest

from nvflare_fdd.testing import run_until


def wait_for(condition, timeout: float, what: str, interval: float = 0.5, on_timeout=lambda: ""):
    """``condition()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{on_timeout()}")
        time.sleep(interval)


def flare_job_id(platform, name: str) -> str:
    """The NVFlare job id the platform submitted job ``name`` as."""
    return json.loads(platform.storage.get_job(name).run_handle)["job_id"]


def tick_until(platform, name: str, condition, timeout: float, what: str, poc, interval: float = 0.5):
    """``nvflare_fdd.testing.run_until``, saying on timeout what was awaited, with the deployment's logs."""

    def logs():
        job = platform.storage.get_job(name)
        return f"waiting for {what}\n" + poc.log_tails(flare_job_id(platform, name) if job.run_handle else None)

    return run_until(platform, name, condition, timeout, interval=interval, explain=logs)


def slow_train_eval(seconds: float) -> str:
    """A ``train_eval.py`` for the tiny bundle whose ``train`` sleeps ``seconds``, so a round lasts."""
    return f"""
import time

import torch


def train(model, data, configs):
    time.sleep({seconds})


def evaluate(model, data, configs):
    x, y = next(iter(data["train"]))
    with torch.no_grad():
        return {{"mse": torch.nn.functional.mse_loss(model(x), y)}}
"""
