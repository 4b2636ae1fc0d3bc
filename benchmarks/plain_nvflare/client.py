"""Client API train script of the plain NVFlare baseline: the bundle's own code, run the NVFlare way.

The job folder carries this script beside the bundle's files (``model.py``, ``data.py``,
``train_eval.py``, ``config.yaml``), which it imports from its own folder, with the K-MELLODDY
modules the platform gives user code (``controller_manager``, ``model_manager``) importable.
Each site reads its rows from its KDA (``$FDD_KDA_URLS``, as ``fdd run`` sets it), and each
round does what an nvflare-fdd site does — Global eval, train, Local eval — then sends the
weights with the training-sample count. It logs its own times per round (one JSON line) to
``--timing-dir``, so the benchmark can subtract the compute from the round time.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import nvflare.client as flare  # noqa: E402
import torch  # noqa: E402

from nvflare_fdd.usercode import INJECTED_DIR  # noqa: E402

# The K-MELLODDY modules bundles import by bare name (controller_manager, model_manager), as the platform provides
# them; outside an fdd job they answer with the defaults (cpu, fedavg).
if str(INJECTED_DIR) not in sys.path:
    sys.path.append(str(INJECTED_DIR))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--timing-dir", required=True)
    args = parser.parse_args()

    import data as bundle_data
    import model as bundle_model
    import train_eval
    from omegaconf import OmegaConf

    from nvflare_fdd.kda import load_raw_datas

    flare.init()
    site = flare.get_site_name()
    config_path = os.path.join(HERE, "config.yaml")
    configs = OmegaConf.load(config_path) if os.path.isfile(config_path) else None
    raw_datas = load_raw_datas(json.loads(os.environ["FDD_KDA_URLS"])[site])
    data = bundle_data.data_loader(raw_datas, configs)
    del raw_datas
    model = bundle_model.model_loader(configs)
    num_samples = len(data["train"].dataset)
    log_path = os.path.join(args.timing_dir, f"{site}.jsonl")

    while flare.is_running():
        global_model = flare.receive()
        if global_model is None:
            break
        received = time.time()
        model.load_state_dict({key: torch.as_tensor(value) for key, value in global_model.params.items()}, strict=False)
        global_metrics = train_eval.evaluate(model, data, configs)
        train_start = time.time()
        train_eval.train(model, data, configs)
        train_end = time.time()
        train_eval.evaluate(model, data, configs)  # Local eval, as an nvflare-fdd site does
        params = {key: value.detach().cpu() for key, value in model.state_dict().items()}
        flare.send(
            flare.FLModel(
                params=params,
                metrics={key: float(value) for key, value in global_metrics.items()},
                meta={"NUM_STEPS_CURRENT_ROUND": num_samples},
            )
        )
        record = {
            "site": site,
            "round": int(global_model.current_round or 0) + 1,
            "received": received,
            "train_start": train_start,
            "train_end": train_end,
            "sent": time.time(),
        }
        with open(log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
