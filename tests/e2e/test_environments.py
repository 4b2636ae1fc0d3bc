"""Job environments end to end: packages from requirements.txt, install failures, and a killed user process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from nvflare_fdd.simulate import RunFailed, run_simulation

pytestmark = pytest.mark.slow

# tabulate is not in the platform's environment: the job's environment must install it.
NEEDS_TABULATE = '''
import tabulate


def train(model, data, configs):
    pass


def evaluate(model, data, configs):
    table = tabulate.tabulate([[1, 2]])
    return {"table_width": float(len(table.splitlines()[0]))}
'''


def test_a_bundle_gets_a_package_the_base_environment_lacks(make_bundle, two_sites, tmp_path):
    with pytest.raises(ImportError):
        import tabulate  # noqa: F401  (the premise: the site's own environment does not have it)
    bundle = make_bundle({"train_eval.py": NEEDS_TABULATE, "requirements.txt": "tabulate==0.9.0\n"}, name="tab")
    outcome = run_simulation(bundle, two_sites, rounds=1, out_dir=tmp_path / "out", model_class="TinyRegressor", timeout=300)

    setup = outcome.progress["setup"]
    assert set(setup) == set(two_sites)
    for phases in setup.values():
        assert phases[0]["code"] == 900 and phases[0]["name"] == "environment"
    metrics = (tmp_path / "out" / "metrics.csv").read_text()
    assert "table_width" in metrics


def test_an_uninstallable_requirement_fails_in_the_environment_phase(make_bundle, two_sites, tmp_path):
    requirements = "tabulate==0.9.0\nfdd-no-such-package-anywhere==1.0\n"
    bundle = make_bundle({"requirements.txt": requirements}, name="bad_req")
    with pytest.raises(RunFailed) as caught:
        run_simulation(bundle, two_sites, rounds=2, out_dir=tmp_path / "out", model_class="TinyRegressor", timeout=300)
    failure = caught.value.failure
    assert failure["code"] == 900
    assert failure["phase"] == "environment"
    assert failure["site"] == "server"  # the server builds the environment first, to build the model class
    assert "fdd-no-such-package-anywhere==1.0" in failure["message"]  # the requirement, named
    assert "not found in the package registry" in failure["message"]  # and the installer's own words
    assert "tabulate==0.9.0" not in failure["message"].split(":", 1)[0]


SLEEPY_TRAIN = '''
import time
from pathlib import Path


def train(model, data, configs):
    (Path.cwd() / "training").write_text("training")  # the sandbox's one writable folder: the exchange folder
    time.sleep(120)


def evaluate(model, data, configs):
    return {"loss": 1.0}
'''


def user_code_processes(folder: Path) -> dict[int, list[bytes]]:
    """The worker processes (as this machine sees them, inside or outside a sandbox) whose bundle is under ``folder``."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"nvflare_fdd.client.worker" in arguments and str(folder).encode() in b" ".join(arguments) \
                and not arguments[0].endswith(b"bwrap"):
            found[int(cmdline.parent.name)] = arguments
    return found


def test_a_user_process_killed_mid_round_fails_the_job_with_its_site_and_phase(make_bundle, two_sites, tmp_path):
    bundle = make_bundle({"train_eval.py": SLEEPY_TRAIN}, name="sleepy")
    killed: dict[str, str] = {}

    def kill_the_first_trainer() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            for pid, arguments in user_code_processes(tmp_path).items():
                try:
                    training = (Path(os.readlink(f"/proc/{pid}/cwd")) / "training").exists()
                except OSError:
                    continue
                if training:
                    killed["site"] = arguments[arguments.index(b"--site") + 1].decode()
                    os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_first_trainer, daemon=True)
    killer.start()
    started = time.monotonic()
    with pytest.raises(RunFailed) as caught:
        run_simulation(bundle, two_sites, rounds=2, out_dir=tmp_path / "out", model_class="TinyRegressor", timeout=300)
    elapsed = time.monotonic() - started

    failure = caught.value.failure
    assert failure["code"] == 6000
    assert failure["site"] == killed["site"]
    assert failure["round"] == 1
    assert "killed by SIGKILL" in failure["message"]
    assert elapsed < 120  # the other site was still sleeping: the job did not wait for it
    progress = json.loads((tmp_path / "out" / "progress.json").read_text())
    assert progress["state"] == "failed"
    time.sleep(2)
    assert user_code_processes(tmp_path) == {}, "user-code processes outlived the job"


def test_a_site_that_misses_the_round_timeout_fails_the_job_naming_it(make_bundle, two_sites, tmp_path):
    slow = ("import time\n\ndef train(model, data, configs):\n    if len(data['train'].dataset) > 50:\n"
            "        time.sleep(120)\n\ndef evaluate(model, data, configs):\n    return {'loss': 1.0}\n")  # fmt: skip
    bundle = make_bundle({"train_eval.py": slow}, name="slow_site")
    started = time.monotonic()
    with pytest.raises(RunFailed) as caught:
        run_simulation(bundle, two_sites, rounds=2, out_dir=tmp_path / "out", model_class="TinyRegressor", timeout=300,
                       server_vars={"round_timeout": 15})  # fmt: skip
    failure = caught.value.failure
    assert failure["site"] == "site_b" and failure["round"] == 1  # the site with 90 rows, which sleeps
    assert "sent no result within the round" in failure["message"]
    assert time.monotonic() - started < 100
