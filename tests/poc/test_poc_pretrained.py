"""Pretrained models on a real POC deployment: the sites fetch them through NVFlare, over the deployment's own
connections, from the store the server knows (``storage_url`` in the server's ``local/fdd_site.json``)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from poc_helpers import wait_for

from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.pretrained.manifest import scan_source

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pretrained"))
from flare_job import RESULTS, write_fetch_job  # noqa: E402

pytestmark = pytest.mark.slow


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_poc_sites_fetch_a_pretrained_model_through_nvflare(poc, flare_session, storage_url, tmp_path):
    folder = tmp_path / "chemberta"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (folder / "model.safetensors").write_bytes(os.urandom(5 << 20))
    storage = SqlStorage(storage_url)
    try:
        storage.ensure_user("alice")
        found = scan_source(folder)
        storage.add_pretrained("alice", "chemberta-poc", found.kind, found.files)
    finally:
        storage.close()
    job_dir = write_fetch_job(tmp_path / "pretrained_fetch", ["chemberta-poc", "not-in-the-store"], list(poc.sites),
                              tmp_path / "caches")  # fmt: skip

    job_id = flare_session.submit_job(str(job_dir))

    def finished():
        status = str(flare_session.get_job_meta(job_id).get("status", ""))
        return status if status.startswith("FINISHED") else None

    status = wait_for(finished, 240, f"NVFlare job {job_id} to end", interval=1.0, on_timeout=lambda: poc.log_tails(job_id))
    assert status == "FINISHED:COMPLETED", poc.log_tails(job_id)
    downloaded = Path(flare_session.download_job_result(job_id))  # the server's run folder, kept in its job store
    record = json.loads(next(downloaded.rglob(RESULTS)).read_text())
    expected = {p.relative_to(folder).as_posix(): sha256_of(p) for p in folder.rglob("*") if p.is_file()}
    for site in poc.sites:
        answers = record["sites"][site]
        assert answers["chemberta-poc"]["files"] == expected, answers
        assert Path(answers["chemberta-poc"]["path"]).parent == tmp_path / "caches" / site
        assert "no pretrained model named 'not-in-the-store'" in answers["not-in-the-store"]["error"]
        # a site has no way to the store but NVFlare: not in its settings, not in its processes' environment
        assert "storage_url" not in json.loads((poc.site_dir(site) / "local" / "fdd_site.json").read_text())
        pids = poc.processes(str(poc.site_dir(site)))
        assert pids, f"no process of {site} found"
        for pid in pids:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert not any(item.startswith((b"FDD_STORAGE_URL=", b"FDD_PLATFORM_URL=")) for item in environ), pid
