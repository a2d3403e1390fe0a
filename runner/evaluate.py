"""Evaluate a trained run's checkpoint on its test split, or on other data, without training.

    python -m runner.evaluate RUN_DIR [checkpoint=best|last] [data=OPTION] [data.KEY=VALUE ...]
                              [device.KEY=VALUE ...] [logger.KEY=VALUE ...]

The model is rebuilt from the config saved in the checkpoint and loaded with its weights; the
metrics are printed and stored in ``RUN_DIR/evaluation.json``, one entry per evaluation. The
data may change (``data.distortion=rotated``: how does an RTS-trained ST-CNN transfer?), the
model may not: the weights belong to the model they were trained as.

When the evaluated run logged to W&B (its ``logger`` section, which ``logger.KEY=VALUE`` may
change here: ``logger.mode=disabled``), the evaluation is a W&B run of its own, job type
``evaluate``, in the same group: its metrics in the summary, its config saying which run,
checkpoint and data it evaluated.

A checkpoint is data. It is read with ``torch.load(weights_only=True)``, and before anything is
built every ``_target_`` of its model and data config is checked against what this project
instantiates: its own classes, its dataset readers, and torch's classes. A checkpoint that
names anything else (``os.system``, a function that writes files) is refused, not run.
"""

import importlib
import inspect
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from runner.cli.hydra_setup import CONF_DIR
from runner.cli.overrides import MISSING, unknown_key_message
from runner.data.canvas import RTS_CANVAS_FACTOR, output_size
from runner.data.loader import ImageSet, TensorLoader
from runner.data.pipeline import build_loaders
from runner.data.settings import DataSettings
from runner.platform.console import console
from runner.platform.device import resolve_device, set_determinism
from runner.platform.errors import CONFIG_ERROR_EXIT_CODE, ConfigError
from runner.platform.files import read_json, write_json_atomically
from runner.platform.memory import keep_freed_memory
from runner.platform.settings import DeviceSettings
from runner.records.settings import LoggerSettings
from runner.records.summary import summary_table
from runner.records.wandb_run import RunLabels, start_wandb
from runner.run.build import build, build_dataset
from runner.run.schema import typed_value
from runner.run.settings import section
from runner.training.checkpoint import read_checkpoint
from runner.training.evaluation import evaluate

USAGE = (
    "usage: python -m runner.evaluate RUN_DIR [checkpoint=best|last] [data=OPTION] "
    "[data.KEY=VALUE ...] [device.KEY=VALUE ...] [logger.KEY=VALUE ...]"
)
MAY_CHANGE = ("data.", "device.", "logger.")
CHECKPOINTS = ("best", "last")
DATASET_READERS = "runner.data.datasets."


def check_target(target: Any, where: str) -> None:
    """Refuse a ``_target_`` this project would not instantiate (before importing anything)."""
    if isinstance(target, str) and target.startswith(DATASET_READERS):
        return
    allowed = isinstance(target, str) and target.startswith(("experiments.", "runner.", "torch."))
    if allowed and is_class(target):  # classes only: a function could do anything
        return
    raise ConfigError(
        f"{where}._target_ {target!r} is not a class of this project or of torch; "
        "the checkpoint is not evaluated"
    )


def is_class(path: str) -> bool:
    """Whether ``module.path.Name`` names a class (importing the module, nothing else)."""
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return inspect.isclass(getattr(module, name, None))


def check_targets(node: Any, where: str) -> None:
    """Every ``_target_`` in ``node`` and in the nodes inside it."""
    if isinstance(node, dict):
        if "_target_" in node:
            check_target(node["_target_"], where)
        for key, value in node.items():
            check_targets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_targets(value, f"{where}[{index}]")


def parse_arguments(arguments: list[str]) -> tuple[Path, str, list[str]]:
    """The run directory, the checkpoint's name and the overrides."""
    if not arguments or arguments[0].startswith("-") or "=" in arguments[0]:
        raise ConfigError(USAGE)
    checkpoint, overrides = "best", []
    for argument in arguments[1:]:
        key, equals, value = argument.partition("=")
        if not equals:
            raise ConfigError(f"{argument!r} is not KEY=VALUE; {USAGE}")
        if key == "checkpoint":
            if value not in CHECKPOINTS:
                raise ConfigError(f"checkpoint must be best or last; got {value!r}")
            checkpoint = value
        else:
            overrides.append(argument)
    return Path(arguments[0]), checkpoint, overrides


