import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import rdFingerprintGenerator
from torch.utils.data import DataLoader, TensorDataset

rdBase.DisableLog("rdApp.*")


def featurize(smiles_list, radius, n_bits):
    """Morgan fingerprints (one row of 0/1 per molecule); None where a SMILES does not parse."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    fingerprints = []
    for smiles in smiles_list:
        mol = Chem.MolFromSmiles(smiles)
        fingerprints.append(None if mol is None else generator.GetFingerprintAsNumPy(mol))
    return fingerprints


def data_loader(raw_datas, configs):
    """raw_datas: {test_key: DataFrame of the site's rows in the standard data format}."""
    table = raw_datas[configs["task"]]
    # exact measurements only ("<" and ">" are censored values); an empty relation means "="
    relation = table["measurement_relation"].fillna("=").replace("", "=")
    table = table[relation == "="].dropna(subset=["smiles_structure_parent", "measurement_value"])
    # rows come in no guaranteed order: sort, so that the split is the same every time
    table = table.sort_values("chemical_id", kind="stable")

    fingerprints = featurize(table["smiles_structure_parent"], configs["radius"], configs["n_bits"])
    keep = [fingerprint is not None for fingerprint in fingerprints]
    feature_rows = np.stack([fingerprint for fingerprint in fingerprints if fingerprint is not None])
    target_values = table["measurement_value"].to_numpy(dtype=np.float32)[keep]

    features = torch.tensor(feature_rows, dtype=torch.float32)
    targets = torch.tensor(target_values, dtype=torch.float32).unsqueeze(1)

    # deterministic train/test split of this site's molecules
    order = np.random.default_rng(configs["split_seed"]).permutation(len(targets))
    n_test = max(1, int(round(len(targets) * configs["test_fraction"])))
    test_rows, train_rows = order[:n_test], order[n_test:]

    shuffle_generator = torch.Generator().manual_seed(configs["split_seed"])
    train_loader = DataLoader(
        TensorDataset(features[train_rows], targets[train_rows]),
        batch_size=configs["batch_size"],
        shuffle=True,
        generator=shuffle_generator,
    )
    test_loader = DataLoader(
        TensorDataset(features[test_rows], targets[test_rows]),
        batch_size=configs["batch_size"],
        shuffle=False,
    )
    return {"train": train_loader, "test": test_loader}
