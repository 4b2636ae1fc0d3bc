"""Does federation pay? FedAvg vs each institution alone vs one model on the pooled data.

    python benchmarks/bench_federation.py [--quick] [--json out.json]

On the three demo institutions (``nvflare_fdd.demo.prepare_demo``) and the example bundle
``examples/solubility_mlp`` (same architecture everywhere), from the same initial weights:

- ``federated``: R rounds of sample-weighted FedAvg, E epochs a round (and, as a second
  figure, the same R×E epochs as R×E rounds of one epoch). It runs in process:
  one ``nvflare_fdd.client.ClientRound`` per site (the client round the sites run under
  NVFlare) and ``nvflare_fdd.aggregation.weighted_average`` (the server's maths) — the same
  computation as ``fdd run`` without the simulator's start-up and transport;
- ``fedprox`` and ``scaffold``: the same R rounds × E epochs with K-MELLODDY's FedProx term
  (``fedprox_mu``) and SCAFFOLD's control variates (the example bundle applies them through
  ``controller_manager``; the server's SCAFFOLD maths is ``ScaffoldControls``);
- ``personalised``: each institution's model of the last round of each federated run — the
  global model plus one round on its own data, which the site keeps (issue 19) — on its own
  held-out split;
- ``local``: each institution alone, R×E epochs on its own training split;
- ``central``: one model, R×E epochs on the pooled training splits.

Every model is scored by the bundle's ``evaluate`` on each institution's held-out split
(the bundle's own ``data_loader`` split, ``split_seed`` fixed) and on the pooled held-out set.
Several seeds (model initialisation and training) give mean ± sd. Targets (issue 8), judged
on the pooled held-out set: federated RMSE within 5% of central, and below every
institution's local-only model.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import CACHE_DIR, Figure, Result, bundle_copy, standalone_main

NAME = "federation"
FULL = {"seeds": [0, 1, 2], "rounds": 5, "epochs": 5, "fine_grained": True, "algorithms": ["fedprox", "scaffold"],
        "fedprox_mu": 0.01}  # fmt: skip
QUICK = {"seeds": [0], "rounds": 2, "epochs": 1, "fine_grained": False, "algorithms": ["scaffold"], "fedprox_mu": 0.01}
METRICS = ("rmse", "mae", "r2")
POOLED = "pooled"


@contextlib.contextmanager
def site_clients(bundle: Path, sites: dict[str, str]):
    """One set-up ``ClientRound`` per site over its KDA (config, data download, data_loader, model_loader)."""
    from nvflare_fdd.client import ClientRound
    from nvflare_fdd.kda import load_raw_datas

    with contextlib.ExitStack() as stack:
        clients = {}
        for name, url in sites.items():
            client = stack.enter_context(ClientRound(bundle, lambda url=url: load_raw_datas(url), site=name, device="cpu"))
            client.setup()
            clients[name] = client
        yield clients


def pooled(clients: dict, split: str, configs, shuffle: bool):
    import torch
    from torch.utils.data import ConcatDataset, DataLoader

    dataset = ConcatDataset([client.data[split].dataset for client in clients.values()])
    generator = torch.Generator().manual_seed(configs["split_seed"]) if shuffle else None
    return DataLoader(dataset, batch_size=configs["batch_size"], shuffle=shuffle, generator=generator)


def score(model, clients: dict, pooled_test, bundle: Path) -> dict[str, dict[str, float]]:
    """``evaluate`` on each site's held-out split and on the pooled held-out set."""
    from nvflare_fdd.usercode import import_user_module, user_function

    evaluate = user_function(import_user_module(bundle, "train_eval"), "evaluate")
    configs = next(iter(clients.values())).configs
    scores = {name: dict(evaluate(model, client.data, configs)) for name, client in clients.items()}
    scores[POOLED] = dict(evaluate(model, {"test": pooled_test}, configs))
    return {where: {m: float(values[m]) for m in METRICS} for where, values in scores.items()}


