"""Opening a site's KDA for reading: read-only, never created, and a clear error when it is not there.

A job only reads the KDA: an SQLite file is opened with ``mode=ro`` (a mistyped path is
not silently created as an empty database), other databases with a read-only
transaction. A KDA that is missing, unreadable or holds no KDA tables fails with
"KDA not found at <the site's configured location>" (credentials hidden), never with
whatever the user's ``data_loader`` makes of an empty dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from nvflare_fdd.errors import KdaNotFound
from nvflare_fdd.kda.schema import Measurement
from nvflare_fdd.kda.store import resolve_url


def kda_location(url: str) -> str:
    """The KDA's URL as it may be shown: the password hidden."""
    try:
        return make_url(resolve_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "an invalid database URL"


@contextmanager
def readonly_engine(url: str) -> Iterator[Engine]:
    """An engine on the KDA at ``url`` that cannot write to it.

    Raises:
        KdaNotFound: there is no KDA there (a missing file, an unreachable database, no KDA tables).
    """
    resolved = resolve_url(url)
    location = kda_location(url)
    try:
        parsed = make_url(resolved)
    except ArgumentError as exc:
        raise KdaNotFound(f"KDA not found at {location}: check kda_url in the site's fdd_site.json") from exc
    connect_args: dict = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise KdaNotFound(f"KDA not found at {location}: no such file; check kda_url in the site's fdd_site.json")
        resolved = f"sqlite:///file:{quote(str(Path(database).resolve()))}?mode=ro&uri=true"
    elif parsed.get_backend_name() == "postgresql":
        connect_args["options"] = "-c default_transaction_read_only=on"
    try:
        engine = create_engine(resolved, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise KdaNotFound(f"KDA not found at {location}: {exc}") from exc
    try:
        try:
            has_table = inspect(engine).has_table(Measurement.__tablename__)
        except SQLAlchemyError as exc:
            raise KdaNotFound(f"KDA not found at {location}: the database cannot be opened ({type(exc).__name__})") from exc
        if not has_table:
            raise KdaNotFound(f"KDA not found at {location}: the database has no KDA tables; import data with `fdd kda import`")
        yield engine
    finally:
        engine.dispose()

