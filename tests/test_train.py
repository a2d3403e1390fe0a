"""The command line end to end: what a user types, what lands in the run directory."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from runner.records.metrics import read_metrics
from tests.conftest import REPO, SMALL, SMALL_DATA, run_cli
from tests.wandb_records import read_offline_run


def test_help_lists_every_config_group():
    result = run_cli("--help")
    assert result.returncode == 0
    for line in (
        "data: cifar10, digits, fashion_mnist, mnist",
        "device: auto, cpu, cuda",
        "logger: none, wandb",
        "model: cnn, gan, gan_theory, logreg, mlp, stn, vae",
        "optim: adagrad, adam, adam_gan, adamax, rmsprop, sgd, sgd_nesterov",
        "experiment: adam_bias_correction, adam_cnn, adam_logreg, adam_mlp, adam_step_bound, gan_generator_loss, gan_js_saturation, gan_theory, stn_table1, vae_active_units, vae_figure2, vae_paper",
        "search: gan, logreg, mlp, stn, vae",
        "schedule: constant, cosine, inverse_sqrt, plateau, step, warmup_cosine",
        "debug: fast, overfit, profile",
        "hydra/launcher=joblib",
    ):
        assert line in result.stdout


def test_cfg_job_prints_the_whole_config():
    result = run_cli("--cfg", "job", "optim=adam", "trainer.epochs=3")
    assert result.returncode == 0
    for text in (
        "seed: 0",
        "deterministic: true",
        "resume: false",
        "epochs: 3",
        "max_steps: null",
        "eval_every:",
        "batch_size:",
        "root:",
        "_target_: experiments.adam.Adam",
        "betas:",
        "mode: auto",
        "metric: val/acc",
    ):
        assert text in result.stdout


def test_a_run_writes_every_artefact_and_its_wandb_run(cli, tmp_path):
    run_dir = tmp_path / "run"
    result = cli(run_dir, "logger=wandb", "logger.mode=offline")
    assert result.returncode == 0, result.stderr
    assert "summary" in result.stdout and "test/acc" in result.stdout

    for path in (
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "metrics.jsonl",
        "summary.json",
        "config_tree.txt",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
        "figures/stn.png",
    ):
        assert (run_dir / path).is_file(), path

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["objective"]["metric"] == "val/acc"
    assert summary["objective"]["value"] == summary["metrics"]["val/acc"]
    assert summary["metrics"]["test/acc"] > 0.5  # ten classes: chance is 0.1
    assert summary["wall_time_s"] > 0
    assert summary["versions"]["torch"] == torch.__version__.split("+")[0]
    assert "git_commit" in summary

    records = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == sorted(r["step"] for r in records)
    assert {"train/loss", "train/acc", "val/acc", "test/acc"} <= {k for r in records for k in r}
    # the wait from the process's start to the end of the first step, in the first record only
    assert [r for r in records if "perf/startup_s" in r] == records[:1]
    assert 0.5 < records[0]["perf/startup_s"] < 60  # the interpreter and torch's import at least

    checkpoint = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    position = {key: checkpoint["state"][key] for key in ("step", "epoch", "batch")}
    assert position == {"step": summary["steps"], "epoch": 2, "batch": 0}
    assert set(checkpoint) >= {"experiment", "optimizers", "rng", "state", "config"}

    wandb_run = read_offline_run(run_dir)
    assert wandb_run.exit_code == 0
    assert wandb_run.config["optim"]["lr"] == 0.001  # the config arrives resolved:
    assert wandb_run.config["model"]["image_size"] == 28  # ${data.image_size} became its value
    logged = {row["_step"]: row for row in wandb_run.history}
    for record in records:
        for key, value in record.items():
            if key.startswith("test/"):  # measured once: the run's summary, not its history
                assert wandb_run.summary[key] == pytest.approx(value), key
                assert all(key not in row for row in wandb_run.history)
            elif not key.startswith("perf/"):
                assert logged[record["step"]][key] == pytest.approx(value), key
    assert wandb_run.summary["objective"] == pytest.approx(summary["objective"]["value"])
    assert "perf/startup_s" in wandb_run.summary
    # figures at each validation, stepped, for W&B's media slider
    stepped = [row["_step"] for row in wandb_run.history if "figures/stn._type" in row]
    assert len(stepped) >= 2 and stepped == sorted(stepped)

    # W&B reads the run as the runner does: against its step, the best value in the summary
    assert wandb_run.declared("*")["step_metric"] == "step"
    assert wandb_run.declared("val/acc")["summary"] == {"max": True}
    assert wandb_run.declared("val/loss")["summary"] == {"min": True}
    best_acc = max(r["val/acc"] for r in records if "val/acc" in r)
    assert wandb_run.summary["val/acc"] == {"max": pytest.approx(best_acc)}
    assert all(row["step"] == row["_step"] for row in wandb_run.history)
    assert wandb_run.job_type == "train"
    assert {"paper:stn", "model:stn"} <= set(wandb_run.tags)
    assert (
        wandb_run.notes.startswith("python -m runner ") and "logger.mode=offline" in wandb_run.notes
    )


@pytest.mark.slow
def test_a_rerun_is_refused_without_resume_and_changes_nothing_with_it_once_completed(
    cli, tmp_path
):
    run_dir = tmp_path / "run"
    assert cli(run_dir, "trainer.max_steps=5").returncode == 0
    before = (run_dir / "metrics.jsonl").read_text()
    again = cli(run_dir, "trainer.max_steps=5")
    assert again.returncode == 2
    assert "resume=true" in again.stderr
    assert (run_dir / "checkpoints/last.pt").exists()
    resumed = cli(run_dir, "trainer.max_steps=5", "resume=true")
    assert resumed.returncode == 0
    assert "already completed" in resumed.stdout
    assert (run_dir / "metrics.jsonl").read_text() == before


@pytest.mark.slow  # each job's config is checked in test_sweeps; this runs them all
@pytest.mark.parametrize("experiment", ["adam_logreg", "adam_mlp"])
def test_the_adam_paper_comparisons_run_as_sweeps(cli, data_root, tmp_path, experiment):
    sweep_dir = tmp_path / "sweep"
    result = cli(
        tmp_path / "unused",
        "-m",
        f"experiment={experiment}",  # it sweeps the optimizers: the command line names none
        f"hydra.sweep.dir={sweep_dir}",
        *SMALL_DATA,
        f"data.root={data_root}",
        "logger=none",
        "device=cpu",
        "trainer.epochs=1",
        "model.hidden_sizes=[32,32]" if experiment == "adam_mlp" else "seed=0",
        small=False,
    )
    assert result.returncode == 0, result.stderr
    summaries = [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/summary.json"))]
    expected = {"adam_logreg": 3, "adam_mlp": 4}[experiment]
    assert len(summaries) == expected
    assert all(
        s["status"] == "completed" and s["objective"]["metric"] == "train/epoch_loss"
        for s in summaries
    )
    configs = [(sweep_dir / str(i) / ".hydra/config.yaml").read_text() for i in range(expected)]
    assert (
        len({c.split("optim:")[1].split("device:")[0] for c in configs}) == expected
    )  # one optimizer each
    figure = {"adam_logreg": "adam_figure_1.png", "adam_mlp": "adam_figure_2.png"}[experiment]
    assert (sweep_dir / "figures" / figure).stat().st_size > 0


@pytest.mark.slow  # SIGINT and SIGTERM at every moment of a run: tests/test_faults.py
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_records_the_run_as_interrupted_and_says_how_to_continue(data_root, tmp_path, stop):
    run_dir = tmp_path / "run"
    arguments = [*SMALL, f"data.root={data_root}", "trainer.epochs=50", f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", *arguments],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints/last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted; continue with: python -m runner" in stderr
    assert f"resume=true hydra.run.dir={run_dir}" in stderr
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"


@pytest.mark.slow  # the joblib sweep of tests/test_sweeps.py checks the same in every job
def test_each_job_of_a_sweep_is_its_own_wandb_run_grouped_by_the_sweep(cli, tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = cli(tmp_path / "unused", "-m", "optim=adam,sgd", f"hydra.sweep.dir={sweep_dir}",
                 "trainer.max_steps=3", "logger=wandb", "logger.mode=offline")  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = [read_offline_run(sweep_dir / str(job)) for job in (0, 1)]
    assert [run.group for run in runs] == [str(sweep_dir)] * 2
    assert "optim=adam" in runs[0].tags and "optim=sgd" in runs[1].tags
    assert runs[0].config["optim"]["_target_"] != runs[1].config["optim"]["_target_"]
    assert all(run.exit_code == 0 for run in runs)


@pytest.mark.parametrize(
    "arguments", [["--help"], ["--cfg", "job"], ["--info"], ["model=stm"], ["trainer.epoch=3"]]
)
def test_the_command_line_answers_without_importing_torch(arguments):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "runner", *arguments],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert imported & {"torch", "torchvision", "wandb", "optuna"} == set()
    assert "runner.train" in imported


def test_help_shows_the_config_of_the_overrides_given():
    result = run_cli("model=gan", "optim.lr=0.001", "--help")
    assert result.returncode == 0, result.stderr
    assert "_target_: experiments.gan.GAN" in result.stdout and "lr: 0.001" in result.stdout
    assert "== Config groups (choose one option each, e.g. optim=adam) ==" in result.stdout
    refused = run_cli("model=stm", "--help")
    assert refused.returncode == 2 and refused.stderr.startswith(
        "error: model=stm is not an option"
    )


def imported_modules(importtime_output: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in importtime_output.splitlines()}


def test_a_run_on_idx_files_imports_only_what_it_uses(tmp_path):
    """No torchvision (the files are read as they are), no torch._dynamo (nothing compiles),
    no W&B with logger=none, no Optuna or submitit outside their sweeps, and no matplotlib:
    the run's figures are drawn by its figure worker (runner.records.figure_worker)."""
    from tests.data.test_data import write_idx

    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", 300), ("t10k", 100)):
        images = torch.randint(0, 256, (count, 28, 28), generator=generator, dtype=torch.uint8)
        write_idx(tmp_path / "MNIST" / "raw" / f"{split}-images-idx3-ubyte", images)
        labels = torch.randint(0, 10, (count,), generator=generator, dtype=torch.uint8)
        write_idx(tmp_path / "MNIST" / "raw" / f"{split}-labels-idx1-ubyte", labels)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "runner", "model=vae", "data=mnist",
         f"data.root={tmp_path}", "data.val_size=50", "trainer.max_steps=3", "logger=none",
         "device=cpu", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    imported = imported_modules(result.stderr)
    assert {"torch", "experiments.base"} <= imported
    unused = {"torchvision", "torchvision.datasets", "torch._dynamo", "wandb", "optuna", "submitit",
              "matplotlib"}  # fmt: skip
    assert imported & unused == set()
    assert (tmp_path / "run" / "figures" / "curves.png").is_file()


