"""KDA, the site's data agent: imports assay files and serves ``raw_datas`` (DESIGN §4).

Rows never leave the site; this package only reads files and the local database.
"""

from __future__ import annotations

from nvflare_fdd.kda.importer import ImportSummary, import_file
from nvflare_fdd.kda.raw import load_raw_datas
from nvflare_fdd.kda.schema import (
    DATA_COLUMNS,
    DATA_TYPES,
    RELATIONS,
    REQUIRED_COLUMNS,
    STANDARD_COLUMNS,
    Base,
    KdaImport,
    Measurement,
    test_key,
)
from nvflare_fdd.kda.store import (
    DEFAULT_URL,
    URL_ENV_VAR,
    list_tables,
    make_engine,
    resolve_url,
    session_scope,
)

__all__ = [
    "DATA_COLUMNS",
    "DATA_TYPES",
    "DEFAULT_URL",
    "RELATIONS",
    "REQUIRED_COLUMNS",
    "STANDARD_COLUMNS",
    "URL_ENV_VAR",
    "Base",
    "ImportSummary",
    "KdaImport",
    "Measurement",
    "import_file",
    "list_tables",
    "load_raw_datas",
    "make_engine",
    "resolve_url",
    "session_scope",
    "test_key",
]
