"""The sandboxed process that builds the registered model class on the server (DESIGN §8).

Run as ``python -m nvflare_fdd.persistors.build_worker --bundle DIR --model-class NAME
--seed N --out FILE`` by ``nvflare_fdd.persistors.builder``: it imports the bundle's
``model.py``, builds ``Class(config.yaml as a dict)`` (``Class()`` without a config)
after seeding torch, and writes the model's ``state_dict()`` to ``FILE`` as
safetensors. Nothing else comes back: the server reads the tensors (no pickle) and
takes the model's keys, shapes and dtypes from them.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--model-class", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    import torch
    from safetensors.torch import save_file

    from nvflare_fdd.client.worker import savable_tensors
    from nvflare_fdd.usercode import build_server_model, user_modules

    torch.manual_seed(args.seed)
    with user_modules(args.bundle):
        model = build_server_model(args.bundle, args.model_class)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    save_file(savable_tensors(state), args.out)
    print(f"built {args.model_class}: {sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
