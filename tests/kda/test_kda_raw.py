"""``load_raw_datas``: exactly what user ``data_loader`` code receives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nvflare_fdd.kda import DATA_COLUMNS, import_file, load_raw_datas, make_engine
from nvflare_fdd.kda.access import KdaNotFound
from nvflare_fdd.kda.raw import split_by_test

TEXT_DTYPE = pd.Series(["text"]).dtype  # pandas' default text dtype


@pytest.fixture
def filled_db(db_url, good_csv, write_csv, good_table):
    import_file(db_url, good_csv)
    header, rows = good_table
    later = [["00200", "CCCl", "Brain penetration", "", "Kp", "", "9", ""]]
    import_file(db_url, write_csv(header, later, name="later.csv"), data_type="PK")
    return db_url


def test_frames_have_the_standard_columns_and_dtypes(filled_db):
    raw = load_raw_datas(filled_db)

    assert list(raw) == ["brain_penetration", "herg"]
    for frame in raw.values():
        assert list(frame.columns) == list(DATA_COLUMNS)
        assert frame.index.equals(pd.RangeIndex(len(frame)))
        assert frame["measurement_value"].dtype == np.float64
        for name in DATA_COLUMNS:
            if name != "measurement_value":
                assert frame[name].dtype == TEXT_DTYPE, name


def test_rows_keep_import_order_and_empty_cells_are_missing(filled_db):
    brain = load_raw_datas(filled_db)["brain_penetration"]

    assert brain["chemical_id"].tolist() == ["00123", "00124", "00200"]
    assert brain["measurement_value"].tolist() == [1.5, 0.25, 9.0]
    assert brain["data_type"].tolist() == ["ADMET", "ADMET", "PK"]
    assert brain["test_type"].tolist()[0] == "in vivo"
    assert brain["test_type"].isna().tolist() == [False, True, True]
    assert brain["comment"].isna().all()  # a column absent from the file


@pytest.mark.parametrize(
    ("tests", "keys"),
    [
        (None, ["brain_penetration", "herg"]),
        (["herg"], ["herg"]),
        (["Brain penetration"], ["brain_penetration"]),
        (("HERG", "brain_penetration", "no such test"), ["brain_penetration", "herg"]),
        ([], []),
        (iter(["hERG"]), ["herg"]),
    ],
)
def test_tests_filter_by_key_or_name(filled_db, tests, keys):
    assert list(load_raw_datas(filled_db, tests)) == keys


def test_frames_do_not_share_data_with_the_next_load(filled_db):
    first = load_raw_datas(filled_db)["herg"]
    first.loc[0, "chemical_id"] = "changed"
    assert load_raw_datas(filled_db)["herg"].loc[0, "chemical_id"] == "C-7"


def test_an_empty_kda_gives_no_frames(db_url):
    make_engine(db_url).dispose()  # the KDA's tables, no rows
    assert load_raw_datas(db_url) == {}


def test_a_missing_kda_is_named_and_not_created(tmp_path):
    path = tmp_path / "typo.db"
    with pytest.raises(KdaNotFound, match=f"KDA not found at sqlite:///{path}"):
        load_raw_datas(f"sqlite:///{path}")
    assert not path.exists()


def test_a_job_cannot_write_to_the_kda(filled_db):
    from sqlalchemy import text

    from nvflare_fdd.kda.access import readonly_engine

    with readonly_engine(filled_db) as engine, engine.connect() as connection:
        with pytest.raises(Exception, match="readonly"):
            connection.execute(text("DELETE FROM measurements"))
    assert load_raw_datas(filled_db)


def test_split_by_test_refuses_unsorted_rows():
    frame = pd.DataFrame({"test_key": ["a", "b", "a"], **{name: ["x"] * 3 for name in DATA_COLUMNS}})
    frame["measurement_value"] = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="sorted"):
        split_by_test(frame)


@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_reading_in_chunks_gives_the_same_frames(filled_db, monkeypatch, chunk_rows):
    from nvflare_fdd.kda import raw

    monkeypatch.setattr(raw, "READ_CHUNK_ROWS", chunk_rows)
    frames = load_raw_datas(filled_db)

    brain = frames["brain_penetration"]
    assert brain.index.equals(pd.RangeIndex(3))
    assert brain["chemical_id"].tolist() == ["00123", "00124", "00200"]
    assert brain["test_type"].dtype == TEXT_DTYPE  # text in one chunk, empty in the others
    assert brain["test_type"].isna().tolist() == [False, True, True]
    assert frames["herg"]["measurement_value"].tolist() == [30.0]
