"""Ctrl-C while Hydra composes a config: honoured once the config is whole, never half-way
through OmegaConf's work, where it would become an error of OmegaConf's own."""

import os
import signal

import pytest
from hydra import compose, initialize_config_dir
from omegaconf.base import Node

from runner.cli.hydra_setup import CONF_DIR, prepare_hydra
from runner.platform.signals import stop_as_if_interrupted

OVERRIDES = ["model=gan", "optim=sgd", "seed=3"]


def compose_counting_reads(signal_at: int | None = None) -> tuple[int, BaseException | None]:
    """Compose the config while counting OmegaConf's reads of a node's key (``Node._key``),
    sending this process SIGINT at read number ``signal_at``; the reads made, and what the
    composition raised."""
    reads = 0
    read_key = Node._key

    def counted(node: Node) -> object:
        nonlocal reads
        reads += 1
        if reads == signal_at:
            os.kill(os.getpid(), signal.SIGINT)
        return read_key(node)

    Node._key = counted  # type: ignore[method-assign]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            compose("config", overrides=OVERRIDES)
    except BaseException as error:  # noqa: BLE001 (what the interruption became is the point)
        return reads, error
    finally:
        Node._key = read_key  # type: ignore[method-assign]
    return reads, None


@pytest.fixture
def ctrl_c_as_the_runner_answers_it():
    previous = signal.signal(signal.SIGINT, stop_as_if_interrupted)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("moment", [0.1, 0.5, 0.9])  # of the composition's reads
def test_ctrl_c_while_hydra_composes_waits_for_the_config_to_be_whole(
    moment, ctrl_c_as_the_runner_answers_it
):
    prepare_hydra()
    compose_counting_reads()  # Hydra's caches filled, as in a sweep's later jobs
    whole, error = compose_counting_reads()
    assert error is None and whole > 50
    reads, error = compose_counting_reads(signal_at=int(whole * moment))
    assert type(error) is KeyboardInterrupt, repr(error)
    assert reads == whole  # the composition ran to its end before the interruption
