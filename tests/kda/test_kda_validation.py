"""Every kind of bad row is reported with the row number the provider sees."""

from __future__ import annotations

import pytest

from nvflare_fdd.errors import ImportRowsError
from nvflare_fdd.kda import import_file, list_tables

HEADER = ["chemical_id", "smiles_structure_parent", "test", "measurement_type",
          "measurement_relation", "measurement_value", "data_type"]
GOOD = ["1", "CCO", "hERG", "IC50", "", "1.0", ""]


def with_cell(column: str, value: str) -> list[str]:
    row = list(GOOD)
    row[HEADER.index(column)] = value
    return row


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("smiles_structure_parent", "", "smiles_structure_parent is empty"),
        ("smiles_structure_parent", "   ", "smiles_structure_parent is empty"),
        ("chemical_id", "", "chemical_id is empty"),
        ("test", "", "test is empty"),
        ("measurement_type", "", "measurement_type is empty"),
        ("measurement_value", "", "measurement_value is empty"),
        ("measurement_value", "abc", "measurement_value 'abc' is not a finite number"),
        ("measurement_value", "1,5", "measurement_value '1,5' is not a finite number"),
        ("measurement_value", "inf", "measurement_value 'inf' is not a finite number"),
        ("measurement_value", "NaN", "measurement_value 'NaN' is not a finite number"),
        ("measurement_relation", "=<", "measurement_relation '=<' is not one of =, <, >, <=, >="),
        ("measurement_relation", "~", "measurement_relation '~' is not one of =, <, >, <=, >="),
        ("data_type", "Tox", "data_type 'Tox' is not one of ADMET, PK"),
    ],
)
def test_bad_row_is_reported_with_its_row_number(db_url, write_csv, column, value, message):
    # rows 2 and 3 are good, row 4 is bad, row 5 is good
    path = write_csv(HEADER, [GOOD, GOOD, with_cell(column, value), GOOD])

    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, path)

    assert caught.value.source == "data.csv"
    assert len(caught.value.problems) == 1
    row, text = caught.value.problems[0]
    assert row == 4
    assert text.startswith(message)
    assert list_tables(db_url) == []


def test_blank_lines_do_not_shift_row_numbers(db_url, write_csv):
    path = write_csv(HEADER, [GOOD, [], GOOD, with_cell("chemical_id", "")])
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, path)
    assert caught.value.problems == [(5, "chemical_id is empty")]


def test_all_problems_are_reported_at_once_in_row_order(db_url, write_csv):
    rows = [
        with_cell("measurement_value", "x"),
        GOOD,
        ["", "", "hERG", "IC50", "<>", "", "Tox"],
    ]
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, write_csv(HEADER, rows))
    assert caught.value.problems == [
        (2, "measurement_value 'x' is not a finite number"),
        (4, "chemical_id is empty"),
        (4, "smiles_structure_parent is empty"),
        (4, "measurement_relation '<>' is not one of =, <, >, <=, >= (empty means =)"),
        (4, "measurement_value is empty"),
        (4, "data_type 'Tox' is not one of ADMET, PK"),
    ]
    assert "row 4: chemical_id is empty" in str(caught.value)


def test_missing_required_columns_are_named_with_the_columns_found(db_url, write_csv):
    path = write_csv(["Chemical_ID", "Test", "Measurement_Value", "Notes"], [["1", "t", "1"]])
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, path)
    found = "columns found: 'Chemical_ID', 'Test', 'Measurement_Value', 'Notes'"
    assert caught.value.problems == [
        (None, f"missing required column 'smiles_structure_parent'; {found}"),
        (None, f"missing required column 'measurement_type'; {found}"),
    ]


def test_duplicate_columns_are_refused(db_url, write_csv):
    header = HEADER + ["TEST"]
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, write_csv(header, [GOOD + ["x"]]))
    assert caught.value.problems == [(1, "column 'test' appears twice (as 'test' and 'TEST')")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "missing required column 'chemical_id'; the header row (row 1) is empty"),
        (",".join(HEADER) + "\n", "the file has no data rows"),
        (",".join(HEADER) + "\n1,C,t,m,,1,,extra\n", "cannot parse the CSV file"),
    ],
)
def test_empty_and_malformed_files(db_url, tmp_path, content, message):
    path = tmp_path / "odd.csv"
    path.write_text(content)
    with pytest.raises(ImportRowsError) as caught:
        import_file(db_url, path)
    assert caught.value.problems[0][0] is None
    assert caught.value.problems[0][1].startswith(message)


def test_non_utf8_file_is_refused(db_url, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((",".join(HEADER) + "\n1,C,Löslichkeit,m,,1,\n").encode("latin-1"))
    with pytest.raises(ImportRowsError, match="not UTF-8"):
        import_file(db_url, path)
