"""A look at the command line's overrides before Hydra starts any job.

Hydra finds a misspelt option (``model=stm``) only when it composes the job that uses it, and
in a sweep that can be after other jobs have run; a misspelt key (``trainer.epoch=3``) gets a
message that does not say which keys there are. Checking the overrides against ``conf/``
first turns either into one line, before anything runs or is written.
"""

import dataclasses
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from runner.cli import suggestions
from runner.cli.hydra_setup import NOT_GROUPS
from runner.run.schema import field_type

MISSING = object()
HYDRA_SECTION = "hydra"  # Hydra's own settings: Hydra reads what is added there


def read_when_added(key: str) -> bool:
    """Whether a key added with ``+`` would be read: one inside a section the schema leaves
    open (a constructor's arguments: ``model``, ``optim``, ``schedule``, ``data.dataset``; the
    user's ``sweep.figures``), or Hydra's. A key added to a section the schema types
    (``trainer``, ``data``, ...) or to the top level is read by nothing."""
    head, _, _ = key.partition(".")
    parent, _, _ = key.rpartition(".")
    if head == HYDRA_SECTION:
        return True
    if not parent or field_type(head) is None:
        return False
    return not dataclasses.is_dataclass(field_type(parent))


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
                    return not_an_option(group, choice, available)
            asked[group] = choices(override)
        return (
            peer_value(overrides, asked)
            or section_chosen_as_group(overrides, asked, conf_dir)
            or added_key_nothing_reads(overrides)
            or unknown_key_in_any(overrides, asked)
        )


def not_an_option(group: str, choice: str, available: list[str]) -> str:
    line = f"{group}={choice} is not an option; {group} can be one of: {', '.join(available)}"
    meant = suggestions.for_choice(group, choice, available)
    return f"{line}; {meant}" if meant else line


def peer_value(overrides: list[Override], asked: dict[str, list[str]]) -> str | None:
    """A value spelt as a peer tool spells it (``trainer.precision=16-mixed``)."""
    for override in overrides:
        if override.key_or_group in asked or override.is_sweep_override():
            continue
        value = override.get_value_element_as_str()
        meant = suggestions.for_value(override.key_or_group, value)
        if meant:
            return f"{override.key_or_group}={value} is not a value it takes: {meant}"
    return None


def groups_of(conf_dir: Path) -> list[str]:
    return sorted(p.name for p in conf_dir.iterdir() if p.is_dir() and p.name not in NOT_GROUPS)


def section_chosen_as_group(
    overrides: list[Override], asked: dict[str, list[str]], conf_dir: Path
) -> str | None:
    """``trainer=gpu``: a section of settings chosen as if it were a config group, or a group
    another tool has (``callbacks=default``)."""
    sections = OmegaConf.load(conf_dir / "config.yaml")  # a file read, not a composition
    for override in overrides:
        name = override.key_or_group
        if "." in name or "/" in name or name in asked or override.is_add() or override.is_delete():
            continue
        value = "..." if override.is_sweep_override() else override.get_value_element_as_str()
        meant = suggestions.for_choice(name, value, [])
        if isinstance(sections.get(name), DictConfig):
            what = f"{name} is a section of settings, not a config group; set its keys ({name}.<key>=...)"
        elif meant:
            what = f"{name} is not a config group here"
        else:
            continue
        line = f"{name}={value}: {what}; the groups are: {', '.join(groups_of(conf_dir))}"
        return f"{line}; {meant}" if meant else line
    return None


def added_key_nothing_reads(overrides: list[Override]) -> str | None:
    """``+trainer.max_epochs=1``: a key added to a section the runner reads key by key, which
    no code would read; refused, with the section's keys and the key meant."""
    for override in overrides:
        key = override.key_or_group
        if not override.is_add() or read_when_added(key):
            continue
        config = compose("config")
        line = f"+{key}: nothing reads {key}, so it would be ignored"
        return f"{line}: {known_keys_and_meaning(config, key)}"
    return None


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
    """``key`` is not a setting (``where``: of which swept options): the key meant, what its
    parent has, and, where an added key is read (a constructor's argument), how to add it."""
    missing = f"{key} is not a setting" + (f" with {where}" if where else "")
    hint = f" (to add a new setting, write +{key}=...)" if read_when_added(key) else ""
    return f"{missing}: {known_keys_and_meaning(config, key)}{hint}"


def known_keys_and_meaning(config: DictConfig, key: str) -> str:
    """The key meant (``did you mean ...?``), then the keys ``key``'s section has."""
    parent, _, _ = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None) if parent else config
    every = [str(name) for name in node] if isinstance(node, DictConfig) else []
    names = [name for name in every if not name.startswith("_")]  # _target_: Hydra's, not listed
    meant = suggestions.for_key(key, every)
    if isinstance(node, DictConfig):
        has = (
            f"{parent or 'the config'} has: {', '.join(names)}"
            if names
            else f"{parent} has no settings"
        )
    else:
        has = f"{parent} is not a section" if parent else "the config has no such key"
    return f"{meant} ({has})" if meant else has
