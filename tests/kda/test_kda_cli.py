"""``fdd kda import`` and ``fdd kda tables``."""

from __future__ import annotations

import json

from nvflare_fdd.cli.main import main
from nvflare_fdd.kda import list_tables


def test_import_prints_rows_per_test(runner, db_url, good_csv):
    result = runner.invoke(main, ["kda", "import", "--db", db_url, str(good_csv), "--institution", "Site A"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Imported 3 rows from good.csv for Site A."
    assert result.stdout.splitlines()[1:] == [
        "test               rows",
        "brain_penetration     2",
        "herg                  1",
    ]
    assert "Writing 3 rows" in result.stderr
    assert list_tables(db_url) == [("brain_penetration", 2), ("herg", 1)]


def test_import_with_bad_rows_lists_every_problem_and_exits_1(runner, db_url, write_csv, good_table):
    header, rows = good_table
    rows[0][0] = ""
    rows[2][6] = "high"
    result = runner.invoke(main, ["kda", "import", "--db", db_url, str(write_csv(header, rows))])

    assert result.exit_code == 1
    assert "Error: data.csv: 2 problem(s); nothing was imported" in result.output
    assert "row 2: chemical_id is empty" in result.output
    assert "row 4: measurement_value 'high' is not a finite number" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert list_tables(db_url) == []


def test_import_warns_about_ignored_columns(runner, db_url, write_csv, good_table):
    header, rows = good_table
    path = write_csv(header + ["Notes"], [row + ["n"] for row in rows])
    result = runner.invoke(main, ["kda", "import", "--db", db_url, str(path)])
    assert result.exit_code == 0
    assert "warning: ignored columns that are not standard columns: 'Notes'" in result.stderr


def test_import_data_type_choice_is_checked_by_click(runner, db_url, good_csv):
    result = runner.invoke(main, ["kda", "import", "--db", db_url, str(good_csv), "--data-type", "TOX"])
    assert result.exit_code == 2
    assert "Invalid value for '--data-type': 'TOX'" in result.output


def test_import_of_a_missing_file(runner, db_url, tmp_path):
    result = runner.invoke(main, ["kda", "import", "--db", db_url, str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_tables_prints_an_aligned_table(runner, db_url, good_csv):
    runner.invoke(main, ["kda", "import", "--db", db_url, str(good_csv)])
    result = runner.invoke(main, ["kda", "tables", "--kda", db_url])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "test               rows",
        "brain_penetration     2",
        "herg                  1",
    ]


def test_tables_json(runner, db_url, good_csv):
    runner.invoke(main, ["kda", "import", "--db", db_url, str(good_csv)])
    result = runner.invoke(main, ["kda", "tables", "--db", db_url, "--json"])
    assert json.loads(result.stdout) == {"brain_penetration": 2, "herg": 1}


def test_db_defaults_to_the_environment_variable(runner, db_url, good_csv, monkeypatch):
    monkeypatch.setenv("FDD_KDA_URL", db_url)
    assert runner.invoke(main, ["kda", "import", str(good_csv)]).exit_code == 0
    result = runner.invoke(main, ["kda", "tables"])
    assert "herg" in result.output


def test_db_defaults_to_kda_db_in_the_current_directory(runner, good_csv, tmp_path, monkeypatch):
    monkeypatch.delenv("FDD_KDA_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["kda", "import", str(good_csv)]).exit_code == 0
    assert (tmp_path / "kda.db").is_file()


def test_tables_of_an_empty_database_and_a_bad_url(runner, db_url):
    assert "holds no data yet" in runner.invoke(main, ["kda", "tables", "--db", db_url]).output
    result = runner.invoke(main, ["kda", "tables", "--db", "nodialect://x"])
    assert result.exit_code == 1
    assert "invalid database URL" in result.output
