"""The sandboxed process that builds the registered model class on the server (DESIGN §8).

Run as ``python -m nvflare_fdd.persistors.build_worker --bundle DIR --model-class NAME
--seed N --out FILE [--address SOCKET]`` by ``nvflare_fdd.persistors.builder``: it imports the bundle's
``model.py``, builds ``Class(config.yaml as a dict)`` (``Class()`` without a config)
after seeding torch, and writes the model's ``state_dict()`` to ``FILE`` as
safetensors. Nothing else comes back: the server reads the tensors (no pickle) and
takes the model's keys, shapes and dtypes from them. With ``--address`` (and
``$FDD_WORKER_AUTHKEY``) the model's code can ask the server for what ``model_manager``
offers, such as ``download_model(name)``.
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
    parser.add_argument("--address", default="")
    args = parser.parse_args(argv)

    if args.address:
        import os
        from multiprocessing.connection import Client

        from nvflare_fdd.client import runtime
        from nvflare_fdd.client.worker import AUTHKEY_ENV, requester_for

        connection = Client(args.address, family="AF_UNIX", authkey=bytes.fromhex(os.environ.pop(AUTHKEY_ENV)))
        runtime.configure(device="cpu", requester=requester_for(connection))

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
