"""The step service's features on small models: schedules, clipping, accumulation, precision."""

import math

import pytest
import torch
from torch import nn

from runner.run.build import build_schedules
from runner.training.step import StepService, StepSettings
from tests.conftest import compose_config


def service_for(model: nn.Module, schedule: str = "constant", total_steps: int = 100, lr: float = 0.1,
                **settings) -> StepService:  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    cfg = compose_config(f"schedule={schedule}")
    schedules = build_schedules(cfg.schedule, {"model": optimizer}, total_steps)
    return StepService({"model": optimizer}, StepSettings(**settings), "cpu", schedules)


def rates_over(service: StepService, steps: int) -> list[float]:
    """The learning rate of each of ``steps`` optimisation steps."""
    parameter = next(iter(service.optimizers["model"].param_groups[0]["params"]))
    rates = []
    for _ in range(steps):
        rates.append(service.optimizers["model"].param_groups[0]["lr"])
        with service.batch():
            service(parameter.sum(), service.optimizers["model"])
    return rates


def test_step_decays_by_gamma_every_step_size_steps():
    rates = rates_over(service_for(nn.Linear(2, 1), "step"), 2001)  # step_size 1000, gamma 0.1
    assert rates[0] == rates[999] == 0.1 and rates[1000] == pytest.approx(0.01)
    assert rates[2000] == pytest.approx(0.001)


def test_cosine_falls_from_the_rate_to_min_lr_over_the_run():
    rates = rates_over(service_for(nn.Linear(2, 1), "cosine", total_steps=100), 101)
    assert rates[0] == 0.1 and rates[50] == pytest.approx(0.05) and rates[100] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(rates[:100], rates[1:101], strict=True))


def test_warmup_cosine_rises_linearly_then_follows_the_cosine():
    rates = rates_over(service_for(nn.Linear(2, 1), "warmup_cosine", total_steps=1100), 1101)
    assert rates[0] == pytest.approx(0.1 * 0.01)  # start_factor
    assert rates[50] == pytest.approx(0.1 * (0.01 + 0.99 * 50 / 100))
    assert rates[100] == pytest.approx(0.1)  # warmup_steps
    assert rates[600] == pytest.approx(0.05) and rates[1100] == pytest.approx(0.0, abs=1e-12)


def test_inverse_sqrt_is_the_adam_papers_alpha_over_root_t():
    rates = rates_over(service_for(nn.Linear(2, 1), "inverse_sqrt"), 100)
    for t in (1, 2, 4, 100):
        assert rates[t - 1] == pytest.approx(0.1 / math.sqrt(t))


def test_plateau_cuts_the_rate_after_patience_validations_without_improvement():
    service = service_for(nn.Linear(2, 1), "plateau")  # objective.mode max, patience 2
    rates = []
    for accuracy in (0.5, 0.6, 0.6, 0.6, 0.6, 0.7):
        service.observe_objective(accuracy)
        rates.append(service.optimizers["model"].param_groups[0]["lr"])
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_clipping_reports_the_norm_before_it_and_steps_with_the_clipped_gradient():
    weight = nn.Parameter(torch.zeros(4))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    service = StepService({"model": optimizer}, StepSettings(grad_clip=1.0))
    with service.batch():
        service((weight * torch.tensor([3.0, 4.0, 0.0, 0.0])).sum(), optimizer)
    assert service.pop_gradient_norms()["grad_norm"].item() == pytest.approx(5.0)
    assert weight.detach().tolist() == pytest.approx([-0.6, -0.8, 0.0, 0.0])


def test_n_accumulated_batches_of_b_step_as_one_batch_of_n_times_b():
    """A model without dropout or batch norm: the mean loss over 4 batches of 8, accumulated,
    gives the gradient (and so the step) of the mean loss over the 32 samples at once."""
    torch.manual_seed(0)
    inputs, targets = torch.randn(32, 10), torch.randint(0, 3, (32,))
    whole, parts = nn.Linear(10, 3), nn.Linear(10, 3)
    parts.load_state_dict(whole.state_dict())
    one = StepService({"model": torch.optim.Adam(whole.parameters(), lr=0.01)})
    four = StepService(
        {"model": torch.optim.Adam(parts.parameters(), lr=0.01)}, StepSettings(accumulate=4)
    )
    loss = nn.functional.cross_entropy
    for _ in range(3):  # three optimizer steps
        one(loss(whole(inputs), targets), one.optimizers["model"])
        for chunk, labels in zip(inputs.split(8), targets.split(8), strict=True):
            four(loss(parts(chunk), labels), four.optimizers["model"])
    for a, b in zip(whole.parameters(), parts.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert four.calls["model"] == 12


def test_half_gathered_gradients_survive_a_checkpoint():
    weight = nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    service = StepService({"model": optimizer}, StepSettings(accumulate=2))
    service((weight * 2).sum(), optimizer)  # one of two: no step yet
    assert torch.equal(weight.detach(), torch.ones(3))
    state = service.state_dict()
    weight.grad = None
    restored = StepService({"model": optimizer}, StepSettings(accumulate=2))
    restored.load_state_dict(state)
    restored((weight * 2).sum(), optimizer)  # the second: steps on both
    assert weight.detach().tolist() == pytest.approx([1 - 0.1 * 2] * 3)


def test_bf16_autocast_runs_the_forward_in_bf16_and_the_step_in_float32():
    model = nn.Linear(4, 2)
    service = StepService(
        {"model": torch.optim.SGD(model.parameters(), lr=0.1)}, StepSettings("bf16")
    )
    with service.batch():
        output = model(torch.randn(3, 4))
        service(output.float().square().mean(), service.optimizers["model"])
    assert output.dtype == torch.bfloat16
    assert model.weight.dtype == torch.float32 and model.weight.grad.dtype == torch.float32
