"""Faults injected into the real command line: damaged files, unwritable places, full disks,
two runs in one directory, signals at the worst moments, and W&B in trouble.

Each fault ends in one line (exit status 2 for a damaged file or a place that cannot be
written), leaves the files it found as they were, and, where a run was under way, resumes
to the metrics of a run that never met it. The runs are tiny, and independent ones run two
at a time (:func:`run_all`).
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from runner.records.lock import DirectoryLock
from tests.conftest import REPO, cli_environment, wait_until
from tests.data.test_data import write_idx

TINY = [
    "data.dataset.train_size=640",
    "data.dataset.test_size=200",
    "data.val_size=128",
    "data.eval_batch_size=200",
    "trainer.epochs=3",
    "trainer.log_every=4",
    "optim=adam",
    "device=cpu",
    "device.threads=1",
    "logger=none",
]


@dataclass
class Command:
    """``python -m runner`` (or ``python -m tests.inject``) with the tiny job's settings."""

    run_dir: Path
    overrides: tuple[str, ...] = ()
    inject: tuple[str, ...] = ()  # TARGET NTH ACTION [--match TEXT]
    env: tuple[tuple[str, str], ...] = ()
    data_root: Path | None = None
    interrupt_on: str | None = None  # a module: Ctrl-C as it starts to load

    def argv(self) -> list[str]:
        entry = ["-m", "runner"]
        if self.inject:
            entry = ["-m", "tests.inject", *self.inject, "--"]
        elif self.interrupt_on:
            entry = ["-m", "tests.interrupt_on_import", self.interrupt_on, "--"]
        flags = [o for o in self.overrides if o.startswith("-")]
        rest = [o for o in self.overrides if not o.startswith("-")]
        root = [f"data.root={self.data_root}"] if self.data_root else []
        place = "hydra.sweep.dir" if "-m" in flags else "hydra.run.dir"
        tiny = TINY
        if any(o.startswith("data=") for o in rest):  # a torchvision data set: its own size
            tiny = [o for o in TINY if not o.startswith("data.dataset.")]
        return [sys.executable, *entry, *flags, *tiny, *root, f"{place}={self.run_dir}", *rest]

    def start(self) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(), cwd=REPO, env=cli_environment(**dict(self.env)), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(self) -> subprocess.CompletedProcess:
        process = self.start()
        stdout, stderr = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_all(commands: list[Command]) -> list[subprocess.CompletedProcess]:
    """Run independent commands two at a time (each uses one thread), in order of results."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(Command.run, commands))


def assert_one_line(result: subprocess.CompletedProcess, status: int, *words: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def metrics_of(run_dir: Path) -> list[dict]:
    """Every record of the run without the wall-clock values."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


