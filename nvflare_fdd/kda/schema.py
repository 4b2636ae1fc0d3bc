"""The K-MELLODDY standard data format (DESIGN §4) and the KDA's database tables."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: The 19 standard columns, lower case, in the order of the standard format.
STANDARD_COLUMNS: tuple[str, ...] = (
    "chemical_id",
    "smiles_structure_parent",
    "smiles_salt",
    "test",
    "test_type",
    "test_subject",
    "test_dose",
    "measurement_type",
    "measurement_relation",
    "measurement_value",
    "measurement_unit",
    "measurement_conc",
    "measurement_temp",
    "measurement_condition",
    "measurement_class",
    "measurement_route",
    "measurement_sex",
    "measurement_formulation",
    "comment",
)

#: The columns of every ``raw_datas`` frame: the standard columns, then ``data_type``.
DATA_COLUMNS: tuple[str, ...] = STANDARD_COLUMNS + ("data_type",)

#: Columns that must hold a value in every row.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "chemical_id",
    "smiles_structure_parent",
    "test",
    "measurement_type",
    "measurement_value",
)

#: Standard text columns that may be empty (stored as NULL).
OPTIONAL_TEXT_COLUMNS: tuple[str, ...] = tuple(
    name
    for name in STANDARD_COLUMNS
    if name not in REQUIRED_COLUMNS and name != "measurement_relation"
)

#: Allowed ``data_type`` values; in a workbook they are the sheet names.
DATA_TYPES: tuple[str, ...] = ("ADMET", "PK")

#: Allowed ``measurement_relation`` values; an empty cell means ``=``.
RELATIONS: tuple[str, ...] = ("=", "<", ">", "<=", ">=")


def test_key(name: str) -> str:
    """Return the key of a test name: lower case, whitespace runs as ``_``.

    ``"Brain penetration"`` becomes ``"brain_penetration"``.
    """
    return "_".join(name.split()).lower()


# pytest collects module-level callables named test_*; this one is not a test.
test_key.__test__ = False  # type: ignore[attr-defined]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the KDA tables."""


class KdaImport(Base):
    """One imported file: where it came from and how many rows it brought."""

    __tablename__ = "kda_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(512))
    institution: Mapped[str | None] = mapped_column(String(256))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utc_now)
    row_count: Mapped[int] = mapped_column(Integer)


class Measurement(Base):
    """One row of the standard format, tagged with its import and test key."""

    __tablename__ = "measurements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("kda_imports.id"))
    test_key: Mapped[str] = mapped_column(String(256), index=True)
    data_type: Mapped[str] = mapped_column(String(8))

    chemical_id: Mapped[str] = mapped_column(String(256))
    smiles_structure_parent: Mapped[str] = mapped_column(Text)
    smiles_salt: Mapped[str | None] = mapped_column(Text)
    test: Mapped[str] = mapped_column(String(256))
    test_type: Mapped[str | None] = mapped_column(String(256))
    test_subject: Mapped[str | None] = mapped_column(String(256))
    test_dose: Mapped[str | None] = mapped_column(String(256))
    measurement_type: Mapped[str] = mapped_column(String(256))
    measurement_relation: Mapped[str] = mapped_column(String(2), default="=")
    measurement_value: Mapped[float] = mapped_column(Float)
    measurement_unit: Mapped[str | None] = mapped_column(String(256))
    measurement_conc: Mapped[str | None] = mapped_column(String(256))
    measurement_temp: Mapped[str | None] = mapped_column(String(256))
    measurement_condition: Mapped[str | None] = mapped_column(Text)
    measurement_class: Mapped[str | None] = mapped_column(String(256))
    measurement_route: Mapped[str | None] = mapped_column(String(256))
    measurement_sex: Mapped[str | None] = mapped_column(String(256))
    measurement_formulation: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)


MEASUREMENTS = Base.metadata.tables[Measurement.__tablename__]
"""``Measurement``'s table, for Core statements (bulk inserts)."""