def federated(bundle: Path, sites: dict[str, str], rounds: int, initial: dict, algorithm: str = "fedavg",
              fedprox_mu: float = 0.01) -> tuple[dict, dict]:  # fmt: skip
    """FedAvg (FedProx, SCAFFOLD) in process: each site's ``ClientRound``, then the server's maths; the last global
    model's scores."""
    from nvflare_fdd.aggregation import weighted_average
    from nvflare_fdd.client import runtime
    from nvflare_fdd.controllers.scaffold import ScaffoldControls

    previous = runtime.current()
    runtime.configure(device="cpu", algorithm=algorithm, fedprox_mu=fedprox_mu)
    try:
        with site_clients(bundle, sites) as clients:
            global_params = initial
            sample_counts = {}
            controls = ScaffoldControls(initial) if algorithm == "scaffold" else None
            personalised: dict[str, dict[str, float]] = {}  # each site's last local model, on its own held-out split
            helpers: dict[str, object] = {}  # each site's FLScaffold: at a site it is one per process, here one per site
            for round_num in range(1, rounds + 1):
                updates = []
                if controls is not None:
                    controls.begin_round()
                for name, client in clients.items():
                    manager = sys.modules.get("controller_manager")
                    if manager is not None:
                        manager.FLScaffold._instance = helpers.get(name)
                    update = client.run(round_num, global_params, controls.controls if controls is not None else None)
                    if manager is not None:
                        helpers[name] = manager.FLScaffold._instance
                    updates.append((update.params, update.num_samples))
                    sample_counts[name] = update.num_samples
                    personalised[name] = {m: float(update.local_metrics[m]) for m in METRICS}
                    if controls is not None:
                        controls.add(update.control_diff, update.num_samples, name)
                global_params = weighted_average(updates, previous=global_params)
                if controls is not None:
                    controls.end_round()
            first = next(iter(clients.values()))
            first.model.load_state_dict(global_params)
            scores = score(first.model, clients, pooled(clients, "test", first.configs, False), bundle)
            scores["personalised"] = personalised
            return scores, sample_counts
    finally:
        runtime.configure(**vars(previous))


def one_seed(seed: int, rounds: int, epochs: int, sites: dict[str, str], work: Path,
             fine_grained: bool = False, algorithms: tuple[str, ...] = (), fedprox_mu: float = 0.01) -> dict:
    import torch

    from nvflare_fdd.demo import EXAMPLE_BUNDLE
    from nvflare_fdd.usercode import import_user_module, load_configs, user_function, user_modules

    fed_bundle = bundle_copy(EXAMPLE_BUNDLE, work / f"fed-{seed}", seed=seed, epochs=epochs)
    long_bundle = bundle_copy(EXAMPLE_BUNDLE, work / f"long-{seed}", seed=seed, epochs=rounds * epochs)
    with user_modules(fed_bundle):
        torch.manual_seed(seed)
        model_loader = user_function(import_user_module(fed_bundle, "model"), "model_loader")
        initial = {k: v.clone() for k, v in model_loader(load_configs(fed_bundle)).state_dict().items()}

    result = {"seed": seed}
    result["federated"], result["train_samples"] = federated(fed_bundle, sites, rounds, initial)
    for algorithm in algorithms:
        result[algorithm], _ = federated(fed_bundle, sites, rounds, initial, algorithm, fedprox_mu)
    if fine_grained:  # the same R×E epochs as R×E rounds of one epoch each
        fine_bundle = bundle_copy(EXAMPLE_BUNDLE, work / f"fine-{seed}", seed=seed, epochs=1)
        result["federated_1_epoch_rounds"], _ = federated(fine_bundle, sites, rounds * epochs, initial)

    with site_clients(long_bundle, sites) as clients:
        configs = next(iter(clients.values())).configs
        pooled_test = pooled(clients, "test", configs, False)
        result["local"] = {}
        for name, client in clients.items():
            client.run(1, initial)  # R×E epochs on its own data, from the same initial weights
            result["local"][name] = score(client.model, clients, pooled_test, long_bundle)
        train = user_function(import_user_module(long_bundle, "train_eval"), "train")
        model = model_loader(configs)
        model.load_state_dict(initial)
        train(model, {"train": pooled(clients, "train", configs, True), "test": pooled_test}, configs)
        result["central"] = score(model, clients, pooled_test, long_bundle)
    return result


