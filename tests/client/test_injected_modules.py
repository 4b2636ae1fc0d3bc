"""``model_manager`` and ``controller_manager`` as user code sees them (DESIGN §9)."""

from __future__ import annotations

import pytest
import torch

from nvflare_fdd.client import runtime
from nvflare_fdd.errors import FddError
from nvflare_fdd.usercode import user_modules


@pytest.fixture
def injected(tmp_path):
    """The two modules, imported by bare name as a bundle does, on a fresh runtime."""
    previous = runtime.current()
    runtime.configure(device="cpu", algorithm="fedprox", fedprox_mu=0.3)
    with user_modules(tmp_path):
        import controller_manager
        import model_manager

        yield model_manager, controller_manager
    runtime.configure(**vars(previous))


def test_model_managers_helpers(injected):
    model_manager, _ = injected
    model = torch.nn.Linear(2, 1)
    reference = torch.nn.Linear(2, 1)
    reference.load_state_dict(model.state_dict())
    with torch.no_grad():
        model.weight += 3.0
    optimizer = torch.optim.SGD([{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.2}])

    diff, norm = model_manager.compute_model_diff(model, reference)
    assert model_manager.DEVICE == torch.device("cpu")
    assert model_manager.get_lr_values(optimizer) == [0.1, 0.2]
    assert torch.allclose(diff["weight"], torch.full((1, 2), 3.0)) and torch.allclose(diff["bias"], torch.zeros(1))
    assert float(norm) == pytest.approx((2 * 9.0) ** 0.5)
    with pytest.raises(FddError, match="cannot ask the platform for 'pretrained'"):
        model_manager.download_model("SmolLM2-135M")


def test_download_model_asks_the_platform(tmp_path):
    asked = []
    previous = runtime.current()
    runtime.configure(requester=lambda what, arguments: asked.append((what, arguments)) or {"path": "/cache/x"})
    try:
        with user_modules(tmp_path):
            import model_manager

            assert model_manager.download_model("SmolLM2-135M") == "/cache/x"
    finally:
        runtime.configure(**vars(previous))
    assert asked == [("pretrained", {"name": "SmolLM2-135M"})]


def test_fedprox_is_one_per_process_and_takes_the_jobs_mu_by_default(injected):
    _, controller_manager = injected
    controller_manager.FLFedProx.reset()
    first = controller_manager.FLFedProx()
    assert controller_manager.FLFedProx(0.9) is first and first.fedproxloss_mu == 0.3
    model = torch.nn.Linear(2, 1)
    first.set_global(model)
    with torch.no_grad():
        model.weight += 1.0
    loss = first.fedprox_apply(model, torch.tensor(0.0))
    assert loss.item() == pytest.approx(0.3 / 2 * 2.0)  # mu/2 · ‖w − w_global‖², two weights moved by 1
    controller_manager.FLFedProx.reset()
    assert controller_manager.FLFedProx(0.0).fedprox_apply(model, torch.tensor(1.5)).item() == 1.5


def test_scaffold_refuses_a_model_without_the_servers_controls(injected):
    _, controller_manager = injected
    controller_manager.FLScaffold.reset()
    scaffold = controller_manager.FLScaffold(torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="scaffold_c_global"):
        scaffold.get_global_controls(type("Model", (), {"meta": {}})())
    with pytest.raises(ValueError, match="set_global"):
        scaffold.scaffold_update(torch.nn.Linear(2, 1), 1)
    controller_manager.FLScaffold.reset()
