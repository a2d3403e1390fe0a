"""Shared test helpers: the real config, shrunk to seconds; the real CLI in a subprocess.

Every test runs with a temporary directory of its own as the system's (``TMPDIR`` and
:mod:`tempfile`, which W&B, torch's elastic launcher and PyTorch's error files use) and W&B's
data, cache and config directories inside it; a test that still leaves a new entry in the
system's temporary directory or in the checkout fails (:func:`leaves_nothing_behind`).
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, settings
from omegaconf import DictConfig

from runner.train import CONF_DIR

# The fuzzers' budgets: make test tries the fast profile, CI the long one (HYPOTHESIS_PROFILE=long),
# both derandomized so that a run of the suite is repeatable; HYPOTHESIS_PROFILE=explore draws
# new examples every run, to look for the next defect. No example database: a failure found
# becomes an @example in the test.
for name, examples, fixed in (("fast", 10, True), ("long", 200, True), ("explore", 500, False)):
    settings.register_profile(
        name, max_examples=examples, deadline=None, database=None, print_blob=True,
        derandomize=fixed,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

REPO = Path(__file__).resolve().parent.parent
SYSTEM_TEMP = Path(tempfile.gettempdir())  # before any test points TMPDIR elsewhere
WATCHED_IN_CHECKOUT = (REPO, REPO / "outputs")  # where a stray run or cache would land

# A small version of the main job: the same config with less data and fewer steps.
SMALL_DATA = [
    "data.dataset.train_size=2500",
    "data.dataset.test_size=500",
    "data.val_size=500",
    "data.eval_batch_size=250",
]
SMALL = [
    *SMALL_DATA,
    "trainer.epochs=2",
    "trainer.log_every=10",
    "optim=adam",
    "device=cpu",
    "logger=none",
]


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dataset cache for the whole session: each digits size is generated once."""
    return tmp_path_factory.mktemp("data")


def compose_config(*overrides: str) -> DictConfig:
    """The real config from conf/, composed with ``overrides`` as on the command line."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.fixture
def make_config(data_root: Path):
    """Compose the real config with the small overrides, then the test's own."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(*SMALL, f"data.root={data_root}", *overrides)

    return make


def run_cli(
    *arguments: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m runner ARGUMENTS`` in a fresh interpreter, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env=cli_environment(),
        stdin=subprocess.DEVNULL,
    )


def cli_environment(**variables: str) -> dict[str, str]:
    """This environment for a command-line run: W&B silent and offline unless ``variables``
    (``WANDB_API_KEY``, ``WANDB_BASE_URL``, ...) say otherwise, the repository importable."""
    env = {**os.environ, "WANDB_SILENT": "true", "PYTHONPATH": str(REPO)}
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "WANDB_SERVICE"):
        env.pop(name, None)
    return {**env, **variables}


@pytest.fixture
def cli(data_root: Path):
    """Run the CLI on the small job in a run directory of the test's choosing."""

    def call(run_dir: Path, *overrides: str, small: bool = True) -> subprocess.CompletedProcess:
        base = [*SMALL, f"data.root={data_root}"] if small else []
        flags = [o for o in overrides if o.startswith("-")]  # Hydra takes flags before overrides
        rest = [o for o in overrides if not o.startswith("-")]
        return run_cli(*flags, *base, f"hydra.run.dir={run_dir}", *rest)

    return call


def without_timings(records: list[dict]) -> list[dict]:
    """Logged records without their wall-clock measurements (``perf/``), the only values
    that differ between two runs of the same config."""
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


def read_summary(run_dir: Path) -> dict:
    """A run's ``summary.json``."""
    return json.loads((run_dir / "summary.json").read_text())


def wait_until(condition, timeout_s: float = 60.0, what: str = "the condition") -> None:
    """Poll ``condition`` (an event: a file written, a line printed) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def entries(directory: Path) -> set[str]:
    try:
        return set(os.listdir(directory))
    except FileNotFoundError:
        return set()


MADE_IN_TEMP = re.compile(
    r"^(tmp[a-z0-9_]{8}|wandb|torchelastic_|pytorch-errorfile|pymp-|runner-|optuna|submitit|hydra)"
)
"""What the code under test and its libraries name the entries they make in a temporary
directory (Python's tempfile, W&B's service, torch's elastic launcher, the runner's own): the
system's temporary directory may gain other entries meanwhile, from other programs."""

