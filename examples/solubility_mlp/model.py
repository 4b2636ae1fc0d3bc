import torch.nn as nn

# Used when the bundle has no config.yaml (the platform then builds SolubilityMLP() with no
# arguments); keep them equal to config.yaml.
DEFAULTS = {"n_bits": 1024, "hidden_size": 256, "dropout": 0.1}


def _setting(configs, key):
    if configs is None or key not in configs:
        return DEFAULTS[key]
    return configs[key]


class SolubilityMLP(nn.Module):
    """Predicts one measured value (logS for solubility) from a Morgan fingerprint.

    The server builds it as SolubilityMLP(dict_of_config_yaml), the client through
    model_loader(DictConfig); configs["key"] reads both.
    """

    def __init__(self, configs=None):
        super().__init__()
        n_bits = _setting(configs, "n_bits")
        hidden_size = _setting(configs, "hidden_size")
        dropout = _setting(configs, "dropout")
        self.layers = nn.Sequential(
            nn.Linear(n_bits, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size // 2),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size // 2, 1),
        )

    def forward(self, fingerprints):
        return self.layers(fingerprints)


def model_loader(configs):
    return SolubilityMLP(configs)
