import torch.nn as nn


class SolubilityMLP(nn.Module):
	def __init__(self, configs=None):
		super(SolubilityMLP, self).__init__()
		self.layers = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))

	def forward(self, x):
		return self.layers(x).squeeze(-1)


def model_loader(configs):
	model = SolubilityMLP(configs)
	return model