MADE_IN_CHECKOUT = re.compile(
    r"^(outputs|multirun|data|wandb|\.hypothesis|site|profile)$|\.(png|pdf|svg|json|jsonl|log|pt|db)$"
)
"""What a run, a sweep or a test tool would leave in the checkout."""


SESSION_MARK = "RUNNER_TESTS_SESSION"


def processes_of_this_session(command_part: str) -> list[str]:
    """The processes (``pid command``) whose command holds ``command_part`` and that this test
    session started, orphans included: they carry its mark in their environment. Another
    session's processes (a parallel worker's, another suite's) are not among them."""
    mark = f"{SESSION_MARK}={os.getpid()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if command_part in command and mark in environment:
            found.append(f"{entry.name} {command[:120]}")
    return found


def private_temp(base: Path) -> None:
    """``base`` as this process's temporary directory, and for every process it starts."""
    for variable in ("TMPDIR", "TEMP", "TMP"):
        os.environ[variable] = str(base)
    tempfile.tempdir = str(base)


def pytest_sessionstart(session: pytest.Session) -> None:
    """A temporary directory of the session's own, before any fixture runs: what a module's
    fixtures start is contained too. Each test then gets one of its own (below)."""
    base = session.config._tmp_path_factory.getbasetemp() / "session-tmp"  # type: ignore[attr-defined]
    base.mkdir(exist_ok=True)
    private_temp(base)
    os.environ[SESSION_MARK] = str(os.getpid())  # inherited by every process the tests start
    share_the_cores()
    let_ctrl_c_reach_the_runs()


def let_ctrl_c_reach_the_runs() -> None:
    """The runs the tests start answer SIGINT as a command typed at a terminal does, even when
    the suite itself was started with SIGINT ignored (under ``nohup``, or as a background job
    of a script): a process inherits an ignored signal, Python leaves it ignored, and so
    does the runner, as a background job should. The tests that press Ctrl-C would see their
    runs carry on. A handled signal is not inherited: each run starts with Python's own."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def share_the_cores() -> None:
    """With the suite's workers side by side (pytest-xdist), each gets its share of the cores
    for torch, and so do the runs its tests start (``OMP_NUM_THREADS``, which torch reads):
    two workers each running two threads on two cores run several times slower."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        share = max(1, len(os.sched_getaffinity(0)) // workers)
        os.environ["OMP_NUM_THREADS"] = str(share)
        import torch

        torch.set_num_threads(share)


def new_entries(before: dict[Path, set[str]]) -> list[str]:
    left = []
    for directory, found in before.items():
        made = MADE_IN_TEMP if directory == SYSTEM_TEMP else MADE_IN_CHECKOUT
        left += [str(directory / n) for n in sorted(entries(directory) - found) if made.search(n)]
    return left


@pytest.fixture(autouse=True)
def leaves_nothing_behind(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
):
    """A temporary directory of the test's own as the system's, W&B's directories inside it;
    and no new entry in the system's temporary directory or the checkout when the test ends."""
    private = tmp_path_factory.mktemp("tmp")
    for variable in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(variable, str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    # W&B's service of this test process (its in-process runs) is not the processes' it starts
    monkeypatch.delenv("WANDB_SERVICE", raising=False)
    for variable, name in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"),
                           ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):  # fmt: skip
        monkeypatch.setenv(variable, str(private / f"wandb-{name}"))
    before = {directory: entries(directory) for directory in (SYSTEM_TEMP, *WATCHED_IN_CHECKOUT)}
    yield
    left = new_entries(before)
    assert not left, f"the test left these behind: {', '.join(left)}"


SKIPPED_GROUPS: dict[str, int] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        SKIPPED_GROUPS[reason] = SKIPPED_GROUPS.get(reason, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per reason tests were skipped for: what was skipped and why."""
    for reason, count in sorted(SKIPPED_GROUPS.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"skipped {count} test{'s' * (count > 1)}: {reason}")
