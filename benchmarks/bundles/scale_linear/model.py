import torch
import torch.nn as nn

# Used when the bundle has no config.yaml; keep them equal to config.yaml.
DEFAULTS = {"width": 512, "layers": 4, "peft": False, "adapter_rank": 8}


def _setting(configs, key):
    if configs is None or key not in configs:
        return DEFAULTS[key]
    return configs[key]


def _square_layer(width):
    """A bias-free width × width layer filled with 1/width: no random initialisation to pay for at a billion values."""
    layer = torch.nn.utils.skip_init(nn.Linear, width, width, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0 / width)
    return layer


class ScaleLinear(nn.Module):
    """`layers` square layers of `width`, every value trained and sent: the platform's cost for a model this size."""

    def __init__(self, configs=None):
        super().__init__()
        width = _setting(configs, "width")
        self.body = nn.Sequential(*(_square_layer(width) for _ in range(_setting(configs, "layers"))))

    def forward(self, features):
        return self.body(features).mean(dim=1, keepdim=True)


class PeftLinear(nn.Module):
    """The same layers as a frozen trunk, and a low-rank adapter that alone trains and leaves the site.

    ``state_dict()`` holds the adapter only (the K-MELLODDY PEFT pattern): the server's model, the task and
    every update are the adapter's few values; each side builds the same trunk itself.
    """

    def __init__(self, configs=None):
        super().__init__()
        width, rank = _setting(configs, "width"), _setting(configs, "adapter_rank")
        self.trunk = nn.Sequential(*(_square_layer(width) for _ in range(_setting(configs, "layers"))))
        self.trunk.requires_grad_(False)
        self.down = nn.Parameter(torch.full((rank, width), 1.0 / width))
        self.up = nn.Parameter(torch.zeros(width, rank))

    def forward(self, features):
        hidden = self.trunk(features)
        return (hidden + hidden @ self.down.T @ self.up.T).mean(dim=1, keepdim=True)

    def state_dict(self, *args, **kwargs):
        full_state_dict = super().state_dict(*args, **kwargs)
        trainable = {name for name, param in self.named_parameters() if param.requires_grad}
        return {name: full_state_dict[name] for name in trainable}


def model_loader(configs):
    return (PeftLinear if _setting(configs, "peft") else ScaleLinear)(configs)
