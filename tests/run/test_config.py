"""Every config group option composes from the real conf/ and builds what it names."""

import pytest
import torch
from omegaconf import OmegaConf

from runner.platform.device import resolve_device
from runner.platform.errors import ConfigError
from runner.records.wandb_run import choose_mode, wandb_host
from runner.run.build import build, build_loaders_of, build_optimizer_factory
from runner.train import CONF_DIR
from tests.conftest import compose_config

GROUPS = ("model", "optim", "device", "data", "logger")


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


def test_the_groups_have_the_options_the_design_names():
    assert {"stn"} <= set(options("model"))
    assert {"adam", "sgd"} <= set(options("optim"))
    assert set(options("device")) == {"auto", "cpu", "cuda"}
    assert {"digits", "mnist", "fashion_mnist"} <= set(options("data"))
    assert set(options("logger")) == {"wandb", "none"}


def test_the_public_keys_exist(make_config):
    cfg = make_config()
    for key in (
        "seed",
        "resume",
        "objective",
        "trainer.epochs",
        "trainer.max_steps",
        "trainer.eval_every",
        "data.batch_size",
        "data.root",
        "logger.mode",
    ):
        assert OmegaConf.select(cfg, key, default="absent") != "absent", key


@pytest.mark.parametrize("model", options("model"))
@pytest.mark.parametrize("optim", options("optim"))
def test_every_model_and_optimizer_builds(make_config, model, optim):
    cfg = make_config(f"model={model}", f"optim={optim}")
    experiment = build(cfg.model, "model")
    optimizers = experiment.configure_optimizers(build_optimizer_factory(cfg.optim))
    assert optimizers and all(isinstance(o, torch.optim.Optimizer) for o in optimizers.values())
    assert all(o.param_groups[0]["lr"] == cfg.optim.lr for o in optimizers.values())


def test_the_digits_data_builds_loaders_of_the_configured_sizes(make_config):
    cfg = make_config("data.batch_size=32")
    loaders = build_loaders_of(cfg.data, seed=0, device=torch.device("cpu"))
    images, labels = next(iter(loaders.train.batches(0)))
    assert images.shape == (32, 1, 28, 28) and labels.shape == (32,)
    assert len(loaders.val.data) == cfg.data.val_size
    assert len(loaders.test.data) == cfg.data.dataset.test_size


@pytest.mark.parametrize("data", ["mnist", "fashion_mnist"])
def test_torchvision_data_options_compose(data, tmp_path):
    cfg = compose_config(f"data={data}", f"data.root={tmp_path}", "data.dataset.download=false")
    assert cfg.data.dataset.root == str(tmp_path)
    with pytest.raises(ConfigError, match="data=digits"):
        build_loaders_of(cfg.data, seed=0, device=torch.device("cpu"))


@pytest.mark.parametrize("device", options("device"))
def test_every_device_option_resolves_or_says_why_not(make_config, device):
    cfg = make_config(f"device={device}")
    if device == "cuda" and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device(cfg.device.type)
    else:
        assert resolve_device(cfg.device.type).type in ("cpu", "cuda")


@pytest.mark.parametrize("logger", options("logger"))
def test_every_logger_option_has_a_mode(make_config, logger):
    assert make_config(f"logger={logger}").logger.mode in ("auto", "disabled")


def test_auto_mode_is_online_only_with_an_api_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert choose_mode("auto") == "offline"
    (tmp_path / "netrc").write_text(f"machine {wandb_host()}\n  login user\n  password abc\n")
    assert choose_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert choose_mode("auto") == "disabled"
    assert choose_mode("offline") == "offline"


# What a project class's constructor defaults to, and the YAML option that deliberately differs.
DELIBERATE = {("optim", "adam_gan"): {"lr", "betas"}}


def same_value(in_yaml: object, in_code: object) -> bool:
    if isinstance(in_code, tuple | list):
        return (
            isinstance(in_yaml, list | tuple)
            and len(in_yaml) == len(in_code)
            and all(same_value(a, b) for a, b in zip(in_yaml, in_code, strict=True))
        )
    if isinstance(in_code, float):  # YAML keeps 8 digits (the Parzen widths)
        return in_yaml == pytest.approx(in_code, rel=1e-7)
    return in_yaml == in_code


@pytest.mark.parametrize(
    ("group", "option"),
    [("model", m) for m in options("model")] + [("optim", o) for o in options("optim")],
)
def test_every_value_a_yaml_copies_from_code_is_the_code_default(group, option):
    """``conf/`` shows every setting, so it repeats the defaults of this project's classes:
    a default changed in code must be changed in the YAML too, or this fails."""
    import inspect

    from hydra.utils import get_class

    node = compose_config(f"{group}={option}")[group]
    target = get_class(node._target_)
    if not target.__module__.startswith(("experiments.", "runner.")):
        return  # torch's optimizers: the YAML chooses their settings, it copies nothing
    defaults = {
        name: p.default for name, p in inspect.signature(target).parameters.items()
        if p.default is not inspect.Parameter.empty
    }  # fmt: skip
    copied = [
        key for key in node
        if key in defaults and not OmegaConf.is_interpolation(node, key)
        and key not in DELIBERATE.get((group, option), set())
    ]  # fmt: skip
    if (group, option) == ("model", "gan"):
        assert "parzen_sigmas" in copied  # the paper's grid, experiments.gan.PARZEN_SIGMAS
    for key in copied:
        value = OmegaConf.to_object(node[key]) if OmegaConf.is_config(node[key]) else node[key]
        assert same_value(value, defaults[key]), (
            f"{group}/{option}.yaml {key}: {value} != {defaults[key]}"
        )


@pytest.mark.parametrize("model", options("model"))
def test_every_model_option_carries_its_objective(model):
    cfg = compose_config(f"model={model}")
    assert cfg.objective.metric.split("/")[0] in ("train", "val", "test")
    assert cfg.objective.mode in ("max", "min")


IMAGES = {"channels", "image_size", "num_classes"}
"""What a data option may set beside its dataset: its images' shape and classes."""


def test_the_data_and_device_options_share_their_common_keys():
    for group, own, optional in (("data", {"dataset"}, IMAGES), ("device", {"type"}, set())):
        for option in options(group):
            keys = set(OmegaConf.load(CONF_DIR / group / f"{option}.yaml"))
            assert own <= keys <= own | optional, option
        assert compose_config(f"{group}={options(group)[0]}")[group].keys() > own
