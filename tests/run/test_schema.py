"""The schema of the runner's sections (runner/run/schema.py): what OmegaConf checks as Hydra
composes, kept in step with conf/config.yaml, and its errors told in one line."""

import dataclasses

import pytest
from omegaconf import OmegaConf

from runner.platform.errors import ConfigError
from runner.run.schema import RunnerConfig, field_type, schema, typed_value
from runner.train import CONF_DIR, run
from tests.conftest import compose_config, run_cli

TYPED_SECTIONS = ("trainer", "data", "device", "logger", "sweep", "objective")


def test_the_composed_config_has_the_schema_s_sections_and_keys():
    config = compose_config()
    assert list(config) == [field.name for field in dataclasses.fields(RunnerConfig)]
    for name in TYPED_SECTIONS:
        assert set(config[name]) == set(schema()[name]), name


def test_conf_config_yaml_and_the_schema_give_the_same_defaults():
    """config.yaml is where a reader finds each key's meaning; its values must be the schema's
    defaults, or the two places would disagree about what a run does by default."""
    written = OmegaConf.load(CONF_DIR / "config.yaml")
    for name in ("trainer", "data", "device", "sweep"):
        for key, value in OmegaConf.to_container(written[name]).items():
            if isinstance(value, str) and value.startswith("${"):
                continue  # computed: data.image_size follows the distortion
            assert typed_value(f"{name}.{key}", value) == schema()[name][key], f"{name}.{key}"
    assert written.seed == schema().seed and written.resume == schema().resume


@pytest.mark.parametrize(
    ("key", "given", "held"),
    [
        ("trainer.precision", 16, "16"),
        ("trainer.precision", "bf16", "bf16"),
        ("trainer.max_steps", None, None),
        ("trainer.compile", "true", True),
        ("trainer.grad_clip", 1, 1.0),
        ("model.hidden", "anything", "anything"),  # a constructor's argument: not typed here
    ],
)
def test_a_value_is_held_as_its_schema_type(key, given, held):
    value = typed_value(key, given)
    assert value == held and type(value) is type(held)


@pytest.mark.parametrize(
    ("key", "given", "said"),
    [
        ("trainer.epochs", "three", "trainer.epochs must be an integer; got 'three'"),
        ("trainer.epochs", None, "trainer.epochs must be an integer; got None"),
        ("trainer.max_steps", 2.5, "trainer.max_steps must be an integer or null; got 2.5"),
        ("device.deterministic", "sometimes", "device.deterministic must be true or false"),
        ("seed", True, "seed must be an integer; got True"),
    ],
)
def test_a_value_the_schema_refuses_is_one_line(key, given, said):
    with pytest.raises(ConfigError) as error:
        typed_value(key, given)
    assert str(error.value).startswith(said)


def test_the_open_sections_are_untyped():
    assert field_type("model.anything") is None and field_type("data.dataset.root") is None
    assert field_type("trainer.early_stop.patience") == int | None


def test_a_value_left_missing_is_named(make_config, tmp_path):
    with pytest.raises(ConfigError, match=r"^objective\.metric is missing from the config$"):
        run(make_config("objective.metric=???"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_key_a_config_file_adds_to_a_runner_section_is_refused(data_root, tmp_path):
    """A config directory of one's own (checked by Hydra alone: no look before it) that gives
    ``trainer`` a key it does not have."""
    own = tmp_path / "own" / "experiment"
    own.mkdir(parents=True)
    (own / "longer.yaml").write_text("# @package _global_\ntrainer:\n  max_epochs: 3\n")
    run_dir = tmp_path / "run"
    result = run_cli("--config-dir", str(tmp_path / "own"), "experiment=longer",
                     f"data.root={data_root}", f"hydra.run.dir={run_dir}")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: trainer.max_epochs is not a setting; trainer has: epochs,"
    )
    assert result.stderr.count("\n") == 1
    assert not run_dir.exists()
