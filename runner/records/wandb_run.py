"""The run's mirror in Weights & Biases: config, metrics, figures and final state.

W&B must never cost a run: it never prompts, never waits long for a server, and when it
cannot reach one it keeps the run offline in the run directory, ready for ``wandb sync``.
"""

import contextlib
import logging
import netrc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from runner.platform.errors import ConfigError, first_line
from runner.platform.signals import interrupts_deferred
from runner.records.settings import LOGGER_MODES, LoggerSettings

log = logging.getLogger(__name__)

CHECKPOINT_ALIASES = {"best.pt": "best", "last.pt": "latest"}
STEP_METRIC = "step"  # every metric's x-axis in W&B: the run's optimisation step
JOB_TYPES = ("train", "evaluate", "sweep-report")  # the runs a W&B project holds


def wandb_server() -> str:
    """The W&B server's URL: ``WANDB_BASE_URL``, else the installed client's default."""
    import wandb

    return os.environ.get("WANDB_BASE_URL") or wandb.Settings().base_url


def wandb_host() -> str:
    """The W&B server's host name."""
    return urlparse(wandb_server()).hostname or ""


def api_key_configured() -> bool:
    """True when W&B has credentials: ``WANDB_API_KEY``, or the netrc entry ``wandb login`` writes."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        path = os.environ.get("NETRC") or Path.home() / ".netrc"
        return netrc.netrc(path).authenticators(wandb_host()) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def choose_mode(mode: str) -> str:
    """Resolve ``auto``: the ``WANDB_MODE`` variable if set, else online only with an API key."""
    if mode not in LOGGER_MODES:
        raise ConfigError(f"logger.mode must be one of {', '.join(LOGGER_MODES)}; got {mode!r}")
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE") in ("online", "offline", "disabled"):
        return os.environ["WANDB_MODE"]
    return "online" if api_key_configured() else "offline"


class WandbRun:
    """A started W&B run. If W&B fails while the run trains (its service process dies, its
    disk fills), it is let go with one warning and the run goes on: ``metrics.jsonl`` keeps
    every value, and what W&B wrote before it failed stays in the run directory."""

    def __init__(self, run: Any) -> None:
        self._run = run
        self.failure: str | None = None  # why W&B stopped working, once it has

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def directory(self) -> Path:
        """The run's own folder (``wandb/offline-run-...``), the one ``wandb sync`` takes."""
        return Path(self._run.dir).parent

    @property
    def offline(self) -> bool:
        """Whether the run's record is in the run directory alone, for ``wandb sync``."""
        return self.failure is not None or self._run.settings.mode == "offline"

    def declare_metrics(self, best: dict[str, str]) -> None:
        """Plot every metric against the run's step (the epoch beside it, as a metric), and
        summarise each metric of ``best`` (name → ``"max"`` or ``"min"``) by its best value
        rather than its last, so that W&B's runs table and parallel plots show the best."""

        def declare() -> None:
            self._run.define_metric(STEP_METRIC)
            self._run.define_metric("*", step_metric=STEP_METRIC)
            for name, goal in best.items():
                self._run.define_metric(name, step_metric=STEP_METRIC, summary=goal)

        self._guarded(declare)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        """``metrics`` as the history row of ``step``."""
        self._guarded(lambda: self._log_row(metrics, step))

    def _log_row(self, values: dict[str, Any], step: int) -> None:
        self._run.log({**values, STEP_METRIC: step}, step=step)

    def log_images(self, paths: dict[str, Path], step: int) -> None:
        """Each figure as the image ``figures/<name>`` of ``step``: W&B's media panel walks
        through them with its step slider."""
        import wandb

        images = {f"figures/{name}": wandb.Image(str(path)) for name, path in paths.items()}
        self.log(images, step=step)

    def log_checkpoints(self, metadata: dict[str, dict[str, Any]]) -> None:
        """Each checkpoint file (``best.pt``, ``last.pt``) as a version of the run's model
        artifact ``model-<run id>``, aliased ``best`` or ``latest``, with ``metadata[path]``.

        Offline, W&B copies the files into its staging folder and ``wandb sync`` uploads them.
        """
        import wandb

        def log() -> None:
            for path, described in metadata.items():
                artifact = wandb.Artifact(f"model-{self.id}", type="model", metadata=described)
                artifact.add_file(str(path), name=Path(path).name)
                self._run.log_artifact(artifact, aliases=[CHECKPOINT_ALIASES[Path(path).name]])

        self._guarded(log)

    def should_log_checkpoints(self, setting: str | bool) -> bool:
        """``logger.log_checkpoints``: true, false, or auto (when the run is online)."""
        return not self.offline if setting == "auto" else bool(setting)

    def log_histograms(self, histograms: dict[str, Any], step: int) -> None:
        """Each :class:`experiments.base.Histogram` as a W&B histogram."""
        import wandb

        def log() -> None:
            self._log_row(
                {
                    name: wandb.Histogram(np_histogram=(h.counts, h.edges))
                    for name, h in histograms.items()
                },
                step,
            )

        self._guarded(log)

    def log_table(self, name: str, rows: list[dict[str, Any]], step: int) -> None:
        """``rows`` (dicts with the same keys) as a W&B table."""
        import wandb

        def log() -> None:
            columns = list(rows[0]) if rows else []
            table = wandb.Table(columns=columns, data=[[row[c] for c in columns] for row in rows])
            self._log_row({name: table}, step)

        self._guarded(log)

    def set_summary(self, values: dict[str, Any]) -> None:
        self._guarded(lambda: self._run.summary.update(values))

    def add_tags(self, tags: list[str]) -> None:
        def add() -> None:
            self._run.tags = (*self._run.tags, *tags)

        self._guarded(add)

    def finish(self, failed: bool) -> None:
        """Close the run; a run that raised is marked failed in the dashboard."""
        self._guarded(lambda: self._run.finish(exit_code=1 if failed else 0))

    def _guarded(self, call: Callable[[], None]) -> None:
        """Make the call to W&B, unless W&B has failed; on its first failure, warn and let
        W&B go."""
        if self.failure is not None:
            return
        try:
            call()
        except Exception as error:  # whatever W&B raises, the run must not pay for it
            self.failure = f"{type(error).__name__}: {first_line(error)}"
            log.warning(
                "W&B stopped working (%s); the run goes on without it, and metrics.jsonl "
                "keeps every value", self.failure,
            )  # fmt: skip
            with contextlib.suppress(Exception):
                import wandb

                wandb.teardown()  # also drops its exit hook, which would fail at exit


