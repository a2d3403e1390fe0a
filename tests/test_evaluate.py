"""``python -m runner.evaluate``: a saved run evaluated again, on its data or on other data."""

import json
import os
import subprocess
import sys

import pytest
import torch

from runner.evaluate import main
from tests.conftest import REPO

pytestmark = pytest.mark.xdist_group("trained")  # its runs trained once, on one worker


def evaluate_cli(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "runner.evaluate", *map(str, arguments)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)  # fmt: skip


def evaluate_in_process(capsys, *arguments: str) -> tuple[int, str]:
    """``main()`` as the command line runs it: its exit status and what it printed to stderr."""
    with pytest.raises(SystemExit) as exit_status:
        main([str(a) for a in arguments])
    return exit_status.value.code, capsys.readouterr().err


def assert_one_line(status: int, stderr: str, *words: str) -> None:
    assert status == 2, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert all(word in stderr for word in words), stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    """A short STN run on undistorted digits, and one on the RTS canvas."""
    from runner.train import run
    from tests.conftest import SMALL, compose_config

    runs = tmp_path_factory.mktemp("runs")
    for name, extra in (("plain", []), ("rts", ["data.distortion=rts"])):
        cfg = compose_config(*SMALL, f"data.root={data_root}", "trainer.max_steps=40", *extra)
        run(cfg, runs / name)
    return runs


def test_the_last_checkpoint_gives_the_runs_own_test_metrics(trained):
    result = evaluate_cli(trained / "plain", "checkpoint=last")
    assert result.returncode == 0, result.stderr
    evaluations = json.loads((trained / "plain/evaluation.json").read_text())
    summary = json.loads((trained / "plain/summary.json").read_text())
    measured = evaluations["last"]["metrics"]
    assert measured == {k: v for k, v in summary["metrics"].items() if k.startswith("test/")}
    assert evaluations["last"]["step"] == 40 and "test/acc" in result.stdout


def test_other_data_is_evaluated_and_kept_beside_earlier_evaluations(trained):
    assert evaluate_cli(trained / "plain").returncode == 0  # best.pt on its own data
    result = evaluate_cli(trained / "plain", "data.distortion=rotated")
    assert result.returncode == 0, result.stderr
    evaluations = json.loads((trained / "plain/evaluation.json").read_text())
    assert {"best", "best data.distortion=rotated"} <= set(evaluations)
    assert evaluations["best data.distortion=rotated"]["overrides"] == ["data.distortion=rotated"]
    rotated = evaluations["best data.distortion=rotated"]["metrics"]["test/acc"]
    assert rotated < evaluations["best"]["metrics"]["test/acc"]  # ±90°: harder for this model


def test_an_rts_trained_model_takes_smaller_digits_centred_on_its_canvas(trained):
    result = evaluate_cli(trained / "rts", "data.distortion=rotated")
    assert result.returncode == 0, result.stderr
    evaluations = json.loads((trained / "rts/evaluation.json").read_text())
    assert 0 <= evaluations["best data.distortion=rotated"]["metrics"]["test/acc"] <= 1


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["{nowhere}"], ("does not exist", "run directory")),
        (["{plain}", "model.use_stn=false"], ("model.use_stn cannot change", "data.*")),
        (["{plain}", "data.distorton=rts"], ("data.distorton is not a setting", "distortion")),
        (["{plain}", "data.distortion=warped"], ("data.distortion must be one of", "rotated")),
        (["{plain}", "data.distortion=rts"], ("42x42", "28x28")),
        (["{plain}", "checkpoint=worst"], ("checkpoint must be best or last",)),
        (["{plain}", "data=cifar"], ("data=cifar is not an option", "mnist")),
        ([], ("usage: python -m runner.evaluate RUN_DIR",)),
    ],
)
def test_bad_input_gets_one_line(trained, tmp_path, capsys, arguments, words):
    paths = {"nowhere": tmp_path / "nowhere", "plain": trained / "plain"}
    assert_one_line(*evaluate_in_process(capsys, *[a.format(**paths) for a in arguments]), *words)


def test_bad_input_through_the_command_line(trained):
    result = evaluate_cli(trained / "plain", "model.use_stn=false")
    assert_one_line(result.returncode, result.stderr, "model.use_stn cannot change")


