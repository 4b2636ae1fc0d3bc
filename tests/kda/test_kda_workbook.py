"""Importing Excel workbooks: sheets ADMET and PK, provider-style headers, numeric cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from nvflare_fdd.errors import ImportRowsError
from nvflare_fdd.kda import DATA_COLUMNS, import_file, load_raw_datas

ADMET_HEADER = ["Chemical_ID", "SMILES_Structure_Parent", "Test", "Test_Type", "Measurement_Type",
                "Measurement_Relation", "Measurement_Value", "Measurement_Unit", "Comment"]
ADMET_ROWS = [
    ["00123", "CCO", "Brain penetration", "in vivo", "Kp", None, 1.5, "ratio", None],
    [None, None, None, None, None, None, None, None, None],  # a blank row is skipped
    [42, "CCN", "Brain penetration", None, "Kp", "<", 2, None, "repeat"],
    ["C-9", "c1ccccc1", "hERG", "in vitro", "IC50", ">", "12.5", "uM", None],
]
PK_HEADER = ["chemical_id", "smiles_structure_parent", "TEST", "Test_Subject", "Test_Dose",
             "Measurement_Type", "Measurement_Value", "Measurement_Route"]
PK_ROWS = [
    ["00123", "CCO", "Clearance", "rat", 10, "CL", 0.1, "iv"],
    ["00777", "CCC", "Clearance", "dog", 2.5, "CL", 7, "po"],
]


def write_workbook(path: Path, sheets: dict[str, tuple[list, list[list]]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(
        tmp_path / "site.xlsx",
        {
            "README": (["about"], [["not data"]]),
            "ADMET": (ADMET_HEADER, ADMET_ROWS),
            "PK": (PK_HEADER, PK_ROWS),
        },
    )


def test_workbook_imports_both_sheets(db_url, workbook):
    summary = import_file(db_url, workbook, institution="Site B")
    assert summary.source == "site.xlsx"
    assert summary.rows == 5
    assert summary.tests == {"brain_penetration": 2, "clearance": 2, "herg": 1}
    assert summary.ignored_columns == ()


def test_workbook_rows_reach_raw_datas(db_url, workbook):
    import_file(db_url, workbook)

    raw = load_raw_datas(db_url)

    assert list(raw) == ["brain_penetration", "clearance", "herg"]
    for frame in raw.values():
        assert list(frame.columns) == list(DATA_COLUMNS)
        assert isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
        assert frame["measurement_value"].dtype == np.float64
    brain = raw["brain_penetration"]
    assert brain["chemical_id"].tolist() == ["00123", "42"]
    assert brain["measurement_value"].tolist() == [1.5, 2.0]
    assert brain["measurement_relation"].tolist() == ["=", "<"]
    assert brain["data_type"].tolist() == ["ADMET", "ADMET"]
    assert brain["test"].tolist() == ["Brain penetration", "Brain penetration"]
    assert pd.isna(brain.loc[0, "comment"]) and brain.loc[1, "comment"] == "repeat"
    assert brain["smiles_salt"].isna().all()
    clearance = raw["clearance"]
    assert clearance["data_type"].tolist() == ["PK", "PK"]
    assert clearance["test_dose"].tolist() == ["10", "2.5"]
    assert clearance["test_subject"].tolist() == ["rat", "dog"]
    assert clearance["measurement_value"].tolist() == [0.1, 7.0]
    assert raw["herg"].loc[0, "measurement_value"] == 12.5


def test_workbook_problems_name_the_sheet_and_row(db_url, tmp_path):
    admet_rows = [list(row) for row in ADMET_ROWS]  # row 3 is blank
    admet_rows[3][6] = "n/a"
    pk_rows = [list(row) for row in PK_ROWS]
    pk_rows[0][1] = None
    path = write_workbook(tmp_path / "bad.xlsx", {"ADMET": (ADMET_HEADER, admet_rows),
                                                  "PK": (PK_HEADER, pk_rows)})
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, path)
    assert caught.value.problems == [
        (5, "sheet ADMET: measurement_value 'n/a' is not a finite number"),
        (2, "sheet PK: smiles_structure_parent is empty"),
    ]


def test_data_type_column_in_a_sheet_must_match_the_sheet(db_url, tmp_path):
    header = PK_HEADER + ["Data_Type"]
    rows = [PK_ROWS[0] + ["pk"], PK_ROWS[1] + ["ADMET"]]
    path = write_workbook(tmp_path / "mixed.xlsx", {"PK": (header, rows)})
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, path)
    assert caught.value.problems == [(3, "sheet PK: data_type 'ADMET' does not match its sheet 'PK'")]


def test_workbook_without_data_sheets_names_its_sheets(db_url, tmp_path):
    path = write_workbook(tmp_path / "other.xlsx", {"Sheet1": (["a"], []), "Notes": (["b"], [])})
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, path)
    assert caught.value.problems == [
        (None, "the workbook has no sheet named ADMET or PK; its sheets: 'Sheet1', 'Notes'")
    ]


def test_data_type_argument_imports_only_that_sheet(db_url, workbook, tmp_path):
    assert import_file(db_url, workbook, data_type="PK").tests == {"clearance": 2}
    only_admet = write_workbook(tmp_path / "admet.xlsx", {"ADMET": (ADMET_HEADER, ADMET_ROWS)})
    with pytest.raises(ImportRowsError, match="no sheet named PK"):
        import_file(db_url, only_admet, data_type="PK")


def test_a_file_that_is_not_a_workbook(db_url, tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("chemical_id\n")
    with pytest.raises(ImportRowsError, match="cannot open the workbook"):
        import_file(db_url, path)
