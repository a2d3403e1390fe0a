"""A look at the command line's overrides before Hydra starts any job.

Hydra finds a misspelt option (``model=stm``) only when it composes the job that uses it, and
in a sweep that can be after other jobs have run; a misspelt key (``trainer.epoch=3``) gets a
message that does not say which keys there are. Checking the overrides against ``conf/``
first turns either into one line, before anything runs or is written.
"""

from collections.abc import Iterable
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

MISSING = object()


def without_resume(overrides: Iterable[str]) -> list[str]:
    """The overrides that make a job what it is: ``resume=...`` only says how it is run."""
    return [str(o) for o in overrides if not str(o).startswith("resume=")]


def parse_overrides(arguments: list[str]) -> list[Override] | None:
    """The ``key=value`` arguments as Hydra reads them; None when Hydra should report a syntax error."""
    parser = OverridesParser.create()
    try:
        return [parser.parse_override(a) for a in arguments if not a.startswith("-") and "=" in a]
    except HydraException:
        return None


def choices(override: Override) -> list[str]:
    """The option names a group override asks for: one, or each of a ``a,b,c`` sweep."""
    if override.is_sweep_override():
        return list(override.sweep_string_iterator()) if override.is_choice_sweep() else []
    return [override.get_value_element_as_str()]


def problem_with(arguments: list[str], conf_dir: Path) -> str | None:
    """One line about the first override that names an option or a key the config lacks.

    Keys are checked against the config of every option a sweep asks for (``-m
    model=gan,stn model.k_disc_steps=2`` fails for ``model=stn`` whatever the order).
    """
    overrides = parse_overrides(arguments)
    if not overrides:  # nothing to check, or a syntax error for Hydra to report
        return None
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        asked: dict[str, list[str]] = {}  # config group -> the options asked for
        for override in overrides:
            group = override.key_or_group
            # Options come from conf/ and from Hydra's plugins (hydra/launcher=joblib, ...).
            available = sorted(loader.get_group_options(group))
            if not available:
                continue
            asked[group] = []
            if override.is_delete() or override.value() is None:
                continue
            for choice in choices(override):
                if choice not in available:
                    return f"{group}={choice} is not an option; {group} can be one of: {', '.join(available)}"
            asked[group] = choices(override)
        return unknown_key_in_any(overrides, asked)


def selections(asked: dict[str, list[str]]) -> list[dict[str, str]]:
    """The option of each group to compose: the first of each, then each other option of a
    swept group with the first of the rest (every option is composed once, not every
    combination)."""
    first = {group: options[0] for group, options in asked.items() if options}
    swept = [(group, option) for group, options in asked.items() for option in options[1:]]
    return [first] + [first | {group: option} for group, option in swept]


def unknown_key_in_any(overrides: list[Override], asked: dict[str, list[str]]) -> str | None:
    """The first ``key=value`` override whose key is missing from one of the :func:`selections`."""
    swept = [group for group, options in asked.items() if len(options) > 1]
    keys = [
        o.key_or_group for o in overrides
        if not (o.is_add() or o.is_force_add() or o.is_delete())
        and not o.key_or_group.startswith("hydra") and o.key_or_group not in asked
    ]  # fmt: skip
    for selection in selections(asked):
        chosen = [f"{group}={option}" for group, option in selection.items()]
        try:
            config = compose("config", overrides=[c for c in chosen if not c.startswith("hydra/")])
        except Exception:  # any config that does not compose: Hydra's own message will say why
            return None
        for key in keys:
            if OmegaConf.select(config, key, default=MISSING) is MISSING:
                where = ", ".join(f"{group}={selection[group]}" for group in swept)
                return unknown_key_message(config, key, where)
    return None


def unknown_key_message(config: DictConfig, key: str, where: str = "") -> str:
    """``key`` is not a setting (``where``: of which swept options), and what its parent has."""
    parent, _, _ = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None) if parent else config
    missing = f"{key} is not a setting" + (f" with {where}" if where else "")
    hint = f"(to add a new setting, write +{key}=...)"
    if isinstance(node, DictConfig):
        keys = ", ".join(str(name) for name in node if not str(name).startswith("_"))
        if not keys:
            return f"{missing}; {parent} has no settings {hint}"
        return f"{missing}; {parent or 'the config'} has: {keys} {hint}"
    return f"{missing} {hint}"