def mean_sd(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def run(quick: bool = False, **overrides) -> Result:
    import torch

    from nvflare_fdd.demo import prepare_demo

    config = dict(QUICK if quick else FULL, **overrides)
    sites = {site.name: site.url for site in prepare_demo(CACHE_DIR / "demo")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches; one thread is as fast and steadier on a shared machine
    try:
        with tempfile.TemporaryDirectory(prefix="fdd-bench-fed-") as work:
            per_seed = [
                one_seed(seed, config["rounds"], config["epochs"], sites, Path(work), config["fine_grained"],
                         tuple(config["algorithms"]), config["fedprox_mu"])
                for seed in config["seeds"]
            ]  # fmt: skip
    finally:
        torch.set_num_threads(threads)

    def stat(model: str, where: str, metric: str, institution: str | None = None) -> dict:
        values = [
            (run_["local"][institution] if institution else run_[model])[where][metric] for run_ in per_seed
        ]
        return mean_sd(values)

    where_all = [*sites, POOLED]
    table = {
        "federated": {w: {m: stat("federated", w, m) for m in METRICS} for w in where_all},
        **({"federated_1_epoch_rounds": {w: {m: stat("federated_1_epoch_rounds", w, m) for m in METRICS}
                                         for w in where_all}} if config["fine_grained"] else {}),
        **{algorithm: {w: {m: stat(algorithm, w, m) for m in METRICS} for w in where_all}
           for algorithm in config["algorithms"]},
        "central": {w: {m: stat("central", w, m) for m in METRICS} for w in where_all},
        "local": {i: {w: {m: stat("local", w, m, i) for m in METRICS} for w in where_all} for i in sites},
    }
    federated_runs = ["federated", *(["federated_1_epoch_rounds"] if config["fine_grained"] else []), *config["algorithms"]]
    table["personalised"] = {
        run_name: {i: {m: mean_sd([one[run_name]["personalised"][i][m] for one in per_seed]) for m in METRICS}
                   for i in sites}
        for run_name in federated_runs
    }  # fmt: skip
    fed = table["federated"][POOLED]["rmse"]
    central = table["central"][POOLED]["rmse"]
    n = len(config["seeds"])
    figures = [
        Figure(NAME, f"federated {config['rounds']} rounds × {config['epochs']} epochs: RMSE, pooled held-out "
               f"({n} seeds)", fed["mean"], "", "central",
               central["mean"], target="≤ 1.05", met=fed["mean"] / central["mean"] <= 1.05,
               note=f"sd {fed['sd']:.3f} vs {central['sd']:.3f}"),
    ]
    for algorithm in config["algorithms"]:
        value = table[algorithm][POOLED]["rmse"]
        setting = f", mu {config['fedprox_mu']:g}" if algorithm == "fedprox" else ""
        figures.append(
            Figure(NAME, f"{algorithm} {config['rounds']} rounds × {config['epochs']} epochs{setting}: RMSE, pooled "
                   f"held-out ({n} seeds)", value["mean"], "", "central", central["mean"], target="≤ 1.05 (one of them)",
                   met=value["mean"] / central["mean"] <= 1.05, note=f"sd {value['sd']:.3f}; FedAvg {fed['mean']:.3f}")
        )  # fmt: skip
    if config["fine_grained"]:
        fine = table["federated_1_epoch_rounds"][POOLED]["rmse"]
        total_epochs = config["rounds"] * config["epochs"]
        figures.append(
            Figure(NAME, f"federated as {total_epochs} rounds × 1 epoch: RMSE, pooled held-out", fine["mean"], "",
                   "central", central["mean"], note=f"same {total_epochs} epochs; sd {fine['sd']:.3f}")
        )
    for institution in sites:
        local = table["local"][institution][POOLED]["rmse"]
        figures.append(
            Figure(NAME, f"federated vs {institution} alone: RMSE, pooled held-out", fed["mean"], "",
                   f"{institution} local", local["mean"], target="< 1", met=fed["mean"] < local["mean"])
        )
    paying = []
    for run_name in federated_runs:  # does federation (the global model, or the site's own last model) pay everywhere?
        wins = [min(table[run_name][i]["rmse"]["mean"], table["personalised"][run_name][i]["rmse"]["mean"])
                < table["local"][i][i]["rmse"]["mean"] for i in sites]  # fmt: skip
        if all(wins):
            paying.append(run_name)
    figures.append(Figure(NAME, "runs where every institution's own held-out RMSE beats its local-only model "
                                "(global or personalised)", len(paying), "", "runs", len(federated_runs), target="≥ 1",
                          met=bool(paying), note=", ".join(paying) or "none"))  # fmt: skip
    for institution in sites:
        own_local = table["local"][institution][institution]["rmse"]
        for run_name in federated_runs:
            mine = table["personalised"][run_name][institution]["rmse"]
            figures.append(
                Figure(NAME, f"{run_name} personalised vs {institution} alone: RMSE, {institution}'s held-out",
                       mine["mean"], "", f"{institution} local", own_local["mean"], note="reported, not judged")
            )
        for model in ("federated", *config["algorithms"]):
            own = table[model][institution]["rmse"]
            label = "federated" if model == "federated" else model
            figures.append(
                Figure(NAME, f"{label} vs {institution} alone: RMSE, {institution}'s held-out", own["mean"], "",
                       f"{institution} local", own_local["mean"], note="reported, not judged")
            )
    details = {
        "config": config,
        "method": "in-process FedAvg: ClientRound per site + weighted_average (no simulator)",
        "summary": table,
        "per_seed": per_seed,
    }
    return Result(NAME, figures, details)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
