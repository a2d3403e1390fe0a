"""``python -m runner``'s command line before and around Hydra: ``--version`` and ``--help``
answered at once, the overrides checked against ``conf/`` before any job starts, and
Hydra's own errors told in one line."""

import importlib.util
import os
import sys
from collections.abc import Callable

from hydra.errors import HydraException

from runner.cli.hydra_setup import CONF_DIR, RUNNER_DIR
from runner.cli.overrides import problem_with
from runner.platform.environment import launched_by_torchrun, torchrun_rank
from runner.platform.errors import (
    CONFIG_ERROR_EXIT_CODE,
    first_line,
    setting_for,
    unwritable_place,
)

SEARCH_PATH_ARGUMENTS = ("--config-dir", "-cd", "hydra.searchpath=")  # configs from elsewhere
SHELL_COMPLETION = ("--shell-completion", "-sc")
RANK_WRITES_NOTHING = [
    "hydra.run.dir=.",
    "hydra.output_subdir=null",
    "hydra/job_logging=disabled",
    "hydra/hydra_logging=disabled",
]


def version_line() -> str:
    """``runner <version>``, and the git commit when the code runs from a source checkout."""
    from importlib import metadata

    from runner.records.summary import DISTRIBUTION, git_commit

    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # the source on the import path, not installed
        version = "(not installed)"
    source = RUNNER_DIR.parent
    commit = git_commit(source) if (source / "pyproject.toml").is_file() else None
    return f"runner {version}" + (f" (git {commit})" if commit else "")


def checks_before_hydra(arguments: list[str]) -> bool:
    """Whether the command line's overrides are checked against conf/ before Hydra starts.

    Not for Hydra's shell completion, whose arguments are not overrides, nor when configs
    come from other directories too (``--config-dir``, ``hydra.searchpath``): their options
    and keys are Hydra's to find, and its errors are one line as well (:func:`run_hydra`).
    """
    return not any(a.startswith(SEARCH_PATH_ARGUMENTS + SHELL_COMPLETION) for a in arguments)


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


def problem_before_hydra(arguments: list[str]) -> str | None:
    """The first problem with the command line that Hydra need not start to find."""
    problem = shadowing_optuna_plugin(arguments)
    if problem is None and checks_before_hydra(arguments):
        problem = problem_with(arguments, CONF_DIR)
    if (
        problem is None
        and launched_by_torchrun()
        and ("-m" in arguments or "--multirun" in arguments)
    ):
        problem = (
            "torchrun starts the processes of one run; for a sweep use -m ... device.processes=N"
        )
    return problem


def answer_command_line(hydra_app: Callable[[], None]) -> None:
    """Answer ``sys.argv``: the version, a one-line problem, the help, or Hydra's app."""
    arguments = sys.argv[1:]
    if "--version" in arguments:
        print(version_line())
        return
    problem = problem_before_hydra(arguments)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    if "--help" in arguments or "-h" in arguments:
        from runner.cli.help import app_help

        overrides = [a for a in arguments if not a.startswith("-")]
        print(app_help(CONF_DIR, overrides, resolve="--resolve" in arguments))
        return
    if torchrun_rank() > 0:  # rank 0 alone writes the run directory; Hydra writes nothing here
        sys.argv += RANK_WRITES_NOTHING
    run_hydra(hydra_app)


def with_environment_restored(name: str, value: str | None, call: Callable[[], None]) -> None:
    """``call()``, then ``os.environ[name]`` as it was (``value``; unset when None): ``main``
    may run again in this process (the Python API, the tests)."""
    try:
        call()
    finally:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def run_hydra(hydra_app: Callable[[], None]) -> None:
    """Hydra's app, its own errors (``-m`` with ``--cfg``, an option no config directory has,
    a run directory it cannot make) told in one line; all of them when ``HYDRA_FULL_ERROR=1``."""
    asked = os.environ.get("HYDRA_FULL_ERROR")
    full_errors = asked == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises what it would print: handled below
    try:
        with_environment_restored("HYDRA_FULL_ERROR", asked, hydra_app)
    except (ValueError, HydraException) as error:
        if full_errors:
            raise
        from runner.run.schema import schema_problem

        print(f"error: {schema_problem(error) or first_line(error)}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT_CODE)
    except OSError as error:
        place = unwritable_place(error)
        if full_errors or place is None:
            raise
        setting = setting_for(error, places_on_the_command_line(sys.argv[1:]))
        print(
            f"error: {place}; choose a place that can be written "
            f"({setting or 'hydra.run.dir, or hydra.sweep.dir with -m'})",
            file=sys.stderr,
        )
        sys.exit(CONFIG_ERROR_EXIT_CODE)


def places_on_the_command_line(arguments: list[str]) -> dict[str, str]:
    """The settings on the command line whose values are places (``hydra.run.dir``,
    ``hydra.launcher.submitit_folder``, ``data.root``, ...), with their values."""
    places = {}
    for argument in arguments:
        key, equals, value = argument.lstrip("+~").partition("=")
        if equals and value.startswith(("/", ".")) and "," not in value:
            places[key] = value
    return places
