"""A property-based fuzzer of the files the runner reads back (hypothesis): each file of an
interrupted run, a finished run, a sweep, an Optuna study, the digits cache, IDX files and
submitit's result pickles, cut short, zeroed, bit-flipped, emptied or replaced by a file of
another kind.

The property: the reader names the damaged file in one line (a :class:`DamagedFile` or
:class:`ConfigError`, exit status 2 through the command line), never a traceback; or the
damage did not matter, and then what it produced is what the undamaged file gives — a
resumed run ends with the metrics of one never stopped. The damaged file is left as it was.
Examples: the fast profile's in ``make test``, the long profile's in CI; a failure found is
kept as an ``@example``.
"""

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st

from runner.platform.errors import ConfigError, DamagedFile
from tests import test_faults
from tests.cli.fuzz import Outcome, run_command_line
from tests.test_faults import Command, data_root_of, metrics_of

reference = test_faults.reference  # the fixture: the tiny job, uninterrupted

FOREIGN = {  # what another file could hold: JSON of another type, text, a picture, nothing
    "empty": b"",
    "json list": b"[1, 2, 3]\n",
    "json string": b'"completed"\n',
    "text": b"status: completed\n",
    "png": b"\x89PNG\r\n\x1a\n" + bytes(32),
}
Damage = tuple[str, int, int]  # kind, position, length (or bit)


@st.composite
def damages(draw: st.DrawFn) -> Damage:
    kind = draw(st.sampled_from(["truncate", "zero", "flip", "flip", "foreign"]))
    if kind == "foreign":
        return kind, 0, draw(st.integers(0, len(FOREIGN) - 1))
    position = draw(st.integers(0, 2**31))  # reduced modulo the file's size
    return kind, position, draw(st.integers(1, 64) if kind == "zero" else st.integers(0, 7))


def damaged(data: bytes, damage: Damage) -> bytes:
    kind, position, size = damage
    if kind == "foreign":
        return list(FOREIGN.values())[size]
    if not data:
        return data
    where = position % len(data)
    if kind == "truncate":
        return data[:where]
    if kind == "zero":
        return data[:where] + bytes(len(data[where : where + size])) + data[where + size :]
    return data[:where] + bytes([data[where] ^ (1 << size)]) + data[where + 1 :]


def damage_file(path: Path, damage: Damage) -> bytes:
    """Damage ``path`` in place; the bytes it now holds (the test is skipped when unchanged)."""
    before = path.read_bytes()
    after = damaged(before, damage)
    assume(after != before)
    path.write_bytes(after)
    return after


def damaged_copy(run: Path, name: str, damage: Damage, factory) -> tuple[Path, Path, bytes]:
    """A copy of ``run`` whose file ``name`` is damaged: the copy, that file, and its bytes."""
    run_dir = factory.mktemp("copy") / "run"
    shutil.copytree(run, run_dir)
    return run_dir, run_dir / name, damage_file(run_dir / name, damage)


def assert_names_the_file(outcome: Outcome, path: Path, said: str) -> None:
    assert "Traceback" not in outcome.stderr + outcome.stdout, said
    assert outcome.status == 2, said
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), said
    assert path.name in lines[0], said


def in_process(main: Callable[[], object]) -> Outcome:
    """A ``python -m runner.<command>`` main in this process: its status and its stderr."""
    import contextlib
    import io

    out, err, status = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            returned = main()
            status = returned if isinstance(returned, int) else 0
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
    return Outcome(status, out.getvalue(), err.getvalue())


# --- resume -----------------------------------------------------------------------------

RESUMED_FILES = ("checkpoints/last.pt", "metrics.jsonl", "summary.json", ".hydra/config.yaml",
                 ".hydra/overrides.yaml")  # fmt: skip


@pytest.fixture(scope="module")
def interrupted(reference, tmp_path_factory) -> Path:
    """The tiny job stopped by SIGTERM as its second ``last.pt`` is written: it has the first."""
    run_dir = tmp_path_factory.mktemp("fuzz-files") / "interrupted"
    inject = ("os:replace", "2", "SIGTERM", "--match", "last.pt")
    result = Command(run_dir, inject=inject, data_root=data_root_of(reference)).run()
    assert result.returncode == 130, result.stderr
    return run_dir


