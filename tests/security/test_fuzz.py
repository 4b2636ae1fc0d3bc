"""Fuzzing the two doors of untrusted input: the bundle validator and the KDA importer.

Whatever comes in, the answer is a list of problems or a clear error of ours, never a crash;
a refused import leaves the database exactly as it was.
"""

from __future__ import annotations

import hashlib
import io
import string
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvflare_fdd.bundle import Problem, validate_bundle
from nvflare_fdd.errors import FddError, ImportRowsError, KdaError
from nvflare_fdd.kda import import_file, list_tables

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.one_of(
    st.sampled_from(["model.py", "data.py", "train_eval.py", "requirements.txt", "config.yaml", "w.pt", "x.json"]),
    st.text(alphabet=string.ascii_letters + string.digits + "._-/\\ \n:*?\"<>|~", min_size=1, max_size=30),
)
contents = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.sampled_from([b"def model_loader(configs):\n    return None\n", b"class A(:\n", b"- a\n- b\n", b"\xff\xfe\x00"]),
)


@FUZZ
@given(files=st.dictionaries(names, contents, max_size=8))
def test_validating_any_zip_gives_problems_or_our_error(tmp_path_factory, files):
    archive = tmp_path_factory.mktemp("zip") / "bundle.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        for name, data in files.items():
            handle.writestr(name, data)
    archive.write_bytes(buffer.getvalue())
    try:
        problems = validate_bundle(archive)
    except FddError:
        return
    assert all(isinstance(p, Problem) and str(p) for p in problems)


@FUZZ
@given(files=st.dictionaries(st.text(alphabet=string.ascii_lowercase + "._", min_size=1, max_size=12), contents, max_size=8))
def test_validating_any_folder_gives_problems_or_our_error(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("bundle")
    for name, data in files.items():
        if name not in (".", ".."):
            (folder / name).write_bytes(data)
    try:
        problems = validate_bundle(folder)
    except FddError:
        return
    assert all(isinstance(p, Problem) for p in problems)


HEADER = "chemical_id,smiles_structure_parent,test,measurement_type,measurement_relation,measurement_value"
cells = st.one_of(st.text(max_size=12), st.sampled_from(["", "=", "<", ">=", "~", "1.5", "-3", "nan", "inf", "1e400", "CCO"]))
rows = st.lists(st.lists(cells, min_size=0, max_size=8), max_size=12)


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@FUZZ
@given(header=st.one_of(st.just(HEADER), st.text(max_size=80)), body=rows)
def test_importing_any_csv_imports_all_or_nothing(tmp_path_factory, header, body):
    folder = tmp_path_factory.mktemp("kda")
    url = f"sqlite:///{folder / 'kda.db'}"
    good = folder / "good.csv"
    good.write_text(HEADER + "\nC-1,CCO,Solubility,logS,=,-1.5\n")
    import_file(url, good)
    before = (_fingerprint(folder / "kda.db"), list_tables(url))

    hostile = folder / "hostile.csv"
    text = header + "\n" + "\n".join(",".join(f'"{c}"' if "," in c or '"' in c or "\n" in c else c for c in row) for row in body)
    hostile.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    try:
        summary = import_file(url, hostile)
    except (ImportRowsError, KdaError):
        assert (_fingerprint(folder / "kda.db"), list_tables(url)) == before
        return
    total = sum(count for _, count in list_tables(url))
    assert total == 1 + summary.rows