@pytest.mark.parametrize(
    ("node", "target"),
    [
        ("model", "os.makedirs"),  # a function outside the project
        ("model", "runner.platform.files.write_text_atomically"),  # the project's, but not a class
        ("data.dataset", "subprocess.call"),
    ],
)
def test_a_checkpoint_that_names_other_code_is_refused_without_running_it(
    trained, tmp_path, capsys, node, target
):
    checkpoint = torch.load(trained / "plain/checkpoints/best.pt", weights_only=True)
    made = tmp_path / "made-by-the-checkpoint"
    hostile = {
        "_target_": target,
        "name": str(made),
        "path": str(made),
        "text": "x",
        "args": ["touch", str(made)],
    }
    section = checkpoint["config"]
    *parents, last = node.split(".")
    for key in parents:
        section = section[key]
    section[last] = hostile
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save(checkpoint, run_dir / "checkpoints/best.pt")
    status, stderr = evaluate_in_process(capsys, run_dir)
    assert_one_line(status, stderr, f"{node}._target_", target, "is not a class of this project")
    assert not made.exists()


def test_device_and_help_as_on_the_training_command_line(trained, capsys):
    main([str(trained / "plain"), "device=cpu"])
    assert "(step 40) on the test split" in capsys.readouterr().out
    main(["--help"])
    assert "python -m runner.evaluate RUN_DIR" in capsys.readouterr().out


@pytest.mark.slow  # a run and two evaluations through the command line: CI's full run
def test_an_evaluation_of_a_run_that_logged_to_wandb_is_a_wandb_run_of_its_own(tmp_path, data_root):
    """Job type ``evaluate``, in the evaluated run's group, pointing at its W&B run, with the
    metrics evaluation.json keeps in its summary; ``logger.mode=disabled`` makes none."""
    from runner.train import run
    from tests.conftest import SMALL, compose_config
    from tests.wandb_records import read_finished_run

    run_dir = tmp_path / "run"
    cfg = compose_config(*SMALL, f"data.root={data_root}", "trainer.max_steps=10",
                         "logger=wandb", "logger.mode=offline", "logger.group=study")  # fmt: skip
    run(cfg, run_dir)
    last = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    trained_id = last["state"]["wandb_run_id"]  # named after it: offline runs have no W&B name

    result = evaluate_cli(run_dir, "checkpoint=last", "data.distortion=rotated")
    assert result.returncode == 0, result.stderr
    assert f"python -m runner.sync {run_dir}" in result.stdout
    name = f"{trained_id} · evaluate last data.distortion=rotated"
    evaluation = read_finished_run(run_dir, name=name)
    assert (evaluation.job_type, evaluation.group) == ("evaluate", "study")
    assert trained_id and f"evaluates:{trained_id}" in evaluation.tags
    assert evaluation.config["evaluated"]["wandb_run_id"] == trained_id
    entry = json.loads((run_dir / "evaluation.json").read_text())["last data.distortion=rotated"]
    for key, value in entry["metrics"].items():
        assert evaluation.summary[key] == pytest.approx(value), key
    assert evaluation.config["evaluated"]["checkpoint"] == "last"
    assert evaluation.config["evaluated"]["overrides"] == ["data.distortion=rotated"]
    assert evaluation.config["data"]["distortion"] == "rotated"
    assert evaluation.notes.startswith("python -m runner.evaluate ")

    runs_before = sorted(run_dir.glob("wandb/offline-run-*"))
    quiet = evaluate_cli(run_dir, "checkpoint=last", "logger.mode=disabled")
    assert quiet.returncode == 0, quiet.stderr
    assert sorted(run_dir.glob("wandb/offline-run-*")) == runs_before


def test_a_checkpoint_of_an_earlier_version_is_evaluated(tmp_path, data_root, capsys):
    """Its saved config lacks the logger keys added since (``notes``, ``dashboard``, ...):
    they take their defaults. Its data were in a directory long gone: ``data.root`` moves the
    dataset's own root with it, and nothing is written where they were."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    format_2 = torch.load(REPO / "tests/golden/format2_run/last_checkpoint.zip", weights_only=True)
    gone = tmp_path / "gone"  # where the data were when it was saved
    format_2["config"]["data"]["root"] = format_2["config"]["data"]["dataset"]["root"] = str(gone)
    torch.save(format_2, run_dir / "checkpoints/last.pt")
    main([str(run_dir), "checkpoint=last", f"data.root={data_root}"])
    assert not gone.exists()
    assert "(step 100) on the test split" in capsys.readouterr().out
    evaluations = json.loads((run_dir / "evaluation.json").read_text())
    assert "test/acc" in evaluations[f"last data.root={data_root}"]["metrics"]
