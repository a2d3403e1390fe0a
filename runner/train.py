"""The single entry point: ``python -m runner [overrides]``.

Hydra composes the config from ``conf/``; :func:`runner.run.run` trains and evaluates, and
returns the objective that Hydra's sweepers optimise. This module is the command line around
it: the pre-flight check of the overrides, one-line errors, Ctrl-C and SIGTERM, and the
settings only Hydra knows.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict

from runner.errors import CONFIG_ERROR_EXIT_CODE, ConfigError, first_line, unwritable_place
from runner.interrupts import INTERRUPTED_EXIT_CODE, stop_on_sigterm
from runner.overrides import problem_with, without_resume
from runner.resolvers import register_resolvers
from runner.startup import mark_job_start
from runner.sweeps.job import SweepJob, group_choices
from runner.sweeps.threads import available_cores, parallel_jobs, threads_per_job
from runner.torchrun_env import launched_by_torchrun, torchrun_rank

__all__ = ["CONF_DIR", "main", "run"]  # noqa: F822 (run: see __getattr__)


def __getattr__(name: str) -> Any:
    """``from runner.train import run``, the Python API, without importing torch before a job
    needs it: ``--help``, ``--cfg`` and one-line errors answer without it."""
    if name == "run":
        from runner.run import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CONF_DIR = (Path(__file__).resolve().parent / "conf").resolve()  # conf/, or its copy in a wheel
PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"


def expose_plugins() -> None:
    """Let Hydra find the project's plugins (``runner/plugins/hydra_plugins/``) in a source
    checkout.

    Hydra lists the folders of the ``hydra_plugins`` namespace to find plugins. An installed
    wheel puts ours in site-packages beside the others; an editable install only maps them
    through an import hook, which can import them but cannot be listed, so the folder that
    holds them joins the import path.
    """
    if PLUGINS_DIR.is_dir() and str(PLUGINS_DIR) not in sys.path:
        sys.path.append(str(PLUGINS_DIR))


expose_plugins()
register_resolvers()  # before any config is composed
RUN_FAILED_EXIT_CODE = 1
RANK_WRITES_NOTHING = [
    "hydra.run.dir=.",
    "hydra.output_subdir=null",
    "hydra/job_logging=disabled",
    "hydra/hydra_logging=disabled",
]


def remove_if_only_hydra_files(run_dir: Path) -> None:
    """Delete a run directory that holds nothing but what Hydra wrote before the job began."""
    if not run_dir.is_dir():
        return
    entries = list(run_dir.iterdir())
    if all(entry.name == ".hydra" or entry.suffix == ".log" for entry in entries):
        shutil.rmtree(run_dir)


def fill_in_from_hydra(cfg: DictConfig) -> None:
    """Settings only Hydra knows: the config groups' option names and this job's CPU threads."""
    hydra_config = HydraConfig.get()
    launcher = OmegaConf.to_container(hydra_config.launcher)
    with open_dict(cfg):
        cfg.choices = group_choices(OmegaConf.to_container(hydra_config.runtime.choices))
        if cfg.device.threads is None:
            cfg.device.threads = threads_per_job(launcher)
    if parallel_jobs(launcher, available_cores()) > 1:
        from runner.console import plain_output

        plain_output()  # jobs side by side: lines, not live progress bars over each other


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_job(cfg: DictConfig) -> float | None:
    mark_job_start()
    from runner.distributed import leave_process_group
    from runner.launch import join_torchrun_group
    from runner.run import run
    from runner.sweeps.job import run_sweep_job

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    fill_in_from_hydra(cfg)
    job = SweepJob.current()
    if job is not None:
        from runner.console import brief_output

        brief_output()  # a line as each job starts and ends; its details are in its files
        return run_sweep_job(cfg, run_dir, job)
    try:
        if launched_by_torchrun():
            run_dir = join_torchrun_group(OmegaConf.to_container(cfg, resolve=True), run_dir)
        return run(cfg, run_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        if torchrun_rank() == 0:
            remove_if_only_hydra_files(run_dir)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: {resume_command(run_dir)}", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except OSError as error:
        place = unwritable_place(error)
        if place is None:
            raise
        print(
            f"error: {place}; once it can be, continue with: {resume_command(run_dir)}",
            file=sys.stderr,
        )
        sys.exit(RUN_FAILED_EXIT_CODE)
    finally:
        leave_process_group()


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in ``run_dir`` as it was started (with the config
    directory it added, if any)."""
    hydra_config = HydraConfig.get()
    added = [
        f"--config-dir {source.path.removeprefix('file://')} "
        for source in hydra_config.runtime.config_sources
        if source.provider == "command-line"
    ]
    overrides = " ".join(without_resume(hydra_config.overrides.task))
    return f"python -m runner {''.join(added)}{overrides} resume=true hydra.run.dir={run_dir}"


