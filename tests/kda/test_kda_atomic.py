"""An import writes all of its rows or none: a bad file leaves the database as it was."""

from __future__ import annotations

import sqlite3

import pytest

from nvflare_fdd.errors import ImportRowsError, KdaError
from nvflare_fdd.kda import import_file, importer, list_tables, load_raw_datas


@pytest.fixture(params=["sqlite-executemany", "core-insert"])
def insert_path(request, monkeypatch):
    """Run a test with each way of inserting rows, in batches of 1 row."""
    monkeypatch.setattr(importer, "INSERT_BATCH_ROWS", 1)
    if request.param == "core-insert":
        monkeypatch.setattr(importer, "_insert_rows_sqlite", importer._insert_rows_core)
    return request.param


def test_both_insert_paths_store_the_same_rows_and_report_progress(db_url, good_csv, insert_path):
    calls = []
    import_file(db_url, good_csv, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    frames = load_raw_datas(db_url)
    assert frames["brain_penetration"]["chemical_id"].tolist() == ["00123", "00124"]
    assert frames["herg"]["measurement_value"].tolist() == [30.0]


def test_a_file_with_bad_rows_changes_nothing(db_url, db_path, good_csv, write_csv, good_table, dump_db):
    import_file(db_url, good_csv)
    before_bytes, before_rows = db_path.read_bytes(), dump_db(db_path)
    header, rows = good_table
    rows.append(["00999", "", "hERG", "", "Kp", "", "oops", ""])

    with pytest.raises(ImportRowsError):
        import_file(db_url, write_csv(header, rows, name="bad.csv"))

    assert dump_db(db_path) == before_rows
    assert db_path.read_bytes() == before_bytes
    assert list_tables(db_url) == [("brain_penetration", 2), ("herg", 1)]


def test_a_failure_while_inserting_rolls_everything_back(
    db_url, db_path, good_csv, write_csv, good_table, dump_db, insert_path
):
    import_file(db_url, good_csv)
    connection = sqlite3.connect(db_path)
    connection.execute(
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON measurements WHEN NEW.chemical_id = 'BOOM' "
        "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
    )
    connection.commit()
    connection.close()
    before_bytes, before_rows = db_path.read_bytes(), dump_db(db_path)
    header, rows = good_table
    rows.append(["BOOM", "CCO", "hERG", "", "Kp", "", "1", ""])  # valid, but the database refuses it

    with pytest.raises(KdaError, match="boom refused") as caught:
        import_file(db_url, write_csv(header, rows, name="boom.csv"))

    assert not isinstance(caught.value, ImportRowsError)
    assert "nothing was imported" in str(caught.value)
    assert dump_db(db_path) == before_rows
    assert db_path.read_bytes() == before_bytes
