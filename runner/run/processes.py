"""``device.processes=N``: one command starts the N processes of a run, through torch.distributed's
elastic launcher (the machinery behind ``torchrun``), and waits for them. Or an outside
``torchrun`` (``srun torchrun ...`` on a cluster) has started them: each joins the group.

Each run (and each job of a sweep) gets its own process group on a port of its own. The
workers train; this process only launches them and reports how they ended: the objective,
a bad setting as one line, or the first rank that failed. When a rank fails, the launcher
stops the others; when this process is stopped (Ctrl-C, SIGTERM, SIGKILL), so are they.
"""

import atexit
import functools
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from runner.platform.environment import (
    available_cores,
    in_slurm_job,
    local_process_count,
    stop_signal,
)
from runner.platform.errors import ConfigError, describe_error
from runner.platform.files import read_json, write_json_atomically
from runner.platform.signals import stop_on_sigterm
from runner.platform.stopping import Stopped, answer_scheduler_signals

HOST = "127.0.0.1"
LAUNCHER_GONE_EXIT_CODE = 137  # as a shell reports a process killed by SIGKILL
START_METHOD = "forkserver"
FORK_SERVER_PRELOAD = ["runner.run.lifecycle"]  # what every rank imports
LAUNCHER_LOGGERS = ("torch.distributed.elastic", "torch.multiprocessing")


class ProcessFailed(RuntimeError):
    """A rank of a run of several processes failed; the message is its error."""


@dataclass(frozen=True)
class Refused:
    """A worker's :class:`ConfigError`, handed back to the launching process to report."""

    message: str


@dataclass(frozen=True)
class StoppedOnRequest:
    """The ranks stopped on a scheduler's signal, with ``last.pt`` written (:class:`Stopped`)."""

    message: str


RunInRank = Callable[[dict[str, Any], Path, Any], float]
"""What each rank runs: the run of a resolved config in a run directory (as the trial of a
search, if it is one); a module-level function, so the fork server can pickle it."""


@dataclass(frozen=True)
class RankWork:
    """What the launching process hands every rank."""

    run_in_rank: RunInRank
    config: dict[str, Any]
    run_dir: str
    device_type: str
    trial: Any
    launcher_pid: int


def launch_processes(
    run_in_rank: RunInRank, config: dict[str, Any], run_dir: Path, device_type: str, trial: Any
) -> float:
    """Run ``config`` (the run's resolved config) in ``device.processes`` processes on this
    machine, each calling ``run_in_rank``; return the objective.

    Each process gets its share of the run's CPU threads (``device.threads``, or all cores).
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    count = config["device"]["processes"]
    threads = config["device"]["threads"] or available_cores()
    config = {**config, "device": {**config["device"], "threads": max(1, threads // count)}}
    work = RankWork(run_in_rank, config, str(run_dir), device_type, trial, os.getpid())
    errors_dir = Path(tempfile.mkdtemp(prefix="runner-ranks-"))  # each failed rank's error.json
    try:
        with launcher_settings():
            launch = launch_config(count, checked_port(config["device"]["port"]), errors_dir)
            outcomes = elastic_launch(launch, run_worker)(work)
    except SignalException:
        raise KeyboardInterrupt from None
    except ChildFailedError:
        raise_root_cause(errors_dir, count, run_dir)
    finally:
        shutil.rmtree(errors_dir, ignore_errors=True)
    return rank_zero_outcome(outcomes[0])


def launch_config(count: int, port: int, errors_dir: Path) -> Any:
    """The elastic launcher's settings: ``count`` processes on this machine, meeting on
    ``port``, never restarted, their error files in ``errors_dir``."""
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig

    return LaunchConfig(
        logs_specs=DefaultLogsSpecs(log_dir=str(errors_dir)),
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=count,
        run_id=f"runner-{uuid.uuid4().hex}",
        rdzv_backend="c10d",
        rdzv_endpoint=f"{HOST}:{port}",
        max_restarts=0,
        monitor_interval=0.1,
        start_method=START_METHOD,
    )


def raise_root_cause(errors_dir: Path, count: int, run_dir: Path) -> NoReturn:
    """Raise the failure that explains the failed ranks: Ctrl-C, or the first rank's own
    error (its traceback printed), recorded in the run's ``summary.json``."""
    rank, error = root_cause(rank_errors(errors_dir))
    if error.message.startswith("KeyboardInterrupt"):
        raise KeyboardInterrupt from None
    if error.traceback:
        print(f"rank {rank} failed; its traceback:\n{error.traceback}", file=sys.stderr)
    failed = ProcessFailed(f"rank {rank} of {count} failed: {error.message}")
    record_root_cause(run_dir, failed)
    raise failed from None


def rank_zero_outcome(outcome: "float | Refused | StoppedOnRequest") -> float:
    """Rank 0's objective, or how it refused or stopped, raised here as it was there."""
    if isinstance(outcome, Refused):
        raise ConfigError(outcome.message)
    if isinstance(outcome, StoppedOnRequest):
        raise Stopped(outcome.message)
    return outcome


PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "KeyboardInterrupt")
"""How a rank fails when another rank failed first (or when the launcher stopped it)."""


@dataclass(frozen=True)
class RankError:
    """What a failed rank recorded: its error in one line, and its traceback."""

    message: str
    traceback: str = ""


