"""Synthetic KDAs of a chosen shape, for the statistics' tests and benchmark.

A KDA is described as cells, each a group of rows that share their level values, with a known
number of uncensored and censored rows and known values, so every bucket and statistic of the
result is known in advance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import gcd

from sqlalchemy import insert

from nvflare_fdd.kda.schema import KdaImport, Measurement, test_key
from nvflare_fdd.kda.store import engine_scope, session_scope

_INSERT_BATCH = 50_000
_CENSORED_RELATIONS = ("<", ">", "<=", ">=")


@dataclass(frozen=True)
class Cell:
    """Rows sharing their level values.

    Attributes:
        test / test_type / measurement_type / test_subject: the level values (``None`` = empty).
        exact: rows with relation ``=``; their values are ``start, start + 1, ...`` in a shuffled
            order, so their mean and median are ``start + (exact - 1) / 2``.
        censored: rows with relations ``<``, ``>``, ``<=``, ``>=`` in turn, all of value ``censored_value``.
        data_type / unit: the rows' data type and unit.
    """

    test: str
    measurement_type: str
    exact: int
    censored: int = 0
    test_type: str | None = None
    test_subject: str | None = None
    data_type: str = "ADMET"
    unit: str | None = None
    start: float = 1.0
    censored_value: float = 1e6

    @property
    def rows(self) -> int:
        return self.exact + self.censored


def write_kda(url: str, cells: Sequence[Cell], institution: str = "synthetic") -> int:
    """Append the rows of ``cells`` to the KDA at ``url`` (created if missing) as one import.

    Returns:
        The number of rows written.
    """
    total = sum(cell.rows for cell in cells)
    with engine_scope(url) as engine, session_scope(engine) as session:
        record = KdaImport(source="synthetic", institution=institution, row_count=total)
        session.add(record)
        session.flush()
        batch: list[dict] = []
        for row in _rows(cells, record.id):
            batch.append(row)
            if len(batch) == _INSERT_BATCH:
                session.execute(insert(Measurement), batch)
                batch = []
        if batch:
            session.execute(insert(Measurement), batch)
    return total


def benchmark_cells(rows: int) -> list[Cell]:
    """About ``rows`` rows over 20 tests × 3 test types × 4 measurement types × 4 test subjects.

    Cell sizes vary (the biggest is 15 times the smallest); a tenth of the rows are censored,
    one test type and one test subject are empty, and the last 5 tests are PK data.
    """
    shapes = [
        (test, test_type, measurement_type, subject)
        for test in range(20)
        for test_type in ("in vitro", "in vivo", None)
        for measurement_type in ("IC50", "Kp", "AUC", "Cmax")
        for subject in ("Human", "Rat", "Mouse", None)
    ]
    weights = [1 + (index * 7) % 15 for index in range(len(shapes))]
    scale = rows / sum(weights)
    cells = []
    for (test, test_type, measurement_type, subject), weight in zip(shapes, weights):
        size = max(1, round(weight * scale))
        censored = size // 10
        cells.append(
            Cell(
                test=f"Assay {test:02d}",
                test_type=test_type,
                measurement_type=measurement_type,
                test_subject=subject,
                exact=size - censored,
                censored=censored,
                data_type="PK" if test >= 15 else "ADMET",
                unit="uM" if measurement_type == "IC50" else "ng/mL",
                start=float(weight),
            )
        )
    return cells


def _rows(cells: Sequence[Cell], import_id: int) -> Iterator[dict]:
    number = 0
    for cell in cells:
        common = {
            "import_id": import_id,
            "test_key": test_key(cell.test),
            "data_type": cell.data_type,
            "smiles_structure_parent": "C",
            "test": cell.test,
            "test_type": cell.test_type,
            "test_subject": cell.test_subject,
            "measurement_type": cell.measurement_type,
            "measurement_unit": cell.unit,
        }
        step = _coprime_step(cell.exact)
        for index in range(cell.exact):
            number += 1
            value = cell.start + (index * step) % cell.exact  # every value once, not in order
            yield dict(common, chemical_id=f"S{number}", measurement_relation="=", measurement_value=value)
        for index in range(cell.censored):
            number += 1
            relation = _CENSORED_RELATIONS[index % len(_CENSORED_RELATIONS)]
            value = cell.censored_value
            yield dict(common, chemical_id=f"S{number}", measurement_relation=relation, measurement_value=value)


def _coprime_step(size: int) -> int:
    """A step that visits every index of ``range(size)`` once when taken modulo ``size``."""
    step = 7919
    while size > 1 and gcd(step, size) != 1:
        step += 2
    return step
