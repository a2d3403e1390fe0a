"""What the command-line fuzzers draw from: every setting of the composed config, and values a
user could type for it by mistake, run through the real command line in this process.

``python -m runner`` is called in-process (:func:`run_command_line`): the same ``main`` with
``sys.argv`` set, its output captured, its exit status caught. That takes a second where a
fresh interpreter would take five, so a few hundred examples fit in a test.
"""

import contextlib
import io
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, ListConfig, OmegaConf

from runner.cli.hydra_setup import CONF_DIR

MODELS = ("stn", "logreg", "mlp", "vae", "gan", "gan_theory")
FAST = [  # a debug=fast job made smaller still: a few steps on a few images
    "debug=fast", "data.dataset.train_size=600", "data.dataset.test_size=200",
    "data.val_size=100", "data.eval_batch_size=100", "data.subset=100",
    "trainer.max_steps=3", "device=cpu",
]  # fmt: skip
MODEL_FAST = {  # what makes a model's own evaluation small
    "gan": [
        "model.parzen_samples=200",
        "model.parzen_val_images=50",
        "model.parzen_batch_size=100",
    ],
    "vae": ["model.importance_samples=4", "model.val_importance_samples=2"],
    "gan_theory": ["model.samples_per_step=64"],
}
WORK = (  # settings any size of which is valid: a large one only makes the run longer
    "trainer.max_steps", "trainer.epochs", "model.parzen_samples", "model.importance_samples",
    "model.val_importance_samples", "model.samples_per_step", "model.parzen_val_images",
    "data.dataset.train_size", "data.dataset.test_size", "data.subset", "data.val_size",
    "trainer.early_stop.patience", "model.importance_batch_size", "model.parzen_batch_size",
)  # fmt: skip
UNTOUCHED = ("hydra", "data.root", "data.dataset.root", "resume", "device.type", "device.processes",
             "device.port", "trainer.compile", "trainer.profile", "logger")  # fmt: skip
"""Left alone: where the test writes; what starts other processes, a compiler or a GPU."""


def leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every setting under ``node`` (dotted key, value), lists as one value."""
    if isinstance(node, DictConfig):
        found = []
        for key in node:
            value = node._get_node(key)._value() if OmegaConf.is_missing(node, key) else node[key]
            found += leaves(value, f"{prefix}{key}.")
        return found
    value = OmegaConf.to_container(node) if isinstance(node, ListConfig) else node
    return [(prefix.rstrip("."), value)]


def settings_of(model: str) -> list[tuple[str, Any]]:
    """The settings of the main config with ``model=<model>``, but those left alone."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose("config", overrides=[f"model={model}"])
    return [
        (key, value) for key, value in leaves(config)
        if not key.startswith(UNTOUCHED) and key != "choices"
    ]  # fmt: skip


def wrong_values(key: str, default: Any) -> list[str]:
    """What a user might type for ``key`` by mistake, as the command line spells it."""
    common = ["", "null", "'two words'", '"it\'s quoted"', "abc", "[1,2]", "{a: 1}"]
    if isinstance(default, bool):
        return [*common, "maybe", "1", "yes"]
    if isinstance(default, int):
        huge = [] if key in WORK else ["1000000000"]
        return [*common, "-1", "0", "1.5", "nan", "inf", *huge]
    if isinstance(default, float):
        return [*common, "-1.0", "0", "nan", "inf", "-inf", "1e300"]
    if isinstance(default, list):
        return [
            *common,
            "[]",
            "[-1]",
            "[abc]",
            "[nan]",
            "[1000000000]" if key not in WORK else "[]",
        ]
    return [*common, "nowhere.Missing", "42", "-1"]


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str


def run_command_line(arguments: list[str]) -> Outcome:
    """``python -m runner ARGUMENTS``, in this process: its exit status and its output."""
    from runner.train import main

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    logging_before = logging_state()
    argv, sys.argv = sys.argv, ["runner", *arguments]
    out, err, status = io.StringIO(), io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exit_:
                status = exit_.code if isinstance(exit_.code, int) else 1
            except Exception:  # what the command line let through: a traceback for a user
                import traceback

                traceback.print_exc()
                status = -1
    finally:
        sys.argv = argv
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        restore_logging(logging_before)
    return Outcome(status, out.getvalue(), err.getvalue())


def logging_state() -> tuple[list[logging.Handler], int]:
    root = logging.getLogger()
    return list(root.handlers), root.level


def restore_logging(state: tuple[list[logging.Handler], int]) -> None:
    """Take back what Hydra set up for the job (a handler writing the run's ``train.log``):
    a later test's warning must not go to a run directory that is gone, or never was."""
    handlers, level = state
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def check_the_outcome(outcome: Outcome, run_dir: Path, arguments: list[str]) -> None:
    """The property: a run that was accepted finished, and completed; a refused one said why
    in one line, with no traceback, and no summary claims it completed."""
    said = f"{' '.join(arguments)}\\n--- stderr:\\n{outcome.stderr}\\n--- stdout (end):\\n{outcome.stdout[-2000:]}"
    assert "Traceback" not in outcome.stderr + outcome.stdout, said
    summary = run_dir / "summary.json"
    completed = summary.exists() and '"status": "completed"' in summary.read_text()
    if outcome.status == 0:
        assert completed, said
        return
    assert outcome.status in (1, 2), said
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), said
    assert not completed, said
