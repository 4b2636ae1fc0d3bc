import torch
from torch.utils.data import DataLoader, TensorDataset


def features(frame):
	smiles = frame["smiles_structure_parent"].astype(str)
	columns = [smiles.str.len() / 10.0, smiles.str.count("C") / 10.0, smiles.str.count("O") / 10.0]
	return torch.tensor([list(row) for row in zip(*columns)], dtype=torch.float32)


def data_loader(raw_datas, configs):
	# raw_datas["solubility"]: the KDA rows of the "Solubility" test
	frame = raw_datas["solubility"]
	dataset = TensorDataset(features(frame), torch.tensor(frame["measurement_value"].to_numpy(), dtype=torch.float32))
	train_data = DataLoader(dataset, batch_size=8, shuffle=False)
	test_data = DataLoader(dataset, batch_size=len(dataset), shuffle=False)
	return {"train": train_data, "test": test_data}
