"""``python -m runner --help``: the help that ``hydra.help`` in ``conf/config.yaml`` lays out,
written here rather than by Hydra.

Hydra's own help lists the config groups of the app and of Hydra through its config loader,
which deep-copies its config repository for every group it looks at: about half a second,
more than the rest of the answer. The app's groups are the folders of ``conf/``, read here
directly; the config is composed once, as ``--cfg job`` does.
"""

import string
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from runner.cli.hydra_setup import NOT_GROUPS


def config_groups(conf_dir: Path, parent: str = "") -> list[str]:
    """``group: option, option`` for each config group under ``conf_dir`` (nested ones as
    ``group/sub``), sorted as Hydra sorts them; Hydra's own groups (``hydra/``) left out."""
    lines = []
    for folder in sorted(p for p in (conf_dir / parent).iterdir() if p.is_dir()):
        group = f"{parent}/{folder.name}" if parent else folder.name
        if group in NOT_GROUPS:
            continue
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if options:
            lines.append(f"{group}: {', '.join(options)}")
        lines += config_groups(conf_dir, group)
    return sorted(lines)


def app_help(conf_dir: Path, overrides: list[str], resolve: bool = False) -> str:
    """The help text for ``overrides``: ``hydra.help.template`` with the config groups
    (``$APP_CONFIG_GROUPS``) and the composed config (``$CONFIG``) filled in; the flags and
    Hydra's groups are ``--hydra-help``'s."""
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        config = compose("config", overrides=overrides, return_hydra_config=True)
    template = string.Template(config.hydra.help.template)
    with open_dict(config):
        del config["hydra"]
    return template.safe_substitute(
        APP_CONFIG_GROUPS="".join(f"{line}\n" for line in config_groups(conf_dir)),
        CONFIG=OmegaConf.to_yaml(config, resolve=resolve),
    )