def shadowing_optuna_plugin(arguments: list[str]) -> str | None:
    """Hydra's own Optuna sweeper, left installed by an earlier version, shadows the runner's
    ``hydra/sweeper=optuna`` (Hydra matches a config to a plugin schema of the same name) and
    cannot run on the Optuna the runner needs; a search says so in one line."""
    if not any(a.startswith(("search=", "hydra/sweeper=optuna")) for a in arguments):
        return None
    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
        return None
    return (
        "hydra-optuna-sweeper is installed: it pins optuna<3 and shadows the runner's "
        "hydra/sweeper=optuna; remove it with: pip uninstall hydra-optuna-sweeper"
    )


def main() -> None:
    """``python -m runner`` and the ``runner`` command."""
    stop_on_sigterm()
    try:
        answer_command_line()
    except KeyboardInterrupt:  # a sweep stopped by Ctrl-C (its job has said how to continue),
        sys.exit(INTERRUPTED_EXIT_CODE)  # or a run stopped before it began


SEARCH_PATH_ARGUMENTS = ("--config-dir", "-cd", "hydra.searchpath=")  # configs from elsewhere
SHELL_COMPLETION = ("--shell-completion", "-sc")


def version_line() -> str:
    """``runner <version>``, and the git commit when the code runs from a source checkout."""
    from importlib import metadata

    from runner.summary import git_commit

    try:
        version = metadata.version("runner")
    except metadata.PackageNotFoundError:  # the source on the import path, not installed
        version = "(not installed)"
    source = Path(__file__).resolve().parent.parent
    commit = git_commit(source) if (source / "pyproject.toml").is_file() else None
    return f"runner {version}" + (f" (git {commit})" if commit else "")


def checks_before_hydra(arguments: list[str]) -> bool:
    """Whether the command line's overrides are checked against conf/ before Hydra starts.

    Not for Hydra's shell completion, whose arguments are not overrides, nor when configs
    come from other directories too (``--config-dir``, ``hydra.searchpath``): their options
    and keys are Hydra's to find, and its errors are one line as well (:func:`main`).
    """
    return not any(a.startswith(SEARCH_PATH_ARGUMENTS + SHELL_COMPLETION) for a in arguments)


def answer_command_line() -> None:
    if "--version" in sys.argv[1:]:
        print(version_line())
        return
    checked = checks_before_hydra(sys.argv[1:])
    problem = shadowing_optuna_plugin(sys.argv[1:]) or (
        problem_with(sys.argv[1:], CONF_DIR) if checked else None
    )
    if (
        problem is None
        and launched_by_torchrun()
        and any(a in ("-m", "--multirun") for a in sys.argv)
    ):
        problem = (
            "torchrun starts the processes of one run; for a sweep use -m ... device.processes=N"
        )
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    if any(a in ("--help", "-h") for a in sys.argv[1:]):
        from runner.cli_help import app_help

        overrides = [a for a in sys.argv[1:] if not a.startswith("-")]
        print(app_help(CONF_DIR, overrides, resolve="--resolve" in sys.argv))
        return
    if torchrun_rank() > 0:  # rank 0 alone writes the run directory; Hydra writes nothing here
        sys.argv += RANK_WRITES_NOTHING
    full_errors = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises what it would print: handled below
    try:
        _hydra_job()
    except (ValueError, HydraException) as error:  # Hydra's own checks (-m with --cfg, an
        if full_errors:  # option no config directory has)
            raise
        print(f"error: {first_line(error)}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    except OSError as error:  # Hydra could not make the run or sweep directory, or its files
        place = unwritable_place(error)
        if full_errors or place is None:
            raise
        print(
            f"error: {place}; choose a directory that can be written "
            "(hydra.run.dir, or hydra.sweep.dir with -m)",
            file=sys.stderr,
        )
        sys.exit(CONFIG_ERROR_EXIT_CODE)
