"""Importing CSV files: what lands in the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nvflare_fdd.errors import KdaError
from nvflare_fdd.kda import ImportSummary, import_file, list_tables


def rows_of(db_path: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_csv_import_summary_and_rows(db_url, db_path, good_csv):
    summary = import_file(db_url, good_csv, institution="Site A")

    assert summary == ImportSummary(
        source="good.csv",
        institution="Site A",
        rows=3,
        tests={"brain_penetration": 2, "herg": 1},
    )
    assert rows_of(db_path, "SELECT source, institution, row_count FROM kda_imports") == [
        ("good.csv", "Site A", 3)
    ]
    stored = rows_of(
        db_path,
        "SELECT chemical_id, test_key, test, test_type, measurement_relation, measurement_value,"
        " measurement_unit, data_type, comment FROM measurements ORDER BY id",
    )
    assert stored == [
        ("00123", "brain_penetration", "Brain penetration", "in vivo", "=", 1.5, "ratio", "ADMET", None),
        ("00124", "brain_penetration", "Brain penetration", None, "<", 0.25, None, "ADMET", None),
        ("C-7", "herg", "hERG", "in vitro", ">=", 30.0, "uM", "ADMET", None),
    ]


def test_imported_at_is_recorded(db_url, db_path, good_csv):
    import_file(db_url, good_csv)
    (imported_at,) = rows_of(db_path, "SELECT imported_at FROM kda_imports")[0]
    assert imported_at.startswith("20")


def test_headers_match_case_and_whitespace_insensitively(db_url, write_csv):
    header = [" CHEMICAL_ID", "Smiles_Structure_Parent ", "TEST", "measurement type", "Measurement_VALUE"]
    path = write_csv(header, [["1", "C", "Solubility", "LogS", "-2"]])
    assert import_file(db_url, path).tests == {"solubility": 1}


def test_cells_are_stripped_and_blank_rows_skipped(db_url, db_path, write_csv):
    header = ["chemical_id", "smiles_structure_parent", "test", "measurement_type",
              "measurement_value", "measurement_relation"]
    path = write_csv(header, [[" 7 ", " CCO ", " hERG ", " IC50 ", " 2.5 ", " <= "], ["", " ", "", "", "", ""]])
    summary = import_file(db_url, path)
    assert summary.rows == 1
    assert rows_of(db_path, "SELECT chemical_id, smiles_structure_parent, test, measurement_relation,"
                            " measurement_value FROM measurements") == [("7", "CCO", "hERG", "<=", 2.5)]


def test_unknown_columns_are_ignored_and_reported(db_url, write_csv, good_table):
    header, rows = good_table
    path = write_csv(header + ["Notes", "Assay_Date"], [row + ["x", "2024-01-01"] for row in rows])
    summary = import_file(db_url, path)
    assert summary.rows == 3
    assert summary.ignored_columns == ("Notes", "Assay_Date")


@pytest.mark.parametrize(
    ("column_values", "argument", "expected"),
    [
        (None, None, ["ADMET", "ADMET"]),
        (None, "PK", ["PK", "PK"]),
        (None, "pk", ["PK", "PK"]),
        (["PK", "admet"], None, ["PK", "ADMET"]),
        (["PK", ""], "PK", ["PK", "PK"]),
        (["", ""], None, ["ADMET", "ADMET"]),
    ],
)
def test_csv_data_type_comes_from_column_then_argument_then_admet(
    db_url, db_path, write_csv, column_values, argument, expected
):
    header = ["chemical_id", "smiles_structure_parent", "test", "measurement_type", "measurement_value"]
    rows = [["1", "C", "t", "m", "1"], ["2", "C", "t", "m", "2"]]
    if column_values is not None:
        header.append("Data_Type")
        rows = [row + [value] for row, value in zip(rows, column_values)]
    import_file(db_url, write_csv(header, rows), data_type=argument)
    assert [value for (value,) in rows_of(db_path, "SELECT data_type FROM measurements ORDER BY id")] == expected


def test_unknown_data_type_argument_is_refused(db_url, good_csv):
    with pytest.raises(KdaError, match="unknown data type 'Tox'"):
        import_file(db_url, good_csv, data_type="Tox")


def test_leading_zero_ids_and_numbers_stay_text(db_url, db_path, write_csv):
    header = ["chemical_id", "smiles_structure_parent", "test", "measurement_type", "measurement_value",
              "test_dose"]
    path = write_csv(header, [["00123", "C", "t", "m", "1", "010"], ["1e3", "C", "t", "m", "2", "1.50"]])
    import_file(db_url, path)
    assert rows_of(db_path, "SELECT chemical_id, test_dose FROM measurements ORDER BY id") == [
        ("00123", "010"), ("1e3", "1.50"),
    ]


def test_imports_accumulate(db_url, good_csv):
    import_file(db_url, good_csv)
    import_file(db_url, good_csv)
    assert list_tables(db_url) == [("brain_penetration", 4), ("herg", 2)]


def test_list_tables_of_an_empty_database(db_url):
    assert list_tables(db_url) == []


def test_utf8_bom_from_excel_csv_export(db_url, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text(
        "chemical_id,smiles_structure_parent,test,measurement_type,measurement_value\n1,C,t,m,1\n",
        encoding="utf-8-sig",
    )
    assert import_file(db_url, path).rows == 1


@pytest.mark.parametrize(("name", "message"), [("missing.csv", "no such file"), ("data.json", "unsupported")])
def test_unreadable_paths(db_url, tmp_path, name, message):
    if name.endswith(".json"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(KdaError, match=message):
        import_file(db_url, tmp_path / name)
