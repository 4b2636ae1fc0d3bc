"""The NVFlare components on their own: what a site sends, and what the server accepts and keeps."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from nvflare.apis.dxo import DXO, DataKind, from_shareable
from nvflare.apis.fl_constant import ReservedKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable
from nvflare.apis.signal import Signal
from nvflare.fuel.utils import fobs

from nvflare_fdd.stats.collector import FddStatsCollector
from nvflare_fdd.stats.contract import RUN_FORMAT
from nvflare_fdd.stats.executor import HEADER_STATS_ERROR, FddStatsExecutor, mask_passwords


def fake_context(identity: str, site_dir=None, run_dir=None, clients=()) -> FLContext:
    """A real FLContext with what the components ask of NVFlare: identity, workspace, clients, events."""
    workspace = SimpleNamespace(get_site_config_dir=lambda: str(site_dir), get_run_dir=lambda job_id: str(run_dir))
    engine = SimpleNamespace(
        get_workspace=lambda: workspace,
        get_clients=lambda: [SimpleNamespace(name=name) for name in clients],
        fire_event=lambda *args: None,
    )
    context = FLContext()
    context.set_prop(ReservedKey.IDENTITY_NAME, identity)
    context.set_prop(ReservedKey.ENGINE, engine)
    context.set_prop(ReservedKey.RUN_NUM, "job_1")
    return context


@pytest.fixture
def site_dir(tmp_path, edge_kda, monkeypatch):
    """A site's ``local`` folder naming the edge KDA and a minimum cell size of 3."""
    for variable in ("FDD_KDA_URL", "FDD_KDA_URLS"):
        monkeypatch.delenv(variable, raising=False)
    folder = tmp_path / "site_a" / "local"
    folder.mkdir(parents=True)
    (folder / "fdd_site.json").write_text(json.dumps({"kda_url": edge_kda, "stats_min_cell_size": 3}))
    return folder


def site_reply(site_dir, site: str = "site_a") -> Shareable:
    """What the site's executor sends, through NVFlare's own serialization, as the server decodes it."""
    reply = FddStatsExecutor().execute("stats", Shareable(), fake_context(site, site_dir), Signal())
    return fobs.loads(fobs.dumps(reply))


def test_a_site_sends_buckets_and_no_exact_count(site_dir, integers_in, node_at):
    reply = site_reply(site_dir)

    assert reply.get_return_code() == ReturnCode.OK
    dxo = from_shareable(reply)
    assert dxo.data_kind == DataKind.STATISTICS and dxo.meta == {}
    assert integers_in(dxo.data) == [".min_cell_size"] and dxo.data["min_cell_size"] == 3
    assert node_at(dxo.data, "herg", "in vivo", "Ki", "Dog")["count"] == ">1000"
    # nothing else in the message is a count either: NVFlare's own headers carry none
    assert integers_in({key: value for key, value in reply.items() if key != "DXO"}) == []


def test_a_site_without_a_kda_replies_with_a_message_and_no_data(tmp_path, monkeypatch):
    for variable in ("FDD_KDA_URL", "FDD_KDA_URLS"):
        monkeypatch.delenv(variable, raising=False)
    reply = FddStatsExecutor().execute("stats", Shareable(), fake_context("site_a", tmp_path), Signal())

    assert reply.get_return_code() == ReturnCode.EXECUTION_EXCEPTION
    assert "no KDA is configured for site site_a" in reply.get_header(HEADER_STATS_ERROR)["message"]
    assert "DXO" not in reply


def test_a_failure_message_never_carries_a_database_password(tmp_path, monkeypatch):
    monkeypatch.setenv("FDD_KDA_URL", "postgresql://kda:s3cret@db.example:5432/kda")
    reply = FddStatsExecutor().execute("stats", Shareable(), fake_context("site_a", tmp_path), Signal())

    message = reply.get_header(HEADER_STATS_ERROR)["message"]
    assert reply.get_return_code() == ReturnCode.EXECUTION_EXCEPTION
    assert "s3cret" not in message and message