@pytest.mark.slow
@pytest.mark.timeout(1800)
@given(st.sampled_from(RESUMED_FILES), damages())
@example("checkpoints/last.pt", ("flip", 4000, 3))  # a weight: only its CRC-32 tells
@example("metrics.jsonl", ("truncate", 10, 0))
@example("metrics.jsonl", ("flip", 368, 0))  # a digit of a kept record: the checkpoint's hash
def test_a_damaged_file_of_an_interrupted_run_is_named_or_resumes_exactly(
    interrupted,
    reference,
    tmp_path_factory,
    name,
    damage,
):
    run_dir, path, after = damaged_copy(interrupted, name, damage, tmp_path_factory)
    command = Command(run_dir, ("resume=true",), data_root=data_root_of(reference))
    outcome = run_command_line(command.argv()[3:])
    said = f"{name} {damage}\n{outcome.stderr}\n{outcome.stdout[-1500:]}"
    if outcome.status == 0:
        assert "Traceback" not in outcome.stderr + outcome.stdout, said
        assert metrics_of(run_dir) == metrics_of(reference), said
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
        return
    assert_names_the_file(outcome, path, said)
    assert path.read_bytes() == after, said


# --- evaluate and plot ------------------------------------------------------------------


@pytest.mark.timeout(1800)
@given(st.sampled_from(["checkpoints/best.pt", "metrics.jsonl"]), damages())
@example("checkpoints/best.pt", ("flip", 5000, 1))
def test_a_damaged_file_read_by_evaluate_or_plot_is_named(
    reference,
    evaluated,
    tmp_path_factory,
    name,
    damage,
):
    from runner import evaluate, plot

    run_dir, path, after = damaged_copy(reference, name, damage, tmp_path_factory)
    if name.endswith(".pt"):
        outcome = in_process(lambda: evaluate.main([str(run_dir)]))
    else:
        outcome = in_process(lambda: plot.main([str(run_dir), "--out", str(run_dir / "f.png")]))
    said = f"{name} {damage}\n{outcome.stderr}\n{outcome.stdout[-1500:]}"
    assert path.read_bytes() == after, said
    if outcome.status != 0:
        assert_names_the_file(outcome, path, said)
    elif name.endswith(".pt"):  # read whole: the weights it holds are the ones written
        assert "Traceback" not in outcome.stderr, said
        assert evaluation_of(run_dir) == evaluation_of(evaluated), said


@pytest.fixture(scope="module")
def evaluated(reference, tmp_path_factory) -> Path:
    from runner import evaluate

    run_dir = tmp_path_factory.mktemp("evaluated") / "run"
    shutil.copytree(reference, run_dir)
    assert in_process(lambda: evaluate.main([str(run_dir)])).status == 0
    return run_dir


def evaluation_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "evaluation.json").read_text())["best"]["metrics"]


# --- a sweep's files, read before a resumed sweep starts a job ---------------------------


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-sweep")
    sweep_dir = root / "sweep"
    result = Command(
        sweep_dir, ("-m", "seed=0,1", "trainer.epochs=1"), data_root=root / "data"
    ).run()
    assert result.returncode == 0, result.stderr
    return sweep_dir


SWEEP_FILES = ("0/summary.json", "1/metrics.jsonl", "0/checkpoints/last.pt",
               "1/.hydra/overrides.yaml", "0/.hydra/config.yaml")  # fmt: skip


@given(st.sampled_from(SWEEP_FILES), damages())
@example("0/checkpoints/last.pt", ("zero", 4, 3))  # a local header's version: zip reads on
def test_a_damaged_file_of_a_sweep_is_named_before_any_job_runs(
    finished_sweep, tmp_path_factory, name, damage
):
    from runner.sweeps.guard import check_sweep_files

    sweep_dir = tmp_path_factory.mktemp("sweep-copy") / "sweep"
    shutil.copytree(finished_sweep, sweep_dir, ignore=shutil.ignore_patterns(".lock"))
    path = sweep_dir / name
    damage_file(path, damage)
    try:
        check_sweep_files(sweep_dir)
    except DamagedFile as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    if path.suffix == ".pt":  # passed: what a resumed job would load is what was written
        assert_same_checkpoint(path, finished_sweep / name)


def assert_same_checkpoint(path: Path, whole: Path) -> None:
    from runner.training.checkpoint import read_checkpoint

    try:
        damaged_one = read_checkpoint(path)
    except DamagedFile:
        return
    expected = read_checkpoint(whole)["experiment"]
    assert damaged_one["experiment"].keys() == expected.keys()
    for key, tensor in expected.items():
        assert torch.equal(damaged_one["experiment"][key], tensor), key


