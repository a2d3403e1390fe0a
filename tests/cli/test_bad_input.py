"""Bad input: one clear line naming the setting, exit status 2, no traceback, nothing written."""

import pytest
import torch

from runner.platform.errors import ConfigError
from runner.train import run


def assert_one_clear_line(result, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("model=stm", ("model=stm", "stn")),
        ("trainer.epochs=three", ("trainer.epochs", "integer")),
        ("optim.lr=-0.1", ("optim.lr", "> 0")),
        ("optim.betas=[0.9,1.5]", ("optim.betas[1] (β2)", "[0, 1)")),
        ("data.batch_size=0", ("data.batch_size", ">= 1")),
        ("trainer.epoch=3", ("trainer.epoch", "did you mean trainer.epochs?", "epochs, max_steps")),
        ("schedule.gamma=0.5", ("schedule.gamma is not a setting", "schedule has no settings")),
        ("trainer.precision=16", ("trainer.precision=16 needs a CUDA GPU",)),
    ],
)
def test_bad_setting_on_the_command_line(cli, tmp_path, override, words):
    run_dir = tmp_path / "run"
    result = cli(run_dir, override)
    assert_one_clear_line(result, *words)
    assert not run_dir.exists()  # nothing half-written


def test_a_typo_in_a_sweep_stops_it_before_any_job_runs(cli, tmp_path):
    result = cli(tmp_path / "run", "-m", "optim=adam,sgdd", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert_one_clear_line(result, "optim=sgdd", "adam, adam_gan, adamax")
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("models", ["gan,stn", "stn,gan"])
def test_a_key_is_checked_against_every_option_a_sweep_asks_for(models):
    """The key exists for model=gan only: either order stops the sweep before any job runs."""
    from runner.cli.overrides import problem_with
    from runner.train import CONF_DIR

    problem = problem_with(["-m", f"model={models}", "model.k_disc_steps=2"], CONF_DIR)
    assert problem is not None and problem.startswith(
        "model.k_disc_steps is not a setting with model=stn: model has: use_stn, classifier"
    )
    assert problem_with(["-m", f"model={models}", "model.in_channels=1"], CONF_DIR) is None
    crossed = ["-m", f"model={models}", "optim=adam,sgd", "optim.momentum=0.5"]
    assert "optim.momentum is not a setting with model=" in problem_with(crossed, CONF_DIR)
    assert "optim=adam" in problem_with(crossed, CONF_DIR)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("trainer.compile=maybe", ("trainer.compile must be true or false; got 'maybe'",)),
        ("trainer.precision=null", ("trainer.precision must be a string; got null",)),
        ("trainer.eval_every=1.5", ("trainer.eval_every must be an integer; got '1.5'",)),
        ("resume=maybe", ("resume must be true or false; got 'maybe'",)),
        ("device.deterministic=sometimes", ("device.deterministic must be true or false",)),
        ("data.subset=half", ("data.subset must be an integer or null; got 'half'",)),
        ("logger.timeout_s=soon", ("logger.timeout_s must be a number; got 'soon'",)),
        ("sweep.max_failures=many", ("sweep.max_failures must be an integer or null",)),
        ("trainer.early_stop=3", ("trainer.early_stop must be a section", "patience, min_delta")),
        ("seed=null", ("seed must be an integer; got null",)),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_the_schema(cli, tmp_path, override, words):
    """OmegaConf checks each value against the schema as Hydra composes (runner/run/schema.py):
    its error, several lines inside Hydra's, is told in one."""
    run_dir = tmp_path / "run"
    assert_one_clear_line(cli(run_dir, override), *words)
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["trainer.max_steps=0"], ("trainer.max_steps", ">= 1", "null")),
        (["trainer.precision=16"], ("trainer.precision=16 needs a CUDA GPU", "bf16")),
        (["trainer.precision=8"], ("trainer.precision", "32, bf16, 16")),
        (["trainer.accumulate=0"], ("trainer.accumulate", ">= 1")),
        (["trainer.grad_clip=0"], ("trainer.grad_clip", "> 0", "null")),
        (["trainer.compile_mode=fast"], ("trainer.compile_mode", "reduce-overhead")),
        (["trainer.early_stop.patience=0"], ("trainer.early_stop.patience", ">= 1")),
        (["trainer.early_stop.min_delta=-1"], ("trainer.early_stop.min_delta", ">= 0")),
        (["data.subset=0"], ("data.subset", ">= 1")),
        (["schedule=step", "schedule.gamma=0"], ("schedule.gamma", "> 0")),
        (["schedule=warmup_cosine", "schedule.warmup_steps=0"], ("schedule.warmup_steps", ">= 1")),
        (["schedule=plateau", "schedule.mode=up"], ("schedule.mode", "max, min")),
        (
            ["trainer.accumulate=1000"],
            ("trainer.accumulate (1000)", "no optimizer would ever step"),
        ),
        (["schedule=plateau", "schedule.factor=2"], ("schedule.factor", "(0, 1)")),
        (["optim.lr=0"], ("optim.lr", "> 0")),
        (["optim.lr=fast"], ("optim.lr", "> 0")),
        (["seed=-1"], ("seed", ">= 0")),
        (["logger.mode=sometimes"], ("logger.mode", "auto, online, offline, disabled")),
        (["objective.mode=up"], ("objective.mode", "max, min")),
        (["objective.metric=accuracy"], ("objective.metric", "val/acc")),
        (["data.val_size=100000"], ("data.val_size", "between 1 and")),
        (["objective.metric=val/accuracy"], ("objective.metric", "val/acc")),
        (["objective.metric=test/accuracy"], ("objective.metric", "test/acc")),
        (["data.image_size=32"], ("data.image_size", "28")),
        (["data.channels=3"], ("data.channels", "1")),
        (["data.dataset.train_size=abc"], ("data.dataset.train_size", "integer")),
        (["optim=sgd", "optim.momentum=-1"], ("optim", "momentum")),
        (["optim=adam", "optim.betas=[1.0,0.999]"], ("optim.betas[0] (β1) must be in [0, 1)",)),
        (["optim=adamax", "optim.eps=-1"], ("optim.eps must be >= 0",)),
        (["optim=adam", "optim.weight_decay=-0.1"], ("optim.weight_decay must be >= 0",)),
        (["model.image_size=0"], ("model.image_size",)),
        (["+model.depth=3"], ("model", "depth")),
    ],
)
def test_bad_setting_through_the_python_api(make_config, tmp_path, overrides, words):
    with pytest.raises(ConfigError) as error:
        run(make_config(*overrides), tmp_path)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(cli, tmp_path):
    result = cli(tmp_path / "run", "device=cuda")
    assert_one_clear_line(result, "device=cuda", "device=cpu")


def test_missing_dataset_says_where_to_put_it(cli, tmp_path):
    result = cli(
        tmp_path / "run",
        "data=mnist",
        f"data.root={tmp_path / 'empty'}",
        "data.dataset.download=false",
        small=False,
    )
    assert_one_clear_line(result, "MNIST", str(tmp_path / "empty" / "MNIST" / "raw"), "data=digits")
    assert not (tmp_path / "run").exists()