def test_mask_passwords():
    assert mask_passwords("x postgresql://kda:pw@h/db y") == "x postgresql://kda:***@h/db y"
    assert mask_passwords("sqlite:////data/kda.db") == "sqlite:////data/kda.db"


def test_an_unknown_task_is_declined(site_dir):
    reply = FddStatsExecutor().execute("train", Shareable(), fake_context("site_a", site_dir), Signal())
    assert reply.get_return_code() == ReturnCode.TASK_UNKNOWN


def collect(tmp_path, replies: dict[str, Shareable]) -> dict:
    """Hand ``replies`` to a collector as NVFlare would, then return the stats.json it writes."""
    collector = FddStatsCollector()
    context = fake_context("server", run_dir=tmp_path / "run", clients=list(replies))
    collector.start_controller(context)
    for site, reply in replies.items():
        collector._accept_result(SimpleNamespace(client=SimpleNamespace(name=site), result=reply), context)
    path = collector._write(context, sorted(replies), "2026-11-26T00:00:00.000+00:00")
    assert path == tmp_path / "run" / "fdd" / "stats.json"
    return json.loads(path.read_text(encoding="utf-8"))


def tampered(reply: Shareable, change) -> Shareable:
    dxo = from_shareable(reply)
    change(dxo)
    return dxo.to_shareable()


def test_the_server_keeps_what_passes_exactly_as_received(tmp_path, site_dir, integers_in):
    reply = site_reply(site_dir)
    sent = from_shareable(reply).data

    record = collect(tmp_path, {"site_a": reply})

    assert record["format"] == RUN_FORMAT and record["job"] == "job_1"
    assert record["summaries"] == {"site_a": sent} and record["failures"] == {}
    assert set(record["received_at"]) == {"site_a"}
    assert integers_in(record) == [".summaries.site_a.min_cell_size"]


def _with_exact_count(dxo):
    dxo.data["tests"][0]["count"] = 213


def _with_extra_key(dxo):
    dxo.data["tests"][0]["children"][0]["rows"] = 10


def _as_other_site(dxo):
    dxo.data["institution"] = "site_b"


def _with_meta(dxo):
    dxo.meta["num_rows"] = 2102


def _as_weights(dxo):
    dxo.data_kind = DataKind.WEIGHTS


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_with_exact_count, "count must be one of"),
        (_with_extra_key, "unexpected rows"),
        (_as_other_site, "names institution 'site_b'"),
        (_with_meta, "unexpected DXO meta keys: num_rows"),
        (_as_weights, "expected a STATISTICS DXO"),
    ],
)
def test_the_server_refuses_a_reply_off_the_contract_and_keeps_nothing_of_it(tmp_path, site_dir, change, reason):
    good = site_reply(site_dir, "site_b")
    record = collect(tmp_path, {"site_a": tampered(site_reply(site_dir), change), "site_b": good})

    assert list(record["summaries"]) == ["site_b"]
    assert reason in record["failures"]["site_a"]
    assert "213" not in json.dumps(record) and "2102" not in json.dumps(record)


def test_a_site_failure_is_recorded_with_its_message(tmp_path, monkeypatch):
    monkeypatch.delenv("FDD_KDA_URL", raising=False)
    monkeypatch.delenv("FDD_KDA_URLS", raising=False)
    failed = FddStatsExecutor().execute("stats", Shareable(), fake_context("site_a", tmp_path), Signal())
    record = collect(tmp_path, {"site_a": failed, "site_c": Shareable()})

    assert record["summaries"] == {}
    assert "no KDA is configured" in record["failures"]["site_a"]
    assert "summary refused" in record["failures"]["site_c"]


def test_a_reply_that_is_not_a_dxo_is_refused(tmp_path):
    plain = DXO(DataKind.STATISTICS, data={"rows": 12}).to_shareable()
    record = collect(tmp_path, {"site_a": plain})
    assert "summary refused" in record["failures"]["site_a"]