def rank_errors(errors_dir: Path) -> dict[int, RankError]:
    """The error each failed rank recorded (the launcher's ``error.json`` files), by rank."""
    errors = {}
    for error_file in errors_dir.glob("**/attempt_*/*/error.json"):
        recorded = read_json(error_file).get("message", {})
        if not isinstance(recorded, dict):
            recorded = {"message": str(recorded)}
        traceback = recorded.get("extraInfo", {}).get("py_callstack", "")
        errors[int(error_file.parent.name)] = RankError(
            recorded.get("message") or "failed", traceback
        )
    return errors


def root_cause(errors: dict[int, RankError]) -> tuple[int, RankError]:
    """The rank whose failure explains the others, and its error: a rank's own error before
    a lost connection to a failed peer, then the lowest rank."""
    if not errors:
        return 0, RankError("a process ended without recording an error (killed?)")

    def consequence(rank: int) -> tuple[bool, int]:
        return any(sign in errors[rank].message for sign in PEER_GONE), rank

    rank = min(errors, key=consequence)
    return rank, errors[rank]


def record_root_cause(run_dir: Path, failed: ProcessFailed) -> None:
    """Put the failing rank's error in rank 0's ``summary.json`` (which knows only its own,
    perhaps a lost connection), keeping the metrics the run reached."""
    summary = read_json(run_dir / "summary.json")
    if summary:
        summary |= {"status": "failed", "error": describe_error(failed)}
        write_json_atomically(summary, run_dir / "summary.json")


def run_worker(work: RankWork) -> "float | Refused | StoppedOnRequest":
    """One rank: join the group the launcher set up, run, leave.

    In a SLURM job every rank gets SLURM's signals itself and answers them as a one-process
    job does (:mod:`runner.platform.stopping`); elsewhere SIGTERM, which is also how the
    launcher stops the ranks, ends the rank as Ctrl-C does.
    """
    from runner.platform.distributed import join_process_group, leave_process_group

    if in_slurm_job():
        answer_scheduler_signals(stop_signal())
    else:
        stop_on_sigterm()  # as the launcher stops the ranks; rank 0 records it
    threading.Thread(target=exit_when_gone, args=(work.launcher_pid,), daemon=True).start()
    join_process_group(work.device_type)
    try:
        return work.run_in_rank(work.config, Path(work.run_dir), work.trial)
    except ConfigError as error:
        return Refused(str(error))
    except Stopped as stopped:
        return StoppedOnRequest(str(stopped))
    finally:
        leave_process_group()


def join_torchrun_group(config: dict[str, Any], run_dir: Path) -> Path:
    """Join the process group of an outside ``torchrun``; return rank 0's run directory, which
    every rank uses (each was given its own by Hydra, perhaps stamped a second apart)."""
    from runner.platform.device import check_processes, resolve_device
    from runner.platform.distributed import join_process_group

    if config["device"]["processes"] != 1:
        raise ConfigError(
            f"device.processes={config['device']['processes']} under torchrun: torchrun has "
            "started the processes (--nproc_per_node); leave device.processes=1"
        )
    device = resolve_device(config["device"]["type"])
    check_processes(local_process_count(), config["data"]["batch_size"], device)
    processes = join_process_group(device.type)
    return Path(processes.from_main(str(run_dir)))


def exit_when_gone(launcher_pid: int, every_s: float = 0.2) -> None:
    """End this rank at once when the launching process has died without stopping it
    (SIGKILL, a crash): a rank left alone would wait for its peers forever. What the run
    loses is what a crash loses, the work since ``last.pt``, which is written atomically."""
    while True:
        time.sleep(every_s)
        if not alive(launcher_pid):
            os._exit(LAUNCHER_GONE_EXIT_CODE)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs. A process killed but not yet reaped by its parent (a zombie, as
    one is while a parent reads the pipes it shared with the ranks) has died."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    except OSError:
        return True  # no /proc here: signal 0 was delivered
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def checked_port(port: int | None) -> int:
    """``device.port`` when it is free on this machine; a free port when it is null."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port or 0))
        except OSError:
            raise ConfigError(
                f"device.port={port} is in use on this machine; choose another port, "
                "or device.port=null for a free one"
            ) from None
        return probe.getsockname()[1]


@functools.cache
def stop_fork_server_at_exit() -> None:
    """Stop the fork server, and wait for it, when this process exits.

    Left alone, it ends only once it notices that this process is gone: a moment after, when
    whoever waited for this process (a submitit job's launcher, a test) may already look
    for what it left running.
    """
    atexit.register(stop_fork_server)


def stop_fork_server() -> None:
    """Close the fork server's pipe and wait for it to end (the standard library's own way,
    which has no public name)."""
    from multiprocessing import forkserver

    forkserver._forkserver._stop()


@contextmanager
def launcher_settings() -> Iterator[None]:
    """What the elastic launcher needs of this process, for as long as it runs, and back.

    Its log stays out of the terminal but for errors of its own making (this module reports
    how the ranks ended); the signal handlers it installs are replaced by the earlier ones
    afterwards; and the ranks start from a fork server that has imported the runner once
    (fast for every run after the first in this process, as in a sweep), also inside a
    joblib worker, whose own default start method ("loky") the ranks do not know.

    In a SLURM job, SLURM signals every process of the job: this one and the processes it
    starts (the fork server among them) ignore SIGTERM and the time-limit signal, which the
    ranks answer (:func:`run_worker`).
    """
    handlers = {
        sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, stop_signal())
    }
    if in_slurm_job():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(stop_signal(), signal.SIG_IGN)
    start_method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(START_METHOD, force=True)
    multiprocessing.set_forkserver_preload(FORK_SERVER_PRELOAD)
    stop_fork_server_at_exit()
    loggers = [logging.getLogger(name) for name in LAUNCHER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        multiprocessing.set_start_method(start_method, force=True)
