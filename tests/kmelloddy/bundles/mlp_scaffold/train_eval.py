import torch
import torch.nn as nn

DEVICE = torch.device("cuda:0")
EPOCHS = 1
LEARNING_RATE = 0.05

from controller_manager import *

def train(model, data, configs):
	# scaffold init (singleton class)
	fl_scaffold = FLScaffold(model)
	fl_scaffold.set_global(model)
	fl_scaffold.get_controls()

	train_data = data["train"]
	optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
	criterion = nn.MSELoss()

	local_steps = 0
	for epoch in range(EPOCHS):
		running_loss = 0.0
		model.train()
		for batch_idx, (features, target) in enumerate(train_data):
			features = features.to(DEVICE)
			target = target.to(DEVICE)
			optimizer.zero_grad()
			predictions = model(features)
			cost = criterion(predictions, target)
			cost.backward()

			# scaffold apply
			fl_scaffold.scaffold_apply(model, optimizer)

			optimizer.step()
			running_loss += cost.cpu().detach().numpy() / features.size()[0]
			local_steps += 1

	# scaffold update
	fl_scaffold.scaffold_update(model, local_steps)

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
	metrics = {"loss": test_loss}
	return metrics