def apply_overrides(config: DictConfig, overrides: list[str]) -> None:
    """``data=OPTION`` (another dataset of ``conf/data/``) and ``data.*``/``device.*`` keys that
    the config has; the values are checked as a training run checks them."""
    for override in overrides:
        key, _, value = override.partition("=")
        if key == "data":
            options = sorted(path.stem for path in (CONF_DIR / "data").glob("*.yaml"))
            if value not in options:
                raise ConfigError(
                    f"data={value} is not an option; data can be one of: {', '.join(options)}"
                )
            config.data.dataset = OmegaConf.load(CONF_DIR / "data" / f"{value}.yaml").dataset
            config.data.dataset.root = config.data.root
            continue
        if key == "device":  # as in training: device=cpu|cuda|auto chooses the type
            config.device.type = value
            continue
        if not key.startswith(MAY_CHANGE):
            raise ConfigError(
                f"{key} cannot change in an evaluation: the weights belong to the model they "
                "were trained as (data=, data.*, device=, device.* and logger.* may change)"
            )
        if OmegaConf.select(config, key, default=MISSING) is MISSING:
            raise ConfigError(unknown_key_message(config, key))
        # the saved config holds data.dataset.root as the path it resolved to: it follows a
        # moved data.root, as in training, where it is ${data.root}
        moves_the_dataset = (
            key == "data.root" and config.data.dataset.get("root") == config.data.root
        )
        config.merge_with_dotlist([override])
        OmegaConf.update(config, key, typed_value(key, OmegaConf.select(config, key)))
        if moves_the_dataset:
            config.data.dataset.root = config.data.root
    resolved = OmegaConf.to_container(config, resolve=True)
    section(DataSettings, resolved["data"])
    section(DeviceSettings, resolved["device"])
    LoggerSettings.of(resolved.get("logger", {}))  # a run older than a logger key has its default


def image_size_for(data: DictConfig, saved: DictConfig) -> int:
    """The side of the images ``data`` makes: its distortion applied to the dataset's own size
    (which the saved config gives, through the distortion it was trained with)."""
    native = saved.image_size
    if saved.distortion == "rts":
        native = round(saved.image_size / RTS_CANVAS_FACTOR)
    return output_size(data.distortion, native)


def centred_on_canvas(images: ImageSet, size: int) -> ImageSet:
    """Images padded with background to ``size``×``size``, centred: smaller images for a model
    trained on a larger canvas (28×28 rotated digits for an RTS-trained model)."""
    height = images.images.shape[-1]
    before = (size - height) // 2
    after = size - height - before
    padded = torch.nn.functional.pad(images.images, (before, after, before, after))
    return ImageSet(padded, images.labels)


def test_loader(config: DictConfig, saved_data: DictConfig, device: torch.device) -> TensorLoader:
    """The test split of ``config.data``, fitted to the model's input size."""
    config.data.image_size = image_size_for(config.data, saved_data)
    data = OmegaConf.to_container(config.data, resolve=True)
    settings = section(DataSettings, data)
    loaders = build_loaders(settings, build_dataset(config.data.dataset), config.seed, device)
    model_size = config.model.get("image_size", config.data.image_size)
    if config.data.image_size > model_size:
        raise ConfigError(
            f"data.distortion={config.data.distortion} makes {config.data.image_size}x"
            f"{config.data.image_size} images, larger than the model's {model_size}x{model_size}"
        )
    test = loaders.test.data
    if config.data.image_size < model_size:
        test = centred_on_canvas(test, model_size)
    return TensorLoader(test, config.data.eval_batch_size, shuffle=False)