# --- an Optuna study ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def study_file(tmp_path_factory) -> Path:
    """A SQLite study of three told trials, as a search leaves it."""
    from optuna.distributions import FloatDistribution

    from runner.search.study import StudySettings, open_study

    path = tmp_path_factory.mktemp("fuzz-study") / "study.db"
    settings = StudySettings(storage=f"sqlite:///{path}", study_name="s", objectives={"v": "max"})
    study = open_study(settings, {"lr": FloatDistribution(1e-4, 1e-1, log=True)})
    for value in (0.1, 0.5, 0.3):
        trial = study.ask({"lr": FloatDistribution(1e-4, 1e-1, log=True)})
        study.tell(trial, value)
    study._storage._backend.engine.dispose()  # the file whole on disk before it is damaged
    return path


@pytest.mark.timeout(900)
@given(damages())
@example(("zero", 962370, 1))  # a date or a state zeroed: SQLAlchemy's ValueError, LookupError
def test_a_damaged_optuna_study_is_named_or_reads_whole(study_file, tmp_path_factory, damage):
    from optuna.distributions import FloatDistribution

    from runner.search.study import StudySettings, open_study

    path = tmp_path_factory.mktemp("study-copy") / "study.db"
    shutil.copy(study_file, path)
    damage_file(path, damage)
    settings = StudySettings(storage=f"sqlite:///{path}", study_name="s", objectives={"v": "max"})
    try:
        study = open_study(settings, {"lr": FloatDistribution(1e-4, 1e-1, log=True)})
        trials = study.get_trials(deepcopy=False)
    except ConfigError as error:
        assert str(path) in str(error) and "\n" not in str(error), str(error)
        return
    assert [t.value for t in trials if t.value is not None] in ([0.1, 0.5, 0.3], [])


# --- the data a run reads -----------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_cache(tmp_path_factory) -> Path:
    from runner.data.datasets import digits

    root = tmp_path_factory.mktemp("fuzz-digits")
    digits(str(root), seed=0, train_size=64, test_size=32)
    (cache,) = root.rglob("*.pt")
    return cache


@given(damages())
def test_a_damaged_digits_cache_is_drawn_again_as_it_was(digits_cache, tmp_path_factory, damage):
    from runner.data.datasets import digits

    whole_root = digits_cache.parent.parent  # the cache lies in ROOT/digits/
    root = tmp_path_factory.mktemp("digits-copy")
    shutil.copytree(whole_root, root, dirs_exist_ok=True)
    damage_file(root / digits_cache.relative_to(whole_root), damage)
    train, test = digits(str(root), seed=0, train_size=64, test_size=32)
    whole_train, whole_test = digits(str(whole_root), seed=0, train_size=64, test_size=32)
    assert torch.equal(train.images, whole_train.images)
    assert torch.equal(test.labels, whole_test.labels)


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")  # fmt: skip


@given(st.sampled_from(IDX_FILES), damages())
def test_a_damaged_idx_file_is_named_or_reads_whole(tmp_path_factory, name, damage):
    from runner.data.datasets import torchvision_images
    from tests.test_faults import write_mnist

    root = tmp_path_factory.mktemp("idx")
    write_mnist(root / "MNIST" / "raw")
    path = root / "MNIST" / "raw" / name
    damage_file(path, damage)
    try:
        train, test = torchvision_images("MNIST", str(root), download=False)
    except DamagedFile as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    assert len(train.images) == len(train.labels) == 30  # a flipped pixel or label is data
    assert len(test.images) == len(test.labels) == 12


# --- what a SLURM job returned ------------------------------------------------------------


@given(damages())
@example(("foreign", 0, 4))  # a PNG: unpickling's error is two lines long
def test_a_damaged_submitit_result_is_named_or_reads_whole(tmp_path_factory, damage):
    """A job's result as submitit pickles it (``<id>_0_result.pkl``), read without a cluster:
    the file is there, so submitit asks SLURM nothing."""
    from submitit.core.utils import cloudpickle_dump
    from submitit.slurm.slurm import SlurmJob

    from runner.slurm.sweep import slurm_result

    folder = tmp_path_factory.mktemp("submitit")
    job = SlurmJob(folder=folder, job_id="17")
    cloudpickle_dump(("success", 0.91), job.paths.result_pickle)
    damage_file(job.paths.result_pickle, damage)
    try:
        value = slurm_result(job)
    except DamagedFile as error:
        assert str(job.paths.result_pickle) in str(error) and "\n" not in str(error)
        return
    except Exception as error:  # the job's own error, as submitit re-raises it
        from submitit.core.utils import FailedJobError

        assert isinstance(error, FailedJobError), repr(error)
        return
    assert value is None or isinstance(value, float)  # a flipped bit of the number is a number


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
