"""Fixtures of the demo tests: the demo tables and one prepared demo directory."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def demo_tables() -> dict[str, pd.DataFrame]:
    """``{institution: standard-format DataFrame}`` from ``build_demo_tables``."""
    from nvflare_fdd.demo import build_demo_tables

    return build_demo_tables()


@pytest.fixture(scope="session")
def prepared_demo(tmp_path_factory):
    """``(directory, sites)`` of one ``prepare_demo`` run shared by the session."""
    from nvflare_fdd.demo import prepare_demo

    directory = tmp_path_factory.mktemp("demo")
    return directory, prepare_demo(directory)
