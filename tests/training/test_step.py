"""One place for the optimisation step: experiments hand their losses to the step service."""

import itertools

import pytest
import torch
from torch import Tensor
from torch.optim import Optimizer

from experiments.base import plain_step
from experiments.gan import GAN
from experiments.stn import STNClassifier
from runner.run.build import build, build_loaders_of, build_optimizer_factory
from runner.training.step import StepService


class RecordingStep:
    """A step service that takes the plain step and notes which optimizer it stepped."""

    def __init__(self, optimizers: dict[str, Optimizer]) -> None:
        self.names = {id(optimizer): name for name, optimizer in optimizers.items()}
        self.stepped: list[str] = []

    def __call__(self, loss: Tensor, optimizer: Optimizer) -> None:
        self.stepped.append(self.names[id(optimizer)])
        plain_step(loss, optimizer)


def images(count: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(count, 1, 28, 28, generator=generator), torch.arange(count) % 10


def test_without_the_runner_an_experiment_steps_in_plain_pytorch():
    torch.manual_seed(0)
    model = STNClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    metrics = model.training_step(images(8), {"model": optimizer})
    assert model.step_service is None and set(metrics) == {"loss", "acc"}
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_gan_takes_k_discriminator_steps_per_generator_step_through_the_service(k):
    torch.manual_seed(0)
    gan = GAN(generator_sizes=[16, 32], discriminator_sizes=[16], k_disc_steps=k)
    optimizers = gan.configure_optimizers(lambda p: torch.optim.Adam(p, lr=1e-3))
    service = RecordingStep(optimizers)
    gan.use_step_service(service)
    for _ in range(2 * k):
        gan.training_step(images(8), optimizers)
    one_round = ["discriminator"] * (k - 1) + ["discriminator", "generator"]
    assert service.stepped == one_round * 2


def test_the_runner_service_steps_only_the_optimizers_it_checkpoints():
    model = STNClassifier()
    known = torch.optim.SGD(model.parameters(), lr=0.1)
    model.use_step_service(StepService({"model": known}))
    model.training_step(images(4), {"model": known})
    stranger = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="configure_optimizers did not return"):
        model.training_step(images(4), {"model": stranger})


QUICK = {
    "gan": [
        "model.parzen_samples=200",
        "model.parzen_val_images=50",
        "model.parzen_batch_size=100",
    ],
    "vae": ["model.importance_samples=4"],
}


@pytest.mark.parametrize("model", ["stn", "logreg", "mlp", "gan", "gan_theory", "vae"])
def test_every_experiment_measures_exactly_the_metrics_it_declares(make_config, model):
    cfg = make_config(f"model={model}", *QUICK.get(model, []))
    torch.manual_seed(0)
    experiment = build(cfg.model, "model")
    optimizers = experiment.configure_optimizers(build_optimizer_factory(cfg.optim))
    loaders = build_loaders_of(cfg.data, seed=0, device=torch.device("cpu"))
    trained = experiment.training_step(next(iter(loaders.train)), optimizers)
    assert tuple(trained) == experiment.metric_names("train")
    for split in ("val", "test"):
        with torch.no_grad():
            measured = experiment.evaluate(itertools.islice(loaders.val, 1), split)
        assert tuple(measured) == experiment.metric_names(split)
