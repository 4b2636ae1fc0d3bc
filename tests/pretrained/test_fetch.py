"""A site's fetch against the server component, NVFlare's messaging replaced by calls (see ``loopback``):
verification, retries and resuming, the cache, concurrency, and what the site is told when something is wrong."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from nvflare_fdd.pretrained import wire
from nvflare_fdd.pretrained.manifest import PretrainedError
from nvflare_fdd.pretrained.site import MissingPretrained, fetch_pretrained, site_cache_dir


def same_files(cached: Path, source: Path) -> bool:
    if source.is_file():
        return cached.read_bytes() == source.read_bytes()
    listed = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    return listed == sorted(p.relative_to(cached).as_posix() for p in cached.rglob("*") if p.is_file()) and all(
        (cached / name).read_bytes() == (source / name).read_bytes() for name in listed
    )


def flip_a_byte(message):
    data = message.get(wire.KEY_DATA)
    if data:
        message[wire.KEY_DATA] = bytes([data[0] ^ 0xFF]) + data[1:]
    return message


def test_a_folder_arrives_whole_and_the_second_ask_is_served_from_the_cache(store, hf_folder, loopback, tmp_path):
    source = hf_folder()
    model = store.add("chemberta", source)
    loop = loopback()

    path = fetch_pretrained("chemberta", loop.site_context, tmp_path / "cache")

    assert path.is_absolute() and path == (tmp_path / "cache" / model.digest).resolve()
    assert same_files(path, source)
    assert fetch_pretrained("chemberta", loop.site_context, tmp_path / "cache") == path
    assert len(loop.streams) == 1  # the second ask streamed nothing
    assert not (tmp_path / "cache" / ".staging" / model.digest).exists()


def test_a_one_file_model_is_the_file_itself(store, loopback, tmp_path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"\x01" * 5000)
    store.add("weights", weights)

    path = fetch_pretrained("weights", loopback().site_context, tmp_path / "cache")

    assert path.name == "weights.pt" and path.read_bytes() == weights.read_bytes()


def test_a_missing_name_fails_naming_it_and_how_to_add_it(store, loopback, tmp_path):
    with pytest.raises(MissingPretrained) as caught:
        fetch_pretrained("not-in-store", loopback().site_context, tmp_path / "cache")
    assert str(caught.value) == ("no pretrained model named 'not-in-store' in the platform's store; add it with "
                                 "`fdd pretrained add not-in-store PATH`")  # fmt: skip


def test_a_name_that_is_a_path_is_refused_before_anything_is_sent(store, loopback, tmp_path):
    loop = loopback()
    with pytest.raises(PretrainedError, match="never a path"):
        fetch_pretrained("../../etc", loop.site_context, tmp_path / "cache")
    assert loop.requests == []


def test_a_damaged_piece_fails_verification_and_the_file_is_fetched_again(store, hf_folder, loopback, tmp_path):
    source = hf_folder()
    store.add("m", source)
    loop = loopback(tamper=lambda stream, message: flip_a_byte(message) if stream == 0 else message)

    path = fetch_pretrained("m", loop.site_context, tmp_path / "cache")

    assert same_files(path, source)
    assert len(loop.streams) == 2


def test_a_model_that_always_arrives_damaged_is_never_visible_in_the_cache(store, hf_folder, loopback, tmp_path):
    model = store.add("m", hf_folder())
    loop = loopback(tamper=lambda stream, message: flip_a_byte(message))

    with pytest.raises(PretrainedError, match=r"'m' did not arrive whole after 3 attempts: .*arrived damaged"):
        fetch_pretrained("m", loop.site_context, tmp_path / "cache")

    assert not (tmp_path / "cache" / model.digest).exists()
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_a_broken_stream_resumes_from_the_first_file_not_yet_verified(store, hf_folder, loopback, tmp_path):
    source = hf_folder()
    store.add("m", source)
    seen = []

    def break_after_first_file(stream, message):
        if stream == 0 and seen.count(0) and seen[-1] == "end":
            return None
        seen.append(stream)
        if message.get(wire.KEY_END):
            seen.append("end")
        return message

    loop = loopback(tamper=break_after_first_file)
    path = fetch_pretrained("m", loop.site_context, tmp_path / "cache")

    first, second = loop.sends()
    assert second == first[1:]  # the verified first file was kept
    assert same_files(path, source)


def test_a_damaged_cached_copy_is_fetched_again(store, hf_folder, loopback, tmp_path):
    source = hf_folder()
    store.add("m", source)
    loop = loopback()
    path = fetch_pretrained("m", loop.site_context, tmp_path / "cache")
    (path / "model.safetensors").chmod(0o644)
    (path / "model.safetensors").write_bytes(b"truncated")

    again = fetch_pretrained("m", loop.site_context, tmp_path / "cache")

    assert again == path and same_files(again, source)
    assert len(loop.streams) == 2


def test_a_replaced_model_is_a_new_folder(store, hf_folder, loopback, tmp_path):
    first = store.add("m", hf_folder("one"))
    loop = loopback()
    old = fetch_pretrained("m", loop.site_context, tmp_path / "cache")
    store.remove_pretrained("m")
    second = store.add("m", hf_folder("two"))

    new = fetch_pretrained("m", loop.site_context, tmp_path / "cache")

    assert first.digest != second.digest and new != old and old.exists()


def test_jobs_fetching_one_model_at_once_share_one_download(store, hf_folder, loopback, tmp_path, concurrently):
    source = hf_folder(weights=8 << 20)
    store.add("shared", source)
    loop = loopback()
    barrier = threading.Barrier(4)
    paths = []

    def fetch() -> None:
        barrier.wait()
        paths.append(fetch_pretrained("shared", loop.site_context, tmp_path / "cache"))

    errors = concurrently(fetch, 4)

    assert errors == [] and len(set(paths)) == 1 and same_files(paths[0], source)
    assert len(loop.streams) == 1


def test_nothing_arriving_is_a_timeout_not_a_hang(store, hf_folder, loopback, tmp_path, monkeypatch):
    store.add("m", hf_folder())
    loop = loopback()
    monkeypatch.setattr(loop.server_engine, "stream_objects", lambda *args, **kwargs: (None, None))  # streams nothing

    with pytest.raises(PretrainedError, match="nothing arrived from the server for 1 s"):
        fetch_pretrained("m", loop.site_context, tmp_path / "cache", timeout=1)


def test_a_site_without_the_server_component_is_told_what_is_missing(store, loopback, tmp_path):
    loop = loopback()
    loop.server_engine.handlers.clear()

    with pytest.raises(PretrainedError, match="PretrainedServer"):
        fetch_pretrained("m", loop.site_context, tmp_path / "cache", timeout=1)


def test_the_server_keeps_database_errors_to_itself(tmp_path):
    from loopback import Loopback

    loop = Loopback("postgresql+psycopg://fdd:secret-pw@127.0.0.1:1/none", tmp_path)

    with pytest.raises(PretrainedError) as caught:
        fetch_pretrained("m", loop.site_context, tmp_path / "cache", timeout=5)

    assert "cannot read the platform's pretrained-model store" in str(caught.value)
    assert "secret" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_the_server_finds_this_machines_store_when_nothing_is_configured(tmp_path, monkeypatch):
    from loopback import Loopback

    from nvflare_fdd.platform.storage import SqlStorage
    from nvflare_fdd.pretrained.manifest import scan_source

    monkeypatch.delenv("FDD_STORAGE_URL", raising=False)
    monkeypatch.setenv("FDD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FDD_PLATFORM_CONFIG", str(tmp_path / "none.yaml"))
    loop = Loopback("", tmp_path / "loop")
    with pytest.raises(MissingPretrained):  # nothing added yet: no database is created for the question
        fetch_pretrained("m", loop.site_context, tmp_path / "cache")
    assert not (tmp_path / "home" / "platform.db").exists()

    storage = SqlStorage(f"sqlite:///{tmp_path / 'home' / 'platform.db'}")
    storage.ensure_user("alice")
    (tmp_path / "w.bin").write_bytes(b"weights")
    found = scan_source(tmp_path / "w.bin")
    storage.add_pretrained("alice", "m", found.kind, found.files)
    storage.close()

    assert fetch_pretrained("m", loop.site_context, tmp_path / "cache").read_bytes() == b"weights"


def test_the_site_cache_is_a_site_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("FDD_PRETRAINED_CACHE", raising=False)
    assert site_cache_dir(tmp_path) == Path.home() / ".cache" / "nvflare-fdd" / "pretrained"
    (tmp_path / "fdd_site.json").write_text('{"pretrained_cache": "/srv/fdd/pretrained"}')
    assert site_cache_dir(tmp_path) == Path("/srv/fdd/pretrained")
    (tmp_path / "fdd_site.json").write_text('{"pretrained_cache": 3}')
    with pytest.raises(PretrainedError, match='"pretrained_cache" must be a folder path'):
        site_cache_dir(tmp_path)



def test_the_server_component_materializes_its_own_copy(store, hf_folder, loopback, tmp_path):
    source = hf_folder()
    model = store.add("for-building", source)
    loop = loopback()

    path = loop.server.materialize("for-building", loop.server_context(), tmp_path / "server-cache")

    assert path == (tmp_path / "server-cache" / model.digest).resolve() and same_files(path, source)
    with pytest.raises(MissingPretrained, match="'absent'"):
        loop.server.materialize("absent", loop.server_context(), tmp_path / "server-cache")