def fingerprint(run_dir: Path) -> dict[str, str]:
    """The bytes of every file of a run, but Hydra's own (it rewrites them on each command)."""
    return {
        str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and ".hydra" not in path.parts and path.suffix != ".log"
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The tiny job, uninterrupted: what every faulted run must end with."""
    root = tmp_path_factory.mktemp("faults")
    result = Command(root / "reference", data_root=root / "data").run()
    assert result.returncode == 0, result.stderr
    return root / "reference"


def data_root_of(reference: Path) -> Path:
    return reference.parent / "data"


def copy_run(reference: Path, to: Path) -> Path:
    shutil.copytree(reference, to, ignore=shutil.ignore_patterns(".lock"))
    summary = json.loads((to / "summary.json").read_text())
    (to / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    return to


# --- damaged and foreign files -------------------------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def other_format(path: Path) -> None:
    checkpoint = torch.load(path, weights_only=True)
    torch.save({**checkpoint, "format": 1}, path)


def other_config(path: Path) -> None:
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["optim"]["lr"] = 0.5
    torch.save(checkpoint, path)


def other_model(path: Path) -> None:
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["experiment"] = {k: v[..., :1] for k, v in checkpoint["experiment"].items()}
    torch.save(checkpoint, path)


def metrics_line_damaged(path: Path) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[1] = b"{" + b"#" * (len(lines[1]) - 1)  # as long as it was: only its bytes changed
    path.write_bytes(b"\n".join(lines))


DAMAGES = {
    "checkpoint cut short": ("checkpoints/last.pt", truncate, "cut short"),
    "checkpoint not a torch file": (
        "checkpoints/last.pt", lambda p: p.write_text("not a checkpoint\n"), "not a checkpoint",
    ),
    "checkpoint of another format": ("checkpoints/last.pt", other_format, "format 1"),
    "checkpoint of another config": ("checkpoints/last.pt", other_config, "optim.lr was 0.5"),
    "checkpoint of another model": ("checkpoints/last.pt", other_model, "does not fit"),
    "summary cut short": ("summary.json", truncate, "not valid JSON"),
    "summary empty": ("summary.json", lambda p: p.write_text(""), "is empty"),
    "summary not JSON": ("summary.json", lambda p: p.write_bytes(b"\x00\xff"), "not a text"),
    "metrics line damaged": ("metrics.jsonl", metrics_line_damaged, "line 2"),
    "metrics cut short": ("metrics.jsonl", truncate, "fewer than"),
}  # fmt: skip


@pytest.mark.slow  # the file fuzzer's fast profile covers these files in make test
def test_damaged_files_of_a_run_are_named_and_left_as_they_are(reference, tmp_path):
    commands, before = [], {}
    for number, (case, (name, damage, _)) in enumerate(DAMAGES.items()):
        run_dir = copy_run(reference, tmp_path / str(number))
        damage(run_dir / name)
        before[case] = fingerprint(run_dir)
        commands.append(Command(run_dir, ("resume=true",), data_root=data_root_of(reference)))
    for (case, (name, _, words)), command, result in zip(
        DAMAGES.items(), commands, run_all(commands), strict=True
    ):
        line = assert_one_line(result, 2, words)
        if "config" not in case and "format" not in case:
            assert str(command.run_dir / name) in line, (case, line)
        assert fingerprint(command.run_dir) == before[case], case  # nothing overwritten


def test_a_damaged_checkpoint_or_evaluation_file_of_runner_evaluate(reference, tmp_path, capsys):
    from runner.evaluate import main

    run_dir = copy_run(reference, tmp_path / "run")
    truncate(run_dir / "checkpoints" / "best.pt")
    (run_dir / "evaluation.json").write_text("{")
    before = fingerprint(run_dir)
    for arguments, words in (
        ([str(run_dir)], ("best.pt", "cut short", "evaluate checkpoint=last instead")),
        ([str(run_dir), "checkpoint=last"], ("evaluation.json", "not valid JSON")),
    ):
        with pytest.raises(SystemExit) as exit_status:
            main(arguments)
        assert exit_status.value.code == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: ") and "\n" not in error
        assert all(word in error for word in words), error
    assert fingerprint(run_dir) == before


def test_a_damaged_data_cache_is_drawn_again(tmp_path, capsys):
    from runner.data.datasets import digits

    first, _ = digits(str(tmp_path), seed=0, train_size=20, test_size=10)
    (cache,) = tmp_path.glob("digits/*.pt")
    truncate(cache)
    again, _ = digits(str(tmp_path), seed=0, train_size=20, test_size=10)
    assert f"the dataset cache {cache} is damaged" in capsys.readouterr().out.replace("\n", "")
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert torch.load(cache, weights_only=True)["train_images"].shape == (20, 1, 28, 28)


def test_a_data_cache_of_the_wrong_shape_is_drawn_again(tmp_path):
    from runner.data.datasets import digits

    digits(str(tmp_path), seed=0, train_size=20, test_size=10)
    (cache,) = tmp_path.glob("digits/*.pt")
    tensors = torch.load(cache, weights_only=True)
    torch.save({**tensors, "train_images": tensors["train_images"][:5]}, cache)
    train, _ = digits(str(tmp_path), seed=0, train_size=20, test_size=10)
    assert len(train) == 20
    assert torch.load(cache, weights_only=True)["train_images"].shape == (20, 1, 28, 28)


def write_mnist(raw: Path, train: int = 30, test: int = 12) -> None:
    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", train), ("t10k", test)):
        images = torch.randint(0, 256, (count, 28, 28), generator=generator, dtype=torch.uint8)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", torch.randint(0, 10, (count,)))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("magic", ("train-images-idx3-ubyte", "not an IDX image file", "0x00000801")),
        ("length", ("t10k-images-idx3-ubyte", "bytes; its header (12 x 28 x 28)")),
        ("labels", ("train-labels-idx1-ubyte", "29 labels for the 30 images")),
    ],
)
def test_damaged_idx_files_are_named(tmp_path, damage, words):
    from runner.data.datasets import torchvision_images
    from runner.platform.errors import DamagedFile

    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    if damage == "magic":
        labels = (raw / "train-labels-idx1-ubyte").read_bytes()
        (raw / "train-images-idx3-ubyte").write_bytes(labels)
    elif damage == "length":
        truncate(raw / "t10k-images-idx3-ubyte")
    else:
        write_idx(raw / "train-labels-idx1-ubyte", torch.zeros(29))
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    with pytest.raises(DamagedFile) as error:
        torchvision_images("MNIST", str(tmp_path), download=True)
    for word in words:
        assert word in str(error.value)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before


def test_a_damaged_idx_file_through_the_command_line(tmp_path):
    write_mnist(tmp_path / "FashionMNIST" / "raw")
    truncate(tmp_path / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte")
    result = Command(tmp_path / "run", ("data=fashion_mnist",), data_root=tmp_path).run()
    assert_one_line(result, 2, "train-labels-idx1-ubyte", "bytes; its header")
    assert not (tmp_path / "run").exists()


def fake_sweep_job(sweep_dir: Path, number: int, summary: str) -> Path:
    job = sweep_dir / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- seed={number}\n")
    (job / "summary.json").write_text(summary)
    return job


def test_a_sweep_resume_stops_at_a_damaged_file_before_any_job(tmp_path):
    sweep_dir = tmp_path / "sweep"
    fake_sweep_job(sweep_dir, 0, '{"status": "completed"}')
    job = fake_sweep_job(sweep_dir, 1, '{"status": "comp')
    (job / "checkpoints").mkdir()
    before = fingerprint(sweep_dir)
    result = Command(sweep_dir, ("-m", "seed=0,1", "resume=true")).run()
    assert_one_line(result, 2, str(job / "summary.json"), "not valid JSON", "delete that job")
    assert fingerprint(sweep_dir) == before

    (job / "summary.json").write_text('{"status": "interrupted"}')
    (job / "checkpoints" / "last.pt").write_text("PK\x03\x04 not really")
    result = Command(sweep_dir, ("-m", "seed=0,1", "resume=true")).run()
    assert_one_line(result, 2, str(job / "checkpoints" / "last.pt"), "cut short")


# --- places that cannot be written ----------------------------------------------------


def test_run_and_sweep_directories_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    results = run_all(
        [
            Command(blocker / "run"),
            Command(blocker),
            Command(blocker / "sweep", ("-m", "seed=0,1")),
            Command(tmp_path / "run", data_root=blocker),
        ]
    )
    assert_one_line(
        results[0], 2, f"cannot write {blocker / 'run'}", "not a directory", "hydra.run.dir"
    )
    assert_one_line(results[1], 2, f"cannot write {blocker}", "a file is there")
    assert_one_line(results[2], 2, str(blocker / "sweep"), "hydra.sweep.dir")
    assert_one_line(results[3], 2, "data.root", "cannot write the dataset cache")
    assert blocker.read_text() == "" and not (tmp_path / "run").exists()


def test_a_run_directory_whose_parent_cannot_be_made_is_one_line():
    """Under /proc no directory can be made: Hydra's mkdir fails with ENOENT, not EACCES."""
    results = run_all(
        [
            Command(Path("/proc/forbidden/run")),
            Command(Path("/proc/forbidden/sweep"), ("-m", "seed=0,1")),
        ]
    )
    assert_one_line(results[0], 2, "cannot write /proc/forbidden", "hydra.run.dir")
    assert_one_line(results[1], 2, "cannot write /proc/forbidden", "hydra.sweep.dir")


def test_a_launchers_folder_that_cannot_be_made_names_its_setting(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    folder = f"hydra.launcher.submitit_folder={blocker / 'submitit'}"
    result = Command(
        tmp_path / "sweep", ("-m", "hydra/launcher=submitit_local", folder, "seed=0,1")
    ).run()
    assert_one_line(result, 2, str(blocker / "submitit"), "hydra.launcher.submitit_folder")


def test_a_target_of_your_own_config_that_does_not_import_names_file_key_and_module(tmp_path):
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text(
        "# @package _global_\nmodel:\n  _target_: nowhere.Missing\nobjective:\n"
        "  metric: val/acc\n  mode: max\n"
    )
    run_dir = tmp_path / "run"
    config_dir = f"--config-dir={tmp_path / 'conf'}"
    result = Command(run_dir, (config_dir, "model=mine"), data_root=tmp_path / "data").run()
    assert_one_line(result, 2, "model._target_ 'nowhere.Missing'", "model/mine.yaml",
                    "No module named 'nowhere'")  # fmt: skip
    assert not run_dir.exists()


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a chosen size, mounted for the test (root only): a disk that fills up."""
    mounts = []

    def mount(size_kib: int, read_only: bool = False) -> Path:
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        options = f"size={size_kib}k" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)])
        if done.returncode != 0:
            pytest.skip("tmpfs cannot be mounted here")
        mounts.append(point)
        return point

    if not can_mount():
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_disk_is_one_line(small_disk, tmp_path):
    disk = small_disk(64, read_only=True)
    result = Command(disk / "run").run()
    assert_one_line(result, 2, str(disk / "run"), "Read-only file system")


def assert_failed_and_resumable(result, run_dir: Path, reference: Path, steps_kept: int) -> None:
    line = assert_one_line(result, 1, "No space left on device", "resume=true")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["error"]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["state"]["step"] == steps_kept  # the previous last.pt, whole
    assert not list(run_dir.glob("checkpoints/.*.tmp"))
    resume = line.split("continue with: python -m runner ", 1)[1].split()
    again = Command(run_dir, tuple(resume), data_root=data_root_of(reference)).run()
    assert again.returncode == 0, again.stderr
    assert metrics_of(run_dir) == metrics_of(reference)


@pytest.mark.parametrize(
    ("inject", "steps_kept"),
    [
        pytest.param(
            ("torch:save", "3", "ENOSPC", "--match", "'rng'"), 16, marks=pytest.mark.slow
        ),  # the third last.pt (on a real full disk below)
        pytest.param(
            ("runner.records.metrics:MetricsFile.write", "12", "ENOSPC"), 16, marks=pytest.mark.slow
        ),  # in the third epoch
    ],
)
def test_a_disk_that_fills_during_a_write(reference, tmp_path, inject, steps_kept):
    run_dir = tmp_path / "run"
    result = Command(run_dir, inject=inject, data_root=data_root_of(reference)).run()
    assert_failed_and_resumable(result, run_dir, reference, steps_kept)


def test_a_real_disk_that_fills_during_a_checkpoint(reference, small_disk):
    """On a tmpfs with room for one last.pt and one best.pt and half of another last.pt:
    the second last.pt fails part-way, as on a full disk, and the first is kept."""
    last = (reference / "checkpoints" / "last.pt").stat().st_size
    best = (reference / "checkpoints" / "best.pt").stat().st_size
    disk = small_disk((last + best + last // 2) // 1024 + 16)
    run_dir = disk / "run"
    result = Command(run_dir, data_root=data_root_of(reference)).run()
    line = assert_one_line(result, 1, "No space left on device")
    checkpoint = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["state"]["step"] == 8  # the first epoch's
    assert line.endswith(f"resume=true hydra.run.dir={run_dir}")


def fill(disk: Path) -> Path:
    """Write a file on ``disk`` until it is full: the next write there meets ENOSPC."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:
        for chunk in (1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    file.write(bytes(chunk))
            except OSError:
                continue
    return filler


def stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_a_real_disk_that_fills_between_checkpoints(reference, small_disk):
    """The run stops itself as its first ``last.pt`` is put in place; the disk is filled to
    the last byte; the next write that needs a new page of the tmpfs meets the full disk (a
    figure, or a record of ``metrics.jsonl``, and ``train.log`` beside them). One line, the
    first checkpoint kept, and with room again the run resumes to the uninterrupted metrics."""
    disk = small_disk(4096)
    run_dir = disk / "run"
    inject = ("os:replace", "1", "SIGSTOP", "--match", "last.pt")
    process = Command(run_dir, inject=inject, data_root=data_root_of(reference)).start()
    wait_until(lambda: stopped(process.pid) or process.poll() is not None, timeout_s=120)
    filler = fill(disk)
    process.send_signal(signal.SIGCONT)
    stdout, stderr = process.communicate(timeout=300)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    line = assert_one_line(result, 1, "No space left on device", "resume=true")
    filler.unlink()
    assert torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["state"]["step"] == 8
    resume = line.split("continue with: python -m runner ", 1)[1].split()
    again = Command(run_dir, tuple(resume), data_root=data_root_of(reference)).run()
    assert again.returncode == 0, again.stderr
    assert metrics_of(run_dir) == metrics_of(reference)


@pytest.mark.slow
def test_an_unwritable_wandb_directory_costs_nothing(reference, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "wandb").write_text("")  # no folder can be made there
    result = Command(
        run_dir, ("logger=wandb", "logger.mode=offline"), data_root=data_root_of(reference)
    ).run()
    assert result.returncode == 0, result.stderr
    assert "W&B could not start" in result.stderr + result.stdout
    assert metrics_of(run_dir) == metrics_of(reference)


# --- two runs, one directory ----------------------------------------------------------


@pytest.mark.slow
def test_a_directory_in_use_is_refused_and_a_dead_runs_lock_is_taken_over(reference, tmp_path):
    run_dir = tmp_path / "run"
    first = Command(run_dir, ("trainer.epochs=50",), data_root=data_root_of(reference)).start()
    lock = run_dir / ".lock"
    wait_until(lambda: lock.exists() and lock.read_text().strip(), what="the lock file")
    second, third = run_all(
        [
            Command(
                run_dir, ("trainer.epochs=50", "resume=true"), data_root=data_root_of(reference)
            ),
            Command(run_dir, ("trainer.epochs=50",), data_root=data_root_of(reference)),
        ]
    )
    for result in (second, third):
        assert_one_line(result, 2, f"hydra.run.dir={run_dir} is in use", f"process {first.pid}")
    first.kill()  # SIGKILL: the lock file stays, its lock goes with the process
    first.communicate()
    assert lock.exists()
    resumed = ("trainer.epochs=50", "resume=true", "trainer.max_steps=1")
    result = Command(run_dir, resumed, data_root=data_root_of(reference)).run()
    assert "is in use" not in result.stderr
    assert not lock.exists()  # taken, then let go: a refused run leaves the old file


def test_a_sweep_directory_in_use_is_refused(tmp_path):
    sweep_dir = tmp_path / "sweep"
    with DirectoryLock(sweep_dir, setting="hydra.sweep.dir"):
        result = Command(sweep_dir, ("-m", "seed=0,1", "resume=true")).run()
    assert_one_line(result, 2, f"hydra.sweep.dir={sweep_dir} is in use", f"process {os.getpid()}")
    assert not sweep_dir.exists()


# --- signals at the worst moments -----------------------------------------------------

MOMENTS = {
    "start-up": ("runner.platform.startup:mark_job_start", "1", "SIGTERM"),
    "data generation": ("runner.data.datasets:generate_digits", "1", "SIGINT"),
    "checkpoint write": ("os:replace", "2", "SIGTERM", "--match", "last.pt"),
    "evaluation": ("runner.training.evaluation:evaluate", "1", "SIGINT", "--match", "'test'"),
    "figure saving": ("runner.records.run_log:RunLog.save_figures", "2", "SIGTERM"),
    "figure drawing": ("runner.records.figure_worker:FigureWorker.draw", "1", "SIGINT"),
    "W&B finish": ("runner.records.wandb_run:WandbRun.finish", "1", "SIGINT"),
}
WORST_MOMENTS = ("checkpoint write", "evaluation")  # in the default suite; all of them: slow


@pytest.mark.parametrize(
    "moments",
    [
        WORST_MOMENTS,
        pytest.param(tuple(m for m in MOMENTS if m not in WORST_MOMENTS), marks=pytest.mark.slow),
    ],
    ids=["worst", "others"],
)
def test_a_signal_at_any_moment_resumes_to_the_same_metrics(reference, tmp_path, moments):
    commands = []
    for number, moment in enumerate(moments):
        inject = MOMENTS[moment]
        root = (
            tmp_path / f"data{number}" if moment == "data generation" else data_root_of(reference)
        )
        logger = ("logger=wandb", "logger.mode=offline") if moment == "W&B finish" else ()
        commands.append(Command(tmp_path / str(number), logger, inject=inject, data_root=root))
    resumes = []
    for moment, command, result in zip(moments, commands, run_all(commands), strict=True):
        assert result.returncode == 130, (moment, result.stderr)
        assert "Traceback" not in result.stderr, (moment, result.stderr)
        if moment in ("checkpoint write", "evaluation", "figure saving", "figure drawing"):
            summary = json.loads((command.run_dir / "summary.json").read_text())
            assert summary["status"] == "interrupted", moment
        if moment == "start-up":  # before the job began: the same command starts it
            resume = (*command.overrides, "resume=true")
        else:
            line = result.stderr.strip().splitlines()[-1]
            assert line.startswith("interrupted; continue with: python -m runner "), (moment, line)
            resume = tuple(line.split("python -m runner ", 1)[1].split())
        resumes.append(Command(command.run_dir, resume, data_root=command.data_root))
    for moment, result in zip(moments, run_all(resumes), strict=True):
        assert result.returncode == 0, (moment, result.stderr)
    for moment, command in zip(moments, commands, strict=True):
        assert metrics_of(command.run_dir) == metrics_of(reference), moment
        summary = json.loads((command.run_dir / "summary.json").read_text())
        assert summary["status"] == "completed", moment


COMPOSING = "hydra._internal.config_loader_impl:ConfigLoaderImpl._load_configuration_impl"
SECOND_JOB_COMPOSED = "7"
"""Compositions before the second job's: the command line's check, Hydra's two before the
sweep, the sweep values' check, then two for the first job (its batch checked, it launched)."""


def test_ctrl_c_between_a_sweeps_jobs_stops_it_in_one_line_and_resumes(reference, tmp_path):
    """Ctrl-C while Hydra composes the second job's config, the first job done: exit 130, no
    traceback, the line that says how to continue the sweep, and that command runs the rest."""
    sweep = ("-m", "seed=0,1,2")
    sweep_dir, data_root = tmp_path / "sweep", data_root_of(reference)
    inject = (COMPOSING, SECOND_JOB_COMPOSED, "SIGINT")
    result = Command(sweep_dir, sweep, inject=inject, data_root=data_root).run()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert lines == [
        "interrupted; continue the sweep with the same command and: "
        f"resume=true hydra.sweep.dir={sweep_dir}"
    ]
    assert [p.parent.name for p in sweep_dir.glob("*/summary.json")] == ["0"]
    resumed = Command(sweep_dir, (*sweep, "resume=true"), data_root=data_root).run()
    assert resumed.returncode == 0, resumed.stderr
    for job in ("0", "1", "2"):
        assert json.loads((sweep_dir / job / "summary.json").read_text())["status"] == "completed"


LOADING = {  # a library, as it starts to load: the moment of the run it marks
    "hydra": "the command line, before Hydra",
    "torch": "the job, before the run",
    "numpy.linalg": "torch's compiler, under torch.optim",
    "wandb": "the run's start, before its first step",
}  # matplotlib: loaded by the run's figure worker, which leaves Ctrl-C to the run


@pytest.mark.parametrize(
    "module",
    [pytest.param(m, marks=pytest.mark.slow) if m in ("hydra", "numpy.linalg", "wandb") else m
     for m in LOADING],
)  # fmt: skip
def test_ctrl_c_while_a_library_loads_stops_in_one_line_and_resumes(module, reference, tmp_path):
    """Ctrl-C the moment a library starts to load: exit 130, one line, no traceback, no
    summary that claims completion; a run that had begun resumes to the uninterrupted
    metrics."""
    command = Command(
        tmp_path / "run", ("logger=wandb", "logger.mode=offline"), interrupt_on=module,
        data_root=data_root_of(reference),
    )  # fmt: skip
    result = command.run()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 130, (module, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert len(lines) == 1 and lines[0].startswith("interrupted"), (module, lines)
    summary = command.run_dir / "summary.json"
    assert not summary.exists() or json.loads(summary.read_text())["status"] == "interrupted"
    if "continue with: python -m runner " in lines[0]:
        resume = tuple(lines[0].split("python -m runner ", 1)[1].split())
        resumed = Command(command.run_dir, resume, data_root=command.data_root).run()
        assert resumed.returncode == 0, resumed.stderr
        assert metrics_of(command.run_dir) == metrics_of(reference)


# --- W&B in trouble -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("server", ["refuses", "stalls"])
def test_a_wandb_server_in_trouble_costs_nothing(reference, tmp_path, server):
    """Online with a server that refuses connections, or accepts them and never answers:
    after ``logger.timeout_s`` the run logs offline, trains as ever, and says how to sync."""
    with socket.socket() as silent:  # listens, and never accepts: a stalled server
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = free_port() if server == "refuses" else silent.getsockname()[1]
        env = (("WANDB_API_KEY", "x" * 40), ("WANDB_BASE_URL", f"http://127.0.0.1:{port}"))
        online = ("logger=wandb", "logger.mode=online", "logger.timeout_s=3")
        command = Command(tmp_path / "run", online, env=env, data_root=data_root_of(reference))
        result = command.run()
    assert_kept_offline(result, command.run_dir, reference, "logging offline instead")


def test_a_crash_of_the_wandb_service_costs_nothing(reference, tmp_path):
    command = Command(
        tmp_path / "run", ("logger=wandb", "logger.mode=offline"),
        inject=("runner.records.wandb_run:WandbRun.log", "3", "kill-wandb"),
        data_root=data_root_of(reference),
    )  # fmt: skip
    result = command.run()
    assert_kept_offline(result, command.run_dir, reference, "W&B stopped working")
    assert "Exception ignored" not in result.stderr


def assert_kept_offline(result, run_dir: Path, reference: Path, warning: str) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert warning in result.stderr + result.stdout
    assert metrics_of(run_dir) == metrics_of(reference)
    assert "wandb sync" in result.stdout and list(run_dir.glob("wandb/offline-run-*"))


# --- SIGKILL at random moments (slow) ---------------------------------------------------


def run_or_kill(command: Command, timeout_s: float) -> bool:
    """Run ``command`` and SIGKILL it if it still runs after ``timeout_s``; whether it did."""
    process = command.start()
    try:
        process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return True
    assert process.returncode == 0, process.stderr
    return False


def kill_at_random_moments(
    command: Command, resume: Command, seed: int, window_s: float, most: int | None = None
) -> int:
    """Start ``command`` and SIGKILL it after a random delay, then ``resume`` and kill it the
    same way, until a session ends by itself, or, after ``most`` kills, resume once more to
    the end; return how many were killed.

    ``window_s`` follows a whole run measured in the same test. The first kill falls in its
    first third, so the first session is killed even when it runs faster than the run
    measured (the machine's load changes between them); the later ones anywhere in it, the
    wind-down included."""
    import random

    chooser = random.Random(seed)
    kills, current = 0, command
    while most is None or kills < most:
        latest = window_s / 3 if kills == 0 else window_s
        if not run_or_kill(current, chooser.uniform(0.5, max(0.5, latest))):
            return kills
        kills, current = kills + 1, resume
    finished = resume.run()
    assert finished.returncode == 0, finished.stderr
    return kills


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_run(reference, tmp_path):
    started = time.monotonic()  # kills fall in about a whole run's time on this machine
    assert Command(tmp_path / "whole", data_root=data_root_of(reference)).run().returncode == 0
    window_s = 1.5 * (time.monotonic() - started)
    kills, identical = 0, 0
    for attempt in range(6):
        run_dir = tmp_path / str(attempt)
        command = Command(run_dir, data_root=data_root_of(reference))
        resume = Command(run_dir, ("resume=true",), data_root=data_root_of(reference))
        kills += kill_at_random_moments(command, resume, seed=attempt, window_s=window_s)
        identical += metrics_of(run_dir) == metrics_of(reference)
    print(f"{kills} kills over 6 runs, {identical} of 6 identical to the uninterrupted run")
    assert kills >= 6 and identical == 6


def assert_nothing_half_written(run_dir: Path) -> None:
    assert not list(run_dir.rglob(".*.tmp")), sorted(run_dir.rglob(".*.tmp"))
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_two_process_run(reference, tmp_path):
    """The launching process of data-parallel runs killed at random moments, up to five times
    a run, ten times in all: its ranks go with it, and each run resumes to the metrics of one
    never stopped, nothing half-written."""
    two = ("device.processes=2",)
    whole = Command(tmp_path / "whole", two, data_root=data_root_of(reference))
    started = time.monotonic()
    assert whole.run().returncode == 0
    duration = time.monotonic() - started
    kills, attempt = 0, 0
    while kills < 10 and attempt < 6:  # a session may end before its kill: then another run
        run_dir = tmp_path / str(attempt)
        command = Command(run_dir, two, data_root=data_root_of(reference))
        resume = Command(run_dir, (*two, "resume=true"), data_root=data_root_of(reference))
        kills += kill_at_random_moments(command, resume, 200 + attempt, duration / 2, most=5)
        assert metrics_of(run_dir) == metrics_of(whole.run_dir), attempt
        assert_nothing_half_written(run_dir)
        attempt += 1
    print(f"{kills} kills over {attempt} two-process runs, each identical to the uninterrupted run")
    assert kills >= 10


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_sweep(reference, tmp_path):
    sweep = ("-m", "optim.lr=0.001,0.003,0.01")
    started = time.monotonic()
    complete = Command(tmp_path / "complete", sweep, data_root=data_root_of(reference)).run()
    assert complete.returncode == 0, complete.stderr
    duration = time.monotonic() - started
    expected = sweep_outcomes(tmp_path / "complete")
    kills = 0
    for attempt in range(3):
        sweep_dir = tmp_path / str(attempt)
        command = Command(sweep_dir, sweep, data_root=data_root_of(reference))
        resume = Command(sweep_dir, (*sweep, "resume=true"), data_root=data_root_of(reference))
        kills += kill_at_random_moments(command, resume, seed=100 + attempt, window_s=duration)
        assert sweep_outcomes(sweep_dir) == expected
    print(f"{kills} kills over 3 sweeps, 3 of 3 sweep summaries identical")
    assert kills >= 3


def sweep_outcomes(sweep_dir: Path) -> list[tuple]:
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    return [
        (job["job"], job["status"], job["objective"], tuple(sorted(job["metrics"].items())))
        for job in summary["jobs"]
    ]
