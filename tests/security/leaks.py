"""What left the sites: the places a leak would show, and the check for a site's canaries in them.

Every row of the hostile-bundle tests' sites carries ``CANARY`` in its ``chemical_id`` and comment,
so any row that leaves a site is found in what the server, the platform's storage, the CLI or the
web UI got — raw, as hex or as base64, the encodings a bundle would use to smuggle it out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path

CANARY = "CANARYrow7f3a"
SITE_SIZES = {"site_a": 24, "site_b": 36}


def encodings(secret: str) -> list[bytes]:
    """``secret`` as a bundle might smuggle it: raw, hex (both cases), base64 (and its URL-safe form)."""
    raw = secret.encode()
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)[:-2],
            base64.urlsafe_b64encode(raw)[:-2]]  # fmt: skip


def assert_nothing_leaked(blobs: dict[str, bytes], secrets: Iterable[str] = (CANARY,)) -> None:
    """No secret, in any encoding, in any of ``blobs`` (name → content)."""
    for secret in secrets:
        for encoded in encodings(secret):
            for name, blob in blobs.items():
                assert encoded not in blob, f"{secret!r} ({encoded[:24]!r}) left the site in {name}"


def files_under(folder: Path, skip: Iterable[str] = ()) -> dict[str, bytes]:
    """Every file below ``folder`` (name → bytes), except those whose path has a part in ``skip``."""
    skip = set(skip)
    return {str(path): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not skip & set(path.relative_to(folder).parts)}  # fmt: skip


def what_left_the_sites(out_dir: Path, cli_output: str = "") -> dict[str, bytes]:
    """What a ``fdd run`` produced outside the sites: its output, the results and the server's workspace.

    The simulated sites' own folders and the simulator's log (one stream of every process on
    this machine, sites included) stay here: they are the sites' own.
    """
    blobs = {"cli output": cli_output.encode()}
    blobs.update({path: data for path, data in files_under(out_dir).items()
                  if "/nvflare/" not in path})  # fmt: skip
    for server in (out_dir / "nvflare" / "workspace").glob("server"):
        blobs.update(files_under(server))
    return blobs


def storage_dump(url: str, skip_tables: Iterable[str] = ()) -> bytes:
    """Every row of every table of the platform's database (but ``skip_tables``), as text."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    lines = []
    with engine.connect() as connection:
        for table in sorted(set(inspect(engine).get_table_names()) - set(skip_tables)):
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                lines.append(f"{table}: {tuple(row)!r}")
    engine.dispose()
    return "\n".join(lines).encode()




def progress_of(out_dir: Path) -> dict:
    return json.loads((out_dir / "progress.json").read_text())
