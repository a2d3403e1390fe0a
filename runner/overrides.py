"""A look at the command line's overrides before Hydra starts any job.

Hydra finds a misspelt option (``model=stm``) only when it composes the job that uses it, and
in a sweep that can be after other jobs have run; a misspelt key (``trainer.epoch=3``) gets a
message that does not say which keys there are. Checking the overrides against ``conf/``
first turns either into one line, before anything runs or is written.
"""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

MISSING = object()


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
    """One line about the first override that names an option or a key the config lacks."""
    overrides = parse_overrides(arguments)
    if overrides is None:
        return None
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        group_choices, groups = [], set()
        for override in overrides:
            group = override.key_or_group
            # Options come from conf/ and from Hydra's plugins (hydra/launcher=joblib, ...).
            available = sorted(loader.get_group_options(group))
            if available:
                groups.add(group)
            if override.is_delete() or not available or override.value() is None:
                continue
            for choice in choices(override):
                if choice not in available:
                    return f"{group}={choice} is not an option; {group} can be one of: {', '.join(available)}"
            if choices(override) and not group.startswith("hydra/"):
                group_choices.append(f"{group}={choices(override)[0]}")
        try:
            config = compose("config", overrides=group_choices)
        except Exception:  # any config that does not compose: Hydra's own message will say why
            return None
        for override in overrides:
            key = override.key_or_group
            if override.is_add() or override.is_force_add() or override.is_delete():
                continue
            if key.startswith("hydra") or key in groups:
                continue
            if OmegaConf.select(config, key, default=MISSING) is MISSING:
                return unknown_key_message(config, key)
    return None


def unknown_key_message(config: DictConfig, key: str) -> str:
    parent, _, _ = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None) if parent else config
    hint = f"(to add a new setting, write +{key}=...)"
    if isinstance(node, DictConfig):
        keys = ", ".join(str(name) for name in node if not str(name).startswith("_"))
        return f"{key} is not a setting; {parent or 'the config'} has: {keys} {hint}"
    return f"{key} is not a setting {hint}"
