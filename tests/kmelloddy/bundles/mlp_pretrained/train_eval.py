import torch
import torch.nn as nn

from model_manager import DEVICE
EPOCHS = 1
LEARNING_RATE = 0.001

def train(model, data, configs):
	train_data = data["train"]

	optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
	criterion = nn.MSELoss()

	for epoch in range(EPOCHS):
		model.train()
		for batch_idx, (features, target) in enumerate(train_data):
			features = features.to(DEVICE)
			target = target.to(DEVICE)
			optimizer.zero_grad()
			cost = criterion(model(features), target)
			cost.backward()
			optimizer.step()

def evaluate(model, data, configs):
	test_data = data["test"]
	criterion = nn.MSELoss()
	model.eval()
	test_loss = 0
	with torch.no_grad():
		for features, target in test_data:
			output = model(features.to(DEVICE))
			test_loss += criterion(output, target.to(DEVICE)).item()
	metrics = {"loss": test_loss / len(test_data)}
	return metrics
