"""A large synthetic KDA: realistic standard-format rows across 20 tests, cached between runs.

The rows look like a provider's export: mixed ADMET and PK tests in no particular order,
parent SMILES of real drugs, units, conditions and mostly empty optional columns. They
are written with ``nvflare_fdd.kda.import_file`` from a CSV file, so they pass the KDA's
own validation and get its test keys; the database is kept under the benchmark cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import CACHE_DIR

FORMAT = 1

# (test, test_type, measurement_type, unit, data_type, typical value, spread)
TESTS = [
    ("Solubility", "Kinetic solubility", "logS", "log(mol/L)", "ADMET", -3.5, 1.5),
    ("LogD7.4", "Shake flask", "logD", "", "ADMET", 2.2, 1.2),
    ("Microsomal stability", "Liver microsomes", "CLint", "uL/min/mg", "ADMET", 40.0, 30.0),
    ("Hepatocyte stability", "Hepatocytes", "CLint", "uL/min/10^6 cells", "ADMET", 15.0, 10.0),
    ("CYP1A2 inhibition", "Recombinant enzyme", "IC50", "uM", "ADMET", 12.0, 8.0),
    ("CYP2C9 inhibition", "Recombinant enzyme", "IC50", "uM", "ADMET", 10.0, 8.0),
    ("CYP2C19 inhibition", "Recombinant enzyme", "IC50", "uM", "ADMET", 11.0, 8.0),
    ("CYP2D6 inhibition", "Recombinant enzyme", "IC50", "uM", "ADMET", 14.0, 8.0),
    ("CYP3A4 inhibition", "Recombinant enzyme", "IC50", "uM", "ADMET", 9.0, 8.0),
    ("hERG inhibition", "Patch clamp", "IC50", "uM", "ADMET", 20.0, 15.0),
    ("Caco-2 permeability", "Caco-2 monolayer", "Papp A-B", "10^-6 cm/s", "ADMET", 12.0, 9.0),
    ("MDCK permeability", "MDCK-MDR1", "Efflux ratio", "", "ADMET", 2.5, 2.0),
    ("Plasma protein binding", "Equilibrium dialysis", "fu", "%", "ADMET", 8.0, 6.0),
    ("Brain penetration", "In vivo", "Kp,uu", "", "ADMET", 0.4, 0.3),
    ("Ames mutagenicity", "TA98", "Revertant ratio", "", "ADMET", 1.2, 0.5),
    ("Cytotoxicity", "HepG2", "CC50", "uM", "ADMET", 60.0, 30.0),
    ("Plasma stability", "Human plasma", "% remaining", "%", "ADMET", 85.0, 10.0),
    ("Clearance", "IV bolus", "CL", "mL/min/kg", "PK", 25.0, 15.0),
    ("Half-life", "IV bolus", "t1/2", "h", "PK", 3.0, 2.0),
    ("Oral bioavailability", "PO gavage", "F", "%", "PK", 40.0, 20.0),
]

SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "CC(=O)Nc1ccc(O)cc1",
    "COc1ccc2[nH]c(nc2c1)S(=O)Cc1ncc(C)c(OC)c1C",
    "CN(C)CCCN1c2ccccc2CCc2ccccc21",
    "Clc1ccc(cc1)C(c1ccccc1)N1CCN(CC1)CCOCC(=O)O",
    "CC1=C(C(=O)Nc2ccccn2)N(C)S(=O)(=O)c2ccccc12",
    "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl",
    "CN1CCC[C@H]1c1cccnc1",
    "CC(C)NCC(O)COc1cccc2ccccc12",
    "Cc1ccc(cc1)S(=O)(=O)NC(=O)NN1CCCCCC1",
    "COc1cc2c(cc1OC)C(=O)C(CC1CCN(Cc3ccccc3)CC1)C2",
    "CCOC(=O)C1=C(COCCN)NC(C)=C(C1c1ccccc1Cl)C(=O)OC",
    "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",
    "O=C(O)c1cn(C2CC2)c2cc(N3CCNCC3)c(F)cc2c1=O",
    "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21",
    "CC12CCC3c4ccc(O)cc4CCC3C1CCC2O",
    "NC(=O)c1cnccn1",
    "Cc1onc(c1C(=O)NC1C(=O)N2C1SC(C)(C)C2C(=O)O)-c1ccccc1",
    "CCN(CC)CCNC(=O)c1ccc(N)cc1",
    "COc1ccc(CCN(C)CCCC(C#N)(C(C)C)c2ccc(OC)c(OC)c2)cc1OC",
    "Fc1ccc(cc1)C(=O)CCCN1CCC(O)(CC1)c1ccc(Cl)cc1",
    "CS(=O)(=O)Nc1ccc(cc1)C(O)CNC(C)C",
    "Cc1ncc([N+](=O)[O-])n1CCO",
    "OC1=C(C(=O)c2ccccc2O1)C(CC(=O)C)c1ccccc1",
    "CN1CCN(CC1)C1=Nc2cc(Cl)ccc2Nc2ccccc12",
    "CC(CS)C(=O)N1CCCC1C(=O)O",
    "c1ccc2c(c1)ccc1ccccc12",
    "Nc1nc(=O)c2nc[nH]c2[nH]1",
]


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` standard-format rows, tests interleaved as in a provider's export."""
    rng = np.random.default_rng(seed)
    test_index = rng.integers(0, len(TESTS), rows)
    spec = pd.DataFrame(TESTS, columns=["test", "test_type", "measurement_type", "measurement_unit",
                                        "data_type", "centre", "spread"])
    picked = spec.iloc[test_index].reset_index(drop=True)
    is_pk = (picked["data_type"] == "PK").to_numpy()
    compounds = rng.integers(0, max(1, rows // 3), rows)

    def sometimes(values: list[str], probability: float) -> np.ndarray:
        out = np.array(rng.choice(values, rows), dtype=object)
        out[rng.random(rows) >= probability] = ""
        return out

    relation = np.array(rng.choice(["=", "<", ">"], rows, p=[0.9, 0.05, 0.05]), dtype=object)
    relation[rng.random(rows) < 0.3] = ""  # often left empty (= "=")
    pk_only = lambda values: np.where(is_pk, values, "")  # noqa: E731
    return pd.DataFrame({
        "chemical_id": np.char.add("CPD-", np.char.zfill(compounds.astype(str), 7)),
        "smiles_structure_parent": np.array(SMILES, dtype=object)[compounds % len(SMILES)],
        "smiles_salt": sometimes(["Cl", "O=S(=O)(O)O", "OC(=O)C(O)=O"], 0.1),
        "test": picked["test"],
        "test_type": picked["test_type"],
        "test_subject": np.array(rng.choice(["Human", "Rat", "Mouse", "Dog"], rows, p=[0.5, 0.3, 0.15, 0.05])),
        "test_dose": pk_only(rng.choice(["1 mg/kg", "3 mg/kg", "10 mg/kg"], rows)),
        "measurement_type": picked["measurement_type"],
        "measurement_relation": relation,
        "measurement_value": np.round(picked["centre"].to_numpy() + picked["spread"].to_numpy()
                                      * rng.standard_normal(rows), 4),
        "measurement_unit": picked["measurement_unit"],
        "measurement_conc": sometimes(["1 uM", "10 uM"], 0.3),
        "measurement_temp": sometimes(["37"], 0.6),
        "measurement_condition": sometimes(["pH 7.4", "pH 6.5", "0.5 mg/mL protein"], 0.25),
        "measurement_class": sometimes(["low", "medium", "high"], 0.1),
        "measurement_route": pk_only(rng.choice(["IV", "PO"], rows)),
        "measurement_sex": pk_only(rng.choice(["M", "F"], rows)),
        "measurement_formulation": pk_only(rng.choice(["solution", "suspension"], rows)),
        "comment": sometimes(["repeat", "outlier checked", "batch 2"], 0.05),
        "data_type": picked["data_type"],
    })


def large_kda(rows: int, cache_dir: Path = CACHE_DIR) -> str:
    """The URL of a cached KDA with ``rows`` generated rows; built once (CSV, then ``import_file``)."""
    from nvflare_fdd.kda import import_file

    cache_dir.mkdir(parents=True, exist_ok=True)
    database = cache_dir / f"kda-{rows}-v{FORMAT}.db"
    if not database.exists():
        building = database.with_suffix(f".building-{os.getpid()}.db")
        csv_path = database.with_suffix(".csv")
        frame(rows).to_csv(csv_path, index=False)
        try:
            import_file(f"sqlite:///{building}", csv_path, institution="benchmark")
            os.replace(building, database)
        finally:
            building.unlink(missing_ok=True)
            csv_path.unlink(missing_ok=True)
    return f"sqlite:///{database}"