def test_a_compiled_run_gets_torchs_compiler_marks_back():
    """Optimizers skip torch._disable_dynamo's import, and their steps the graph breaks of
    _use_grad_for_differentiable, while nothing compiles, taking the same steps with torch's
    hooks; they go through both again once a run compiles (in a fresh interpreter:
    torch._dynamo not yet loaded)."""
    script = """
import sys, torch
from torch.optim.optimizer import _use_grad_for_differentiable, register_optimizer_step_post_hook
from runner.platform.dynamo import dynamo_marked_methods, use_dynamo

def sgd_steps():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
    for _ in range(3):
        optimizer.zero_grad()
        weight.square().sum().backward()
        optimizer.step()
    optimizer.state_dict()
    return weight.detach()

hooks_called, gradients_on = [], []
register_optimizer_step_post_hook(lambda *_: hooks_called.append(1))
class Recording(torch.optim.SGD):  # a step that says whether gradients are on while it runs
    @_use_grad_for_differentiable
    def step(self, closure=None):
        gradients_on.append(torch.is_grad_enabled())

assert {m.__name__ for m in dynamo_marked_methods()} >= {"zero_grad", "add_param_group"}
use_dynamo(compiling=False)
outside = sgd_steps()
assert "torch._dynamo" not in sys.modules
assert len(hooks_called) == 3  # torch's step hooks still run
Recording([torch.nn.Parameter(torch.ones(2))], lr=0.1).step()
assert gradients_on == [False] and "torch._dynamo" not in sys.modules
use_dynamo(compiling=True)
assert sgd_steps().tolist() == outside.tolist()
assert "torch._dynamo" in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
