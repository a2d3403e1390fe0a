"""The runner's own OmegaConf resolvers, registered before any config is composed."""

from omegaconf import OmegaConf

from runner.data.canvas import distorted_size


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("distorted_size", distorted_size, replace=True)