@dataclass(frozen=True)
class RunLabels:
    """How a W&B run is found among others: its kind (``job_type``, one of
    :data:`JOB_TYPES`), tags beyond the logger's own, and notes (the command that made it)."""

    job_type: str = "train"
    tags: tuple[str, ...] = ()
    notes: str | None = None


def start_wandb(
    settings: LoggerSettings,
    config: dict[str, Any],
    run_dir: Path,
    run_id: str | None,
    labels: RunLabels = RunLabels(),
) -> WandbRun | None:
    """Start the W&B run for ``settings`` (the ``logger`` section), or None when disabled;
    ``config`` is what the run records as its W&B config.

    ``run_id`` continues an earlier run of the same run directory (on resume).
    """
    mode = choose_mode(settings.mode)
    if mode == "disabled":
        return None
    with interrupts_deferred():  # W&B, loaded whole
        import wandb

    def init(mode: str) -> Any:
        return wandb.init(
            mode=mode,
            dir=run_dir,
            project=settings.project,
            entity=settings.entity,
            group=settings.group,
            name=settings.name,
            job_type=labels.job_type,
            tags=list(dict.fromkeys([*settings.tags, *labels.tags])),
            notes=labels.notes,
            config=config,
            id=run_id,
            resume="allow" if run_id else None,
            settings=wandb.Settings(
                silent=True, console="off", init_timeout=float(settings.timeout_s)
            ),
        )

    if mode == "online":
        try:
            return WandbRun(init("online"))
        except Exception as error:  # any failure to reach the server: keep the run offline
            log.warning("W&B could not start online (%s); logging offline instead", error)
    try:
        return WandbRun(init("offline"))
    except Exception as error:  # its directory cannot be written, its service cannot start
        log.warning(
            "W&B could not start (%s: %s); the run goes on without it, and metrics.jsonl "
            "keeps every value", type(error).__name__, first_line(error),
        )  # fmt: skip
        return None


def stop_wandb_service() -> None:
    """End W&B's background service now, while this process can still talk to it (the runs
    are finished already): a SLURM job that requeues itself is killed with all its
    processes right after, and the service's teardown at exit would fail noisily."""
    if "wandb" in sys.modules:
        import wandb

        wandb.teardown()
