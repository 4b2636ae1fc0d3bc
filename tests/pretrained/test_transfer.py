"""The transfer in a real NVFlare run: two simulated sites fetch models from the server's store, through NVFlare.

The server finds the store through ``$FDD_STORAGE_URL`` (what the platform's simulator runner sets);
the sites get no path to it: every byte reaches them over NVFlare's aux channel and object streaming.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from flare_job import run_fetch_job

from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.pretrained.manifest import scan_source

pytestmark = pytest.mark.slow

SITES = ("site_a", "site_b")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_with(url: str, models: dict[str, Path]) -> None:
    storage = SqlStorage(url)
    try:
        storage.ensure_user("alice")
        for name, path in models.items():
            found = scan_source(path)
            storage.add_pretrained("alice", name, found.kind, found.files)
    finally:
        storage.close()


@pytest.fixture
def hf_model(tmp_path: Path) -> Path:
    folder = tmp_path / "source" / "chemberta"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (folder / "empty.txt").write_bytes(b"")
    (folder / "model.safetensors").write_bytes(os.urandom(3 * (1 << 20) + 1234))
    return folder


def test_two_sites_get_a_folder_and_a_file_byte_for_byte_and_a_missing_name_fails_naming_it(tmp_path, hf_model):
    weights = tmp_path / "source" / "weights.pt"
    weights.write_bytes(os.urandom(5000))
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    store_with(url, {"chemberta-77M": hf_model, "solubility-weights": weights})

    record, seconds, _ = run_fetch_job(tmp_path / "run", url, ["chemberta-77M", "solubility-weights", "no-such-model"],
                                       sites=SITES, timeout=300)  # fmt: skip

    expected_folder = {p.relative_to(hf_model).as_posix(): sha256_of(p) for p in hf_model.rglob("*") if p.is_file()}
    caches = tmp_path / "run" / "caches"
    for site in SITES:
        answers = record["sites"][site]
        folder = answers["chemberta-77M"]
        assert folder["absolute"] and folder["same"], folder
        assert Path(folder["path"]).parent == caches / site  # the site's own cache, a folder named by the content
        assert folder["files"] == expected_folder
        one = answers["solubility-weights"]
        assert Path(one["path"]).name == "weights.pt" and one["files"] == {"weights.pt": sha256_of(weights)}
        assert one["again_seconds"] < 5  # the second ask finds it cached
        missing = answers["no-such-model"]
        assert missing["type"] == "MissingPretrained"
        assert "no pretrained model named 'no-such-model'" in missing["error"] and "fdd pretrained add" in missing["error"]
        assert not list((caches / site / ".staging").glob("*/*.part"))


def test_a_few_hundred_mb_arrive_whole_with_flat_memory(tmp_path):
    size = 384 << 20
    big = tmp_path / "source" / "model.safetensors"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as handle:  # sparse, with random blocks: not all one byte value
        handle.truncate(size)
        for offset in range(0, size, 32 << 20):
            handle.seek(offset)
            handle.write(os.urandom(1 << 20))
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    store_with(url, {"big-model": big})

    record, seconds, _ = run_fetch_job(tmp_path / "run", url, ["big-model"], sites=SITES, timeout=540)

    expected = sha256_of(big)
    figures = []
    for site in SITES:
        answers = record["sites"][site]
        assert answers["big-model"]["files"] == {"model.safetensors": expected}, answers["big-model"]
        growth = answers["_rss_mib_during"]["max"] - answers["_rss_mib_before"]
        figures.append(f"{site}: {answers['big-model']['seconds']:.1f} s, RSS {answers['_rss_mib_before']:.0f} → "
                       f"max {answers['_rss_mib_during']['max']:.0f} MiB")  # fmt: skip
        assert growth < 128, figures  # the file is 384 MiB: the site never holds it
    server = record["server_rss_mib_during"]["max"] - record["server_rss_mib_before"]
    figures.append(f"server: RSS {record['server_rss_mib_before']:.0f} → max {record['server_rss_mib_during']['max']:.0f} MiB "
                   f"(peak {record['server_peak_rss_mib_after']:.0f}); run {seconds:.0f} s")  # fmt: skip
    print("\n".join(figures))
    assert server < 384, figures  # two sites at once: NVFlare's streaming buffers, not the file
