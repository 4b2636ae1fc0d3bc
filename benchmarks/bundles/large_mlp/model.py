import torch.nn as nn

# Used when the bundle has no config.yaml; keep them equal to config.yaml.
DEFAULTS = {"width": 5000, "layers": 4}


def _setting(configs, key):
    if configs is None or key not in configs:
        return DEFAULTS[key]
    return configs[key]


class LargeMLP(nn.Module):
    """About 100M parameters (4 square layers of width 5000, then a head): the platform's cost, not a model."""

    def __init__(self, configs=None):
        super().__init__()
        width = _setting(configs, "width")
        self.body = nn.Sequential(*(nn.Linear(width, width) for _ in range(_setting(configs, "layers"))))
        self.head = nn.Linear(width, 1)

    def forward(self, features):
        return self.head(self.body(features))


def model_loader(configs):
    return LargeMLP(configs)
