"""``python -m runner.sync DIR``: upload the offline W&B runs under a run or sweep directory,
then save the views and reports they describe.

Every offline run under DIR is synced with W&B's own ``wandb sync``, one run at a time and
each run's sessions in the order they ran (a resumed run continues the same W&B run). A run
``wandb sync`` has marked as synced is skipped, so the command is safe to repeat. Then each
sweep's ``dashboard.json`` is saved as a W&B view, and a reproduction's ``wandb_report.json``
as a W&B report, and their URLs printed.
"""

import argparse
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from runner.platform.errors import CONFIG_ERROR_EXIT_CODE, first_line

SYNC_FAILED_EXIT_CODE = 1
SYNC_TIMEOUT_S = 600  # for one run's upload
SERVER_TIMEOUT_S = 10  # for the server's first answer
WANDB = Path(sys.executable).with_name("wandb")  # the command line the wandb package installs


def parse_arguments(arguments: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m runner.sync",
        description="Upload every offline W&B run under a run or sweep directory, then save "
        "the sweeps' views and the reproductions' reports. Needs a W&B API key "
        "(wandb login, or WANDB_API_KEY).",
    )
    parser.add_argument("dir", type=Path, help="a run, sweep or reproduction directory")
    parser.add_argument("--dry-run", action="store_true", help="list what would be synced")
    return parser.parse_args(arguments)


def offline_runs(directory: Path) -> list[Path]:
    """The offline W&B run folders under ``directory``, each run's sessions in the order they
    started (their names begin with the time: ``offline-run-20261203_105413-<id>``)."""
    files = directory.glob("**/wandb/offline-run-*/run-*.wandb")
    folders = {p.parent for p in files if not p.parent.is_symlink()}  # a sweep links its jobs'
    return sorted(folders, key=lambda folder: (folder.name, str(folder)))


def is_synced(folder: Path) -> bool:
    """Whether ``wandb sync`` has uploaded the run: it leaves ``run-<id>.wandb.synced``."""
    return any(folder.glob("run-*.wandb.synced"))


def sync_run(folder: Path) -> str | None:
    """Upload one offline run with ``wandb sync``; None when it went, else why not."""
    environment = {**os.environ, "WANDB_SILENT": "true"}
    try:
        done = subprocess.run(
            [str(WANDB), "sync", "--yes", str(folder)], capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=SYNC_TIMEOUT_S, env=environment,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"wandb sync took more than {SYNC_TIMEOUT_S} s"
    if done.returncode != 0 or not is_synced(folder):
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        return said[-1].strip() if said else f"wandb sync exited with {done.returncode}"
    return None


def sync_runs(folders: Sequence[Path], directory: Path, dry_run: bool) -> Counter[str]:
    """Sync each run, a line each; how many were synced, skipped and failed."""
    counts: Counter[str] = Counter()
    for folder in folders:
        where = folder.relative_to(directory) if folder.is_relative_to(directory) else folder
        if is_synced(folder):
            outcome, detail = "skipped", "already synced"
        elif dry_run:
            outcome, detail = "to sync", ""
        else:
            failure = sync_run(folder)
            outcome, detail = ("failed", failure) if failure else ("synced", "")
        counts[outcome] += 1
        print(f"{outcome:>8}  {where}" + (f"  ({detail})" if detail else ""), flush=True)
    return counts


def save_saved_views(directory: Path) -> int:
    """Save each sweep's view and each reproduction's report found under ``directory``;
    how many could not be saved."""
    from runner.reproduce.wandb_report import REPORT_FILE, load_report
    from runner.sweeps.dashboard import DASHBOARD_FILE, load_workspace, save_in_wandb
    from runner.sweeps.wandb_report import default_entity

    failures = 0
    entity = default_entity()
    kinds = {DASHBOARD_FILE: ("view", load_workspace), REPORT_FILE: ("report", load_report)}
    for name, (kind, load) in kinds.items():
        for path in sorted(directory.glob(f"**/{name}")):
            try:
                print(f"{kind:>8}  {save_in_wandb(load(path, entity))}", flush=True)
            except Exception as error:  # the server's answer, whatever it is, in one line
                failures += 1
                print(f"{'failed':>8}  {path} ({type(error).__name__}: {first_line(error)})")
    return failures


def main(arguments: Sequence[str] | None = None) -> None:
    options = parse_arguments(sys.argv[1:] if arguments is None else arguments)
    directory = options.dir.resolve()
    if not directory.is_dir():
        fail(f"{options.dir} is not a directory")
    folders = offline_runs(directory)
    if not folders:
        fail(f"no offline W&B runs under {options.dir} (runs with logger.mode=offline, or "
             "auto without an API key, keep them in their run directory's wandb/)")  # fmt: skip
    if not options.dry_run:
        check_server()
    counts = sync_runs(folders, directory, options.dry_run)
    unsaved = 0 if options.dry_run or counts["failed"] else save_saved_views(directory)
    print(
        ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
        + f" of {len(folders)} runs"
    )
    if counts["failed"] or unsaved:
        sys.exit(SYNC_FAILED_EXIT_CODE)


def check_server() -> None:
    """Stop with one line unless there is an API key and the W&B server answers: ``wandb
    sync`` would otherwise wait for it, retrying, for as long as it is away."""
    from runner.records.wandb_run import api_key_configured, wandb_server

    if not api_key_configured():
        fail("W&B has no API key here: run `wandb login` or set WANDB_API_KEY; nothing was synced")
    server = wandb_server()
    unreachable = unreachable_reason(server)
    if unreachable is not None:
        fail(f"the W&B server {server} does not answer ({unreachable}); nothing was synced "
             "(WANDB_BASE_URL chooses the server)", SYNC_FAILED_EXIT_CODE)  # fmt: skip


def unreachable_reason(url: str) -> str | None:
    """None when ``url`` answers HTTP at all (any status), else why it does not."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=SERVER_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (OSError, ValueError) as error:
        return first_line(getattr(error, "reason", error))
    return None


def fail(line: str, exit_code: int = CONFIG_ERROR_EXIT_CODE) -> None:
    print(f"error: {line}", file=sys.stderr)
    sys.exit(exit_code)


if __name__ == "__main__":
    main()
