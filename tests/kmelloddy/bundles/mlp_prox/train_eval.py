import torch
import torch.nn as nn

DEVICE = torch.device("cuda:0")
EPOCHS = 2
LEARNING_RATE = 0.01

# fedprox
from controller_manager import *
FEDPROX_MU = None  # None: the job's fedprox_mu, as the server sends it

def train(model, data, configs):
	# fedprox init (singleton class)
	fl_fedprox = FLFedProx(FEDPROX_MU)
	fl_fedprox.set_global(model)

	train_data = data["train"]
	optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
	criterion = nn.MSELoss()

	for epoch in range(EPOCHS):
		running_loss = 0.0
		model.train()
		for batch_idx, (features, target) in enumerate(train_data):
			features = features.to(DEVICE)
			target = target.to(DEVICE)
			optimizer.zero_grad()
			predictions = model(features)
			cost = criterion(predictions, target)

			# fedprox apply
			cost = fl_fedprox.fedprox_apply(model, cost)

			cost.backward()
			optimizer.step()
			running_loss += cost.cpu().detach().numpy() / features.size(0)

def evaluate(model, data, configs):
	test_data = data["test"]
	criterion = nn.MSELoss()
	model.eval()
	test_loss = 0
	with torch.no_grad():
		for features, target in test_data:
			features = features.to(DEVICE)
			target = target.to(DEVICE)
			output = model(features)
			test_loss += criterion(output, target).item()
	test_loss = test_loss / len(test_data)
	metrics = {"loss": test_loss, "mu": FLFedProx(FEDPROX_MU).fedproxloss_mu}
	return metrics
