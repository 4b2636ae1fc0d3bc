import math

import torch
import torch.nn as nn
from controller_manager import FLFedProx, FLScaffold
from model_manager import job_algorithm


def train(model, data, configs):
    # the platform has already moved the model to its device (GPU when there is one)
    device = next(model.parameters()).device
    torch.manual_seed(configs["seed"])

    optimizer = torch.optim.Adam(model.parameters(), lr=configs["learning_rate"])
    criterion = nn.MSELoss()

    # The job's algorithm decides the extra terms (K-MELLODDY's controller_manager):
    # FedProx adds mu/2 * |w - w_global|^2 to the loss; SCAFFOLD corrects each step by its control variates.
    algorithm = job_algorithm()
    fedprox = scaffold = None
    if algorithm == "fedprox":
        fedprox = FLFedProx()  # the job's mu, as the server sends it
        fedprox.set_global(model)
    elif algorithm == "scaffold":
        scaffold = FLScaffold(model)
        scaffold.set_global(model)
        scaffold.get_controls()

    steps = 0
    model.train()
    for epoch in range(configs["epochs"]):
        for fingerprints, targets in data["train"]:
            fingerprints = fingerprints.to(device)
            targets = targets.to(device)
            optimizer.zero_grad()
            loss = criterion(model(fingerprints), targets)
            if fedprox is not None:
                loss = fedprox.fedprox_apply(model, loss)
            loss.backward()
            if scaffold is not None:
                scaffold.scaffold_apply(model, optimizer)
            optimizer.step()
            steps += 1
    if scaffold is not None:
        scaffold.scaffold_update(model, steps)


def evaluate(model, data, configs):
    device = next(model.parameters()).device

    model.eval()
    prediction_batches, target_batches = [], []
    with torch.no_grad():
        for fingerprints, batch_targets in data["test"]:
            prediction_batches.append(model(fingerprints.to(device)).cpu())
            target_batches.append(batch_targets)
    predictions = torch.cat(prediction_batches).squeeze(1).double()
    targets = torch.cat(target_batches).squeeze(1).double()

    errors = predictions - targets
    squared_error = float((errors**2).sum())
    total_variance = float(((targets - targets.mean()) ** 2).sum())
    return {
        "rmse": math.sqrt(squared_error / len(targets)),
        "mae": float(errors.abs().mean()),
        "r2": 1.0 - squared_error / total_variance if total_variance > 0 else float("nan"),
    }