def evaluate_run(
    run_dir: Path, checkpoint_name: str, overrides: list[str], command: str = ""
) -> dict[str, Any]:
    """Evaluate ``run_dir``'s checkpoint on the test split, add the entry to
    ``evaluation.json`` and, when the run logs to W&B, log it there; return the entry.
    ``command``: the command line, the W&B run's notes."""
    path = run_dir / "checkpoints" / f"{checkpoint_name}.pt"
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist: RUN_DIR must be a run directory with checkpoints"
        )
    other = "last" if checkpoint_name == "best" else "best"
    checkpoint = read_checkpoint(path, remedy=f"evaluate checkpoint={other} instead")
    check_targets(checkpoint["config"]["model"], "model")
    config = OmegaConf.create(checkpoint["config"])
    saved_data = config.data.copy()
    apply_overrides(config, overrides)
    check_targets(OmegaConf.to_container(config.data), "data")  # as saved, and as overridden
    device = resolve_device(config.device.type)
    set_determinism(config.device.deterministic)
    torch.manual_seed(config.seed)
    loader = test_loader(config, saved_data, device)
    experiment = build(config.model, "model").to(device)
    experiment.load_state_dict(checkpoint["experiment"])
    metrics = evaluate(experiment, loader, "test", config.seed)
    state = checkpoint.get("state", checkpoint)  # checkpoints of format 1 kept it at the top
    entry = {
        "checkpoint": checkpoint_name,
        "step": state["step"],
        "overrides": overrides,
        "metrics": metrics,
    }
    record(run_dir, entry)
    show(run_dir, entry)
    log_in_wandb(config, run_dir, entry, state.get("wandb_run_id"), command)
    return entry


def log_in_wandb(
    config: DictConfig, run_dir: Path, entry: dict[str, Any], trained_id: str | None, command: str
) -> None:
    """The evaluation ``entry`` as a W&B run of job type ``evaluate`` (unless the ``logger``
    section disables W&B): in the evaluated run's group, named after it, tagged with the id
    of its W&B run (``trained_id``); the metrics in its summary, what was evaluated in its
    config. Offline, it is kept under ``run_dir/wandb`` for ``python -m runner.sync``."""
    logger = LoggerSettings.of(OmegaConf.to_container(config.get("logger", {}), resolve=True))
    label = " ".join(["evaluate", entry["checkpoint"], *entry["overrides"]])
    settings = replace(logger, name=f"{logger.name or trained_id or run_dir.name} · {label}")
    evaluated = {"run_dir": str(run_dir), "wandb_run_id": trained_id}
    evaluated |= {key: entry[key] for key in ("checkpoint", "step", "overrides")}
    tags = (f"evaluates:{trained_id}",) if trained_id else ()
    wandb = start_wandb(
        settings, {**OmegaConf.to_container(config, resolve=True), "evaluated": evaluated},
        run_dir, None, RunLabels("evaluate", tags, command or None),
    )  # fmt: skip
    if wandb is None:
        return
    wandb.set_summary({**entry["metrics"], "step": entry["step"]})
    wandb.finish(failed=False)
    if wandb.offline:
        console.print(f"W&B run saved offline; upload it with: python -m runner.sync {run_dir}")


def show(run_dir: Path, entry: dict[str, Any]) -> None:
    """The evaluation's metrics as a table, and where they are kept."""
    checkpoint = run_dir / "checkpoints" / f"{entry['checkpoint']}.pt"
    console.print(f"{checkpoint} (step {entry['step']}) on the test split")
    console.print(summary_table(entry["metrics"], next(iter(entry["metrics"]))))
    console.print(f"saved in {run_dir / 'evaluation.json'}")


def record(run_dir: Path, entry: dict[str, Any]) -> None:
    """Add the entry to ``evaluation.json``, replacing an earlier one with the same label."""
    label = " ".join([entry["checkpoint"], *entry["overrides"]])
    evaluations = read_json(
        run_dir / "evaluation.json", remedy="move it away, and this evaluation starts a new one"
    )
    evaluations[label] = entry
    write_json_atomically(evaluations, run_dir / "evaluation.json")


def main(arguments: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if arguments is None else arguments
    if arguments and arguments[0] in ("-h", "--help"):
        print(__doc__.strip())
        return
    try:
        run_dir, checkpoint_name, overrides = parse_arguments(arguments)
        command = shlex.join(["python", "-m", "runner.evaluate", *arguments])
        evaluate_run(run_dir, checkpoint_name, overrides, command)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(CONFIG_ERROR_EXIT_CODE)


if __name__ == "__main__":
    keep_freed_memory()  # this process is the evaluation's (runner.platform.memory)
    main()
