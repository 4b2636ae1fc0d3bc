import torch
import torch.nn as nn


def train(model, data, configs):
    """One tiny SGD step: the benchmark measures the platform around training, not training."""
    device = next(model.parameters()).device
    optimizer = torch.optim.SGD(model.parameters(), lr=configs["learning_rate"])
    model.train()
    for features, targets in data["train"]:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(features.to(device)), targets.to(device))
        loss.backward()
        optimizer.step()
        break
    optimizer.zero_grad(set_to_none=True)  # do not keep the gradients (another model's worth of memory)


def evaluate(model, data, configs):
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        features, targets = next(iter(data["test"]))
        mse = nn.functional.mse_loss(model(features.to(device)), targets.to(device))
    return {"mse": float(mse)}
