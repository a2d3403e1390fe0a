"""A property-based fuzzer of the command line (hypothesis): settings drawn from the composed
config itself, each given a value a user could mistype, an unknown key, an added key, or an
unknown option of a group, through the real command line.

The property (:func:`tests.cli.fuzz.check_the_outcome`): either the run is accepted and
completes a tiny ``debug=fast`` job, or it exits non-zero with exactly one error line, no
traceback, and no summary that claims completion. ``make test`` tries the fast profile's
examples, CI's full run the long profile's (``HYPOTHESIS_PROFILE=long``); a failure found is
kept below as an ``@example``.
"""

import itertools
from pathlib import Path

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.cli.fuzz import (
    FAST,
    MODEL_FAST,
    MODELS,
    check_the_outcome,
    run_command_line,
    settings_of,
    wrong_values,
)

CATALOGUE = {model: settings_of(model) for model in MODELS}
GROUPS = ("model", "optim", "data", "schedule", "debug", "experiment", "search", "logger", "device")
COUNTER = itertools.count()


@st.composite
def mistakes(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A model, and one override a user could type by mistake for it."""
    model = draw(st.sampled_from(MODELS))
    kind = draw(st.sampled_from(["value", "value", "value", "unknown key", "added key", "option"]))
    key, default = draw(st.sampled_from(CATALOGUE[model]))
    if kind == "value":
        return model, [f"{key}={draw(st.sampled_from(wrong_values(key, default)))}"]
    if kind == "unknown key":
        return model, [f"{key}{draw(st.sampled_from(['z', 's', '_x']))}=1"]
    if kind == "added key":
        section = key.rpartition(".")[0] or "trainer"
        return model, [f"+{section}.{draw(st.sampled_from(['epochz', 'max_epochs', 'lr']))}=3"]
    group = draw(st.sampled_from(GROUPS))
    return model, [f"{group}={draw(st.sampled_from(['stm', 'cuda0', 'adamw', 'none', '']))}"]


@pytest.mark.timeout(1800)
@given(mistakes())
@example(("stn", ["optim.lr=abc"]))
@example(("logreg", ["trainer.precision=64"]))
@example(("gan", ["schedule._target_=null"]))
@example(("stn", ["optim._partial_="]))
@example(("stn", ["+optim.lr=3"]))  # after a refused run: main() had left HYDRA_FULL_ERROR=1
@example(("logreg", ["model.in_channels=1000000000"]))  # torch cannot allocate: RuntimeError
@example(("stn", ["optim.lr=inf"]))  # training diverges: FloatingPointError
@example(("gan_theory", ["model.data_mean="]))  # a mean that is no number, used in training
def test_a_mistyped_command_line_is_one_line_or_a_completed_run(
    data_root: Path, tmp_path_factory, case
):
    model, overrides = case
    run_dir = tmp_path_factory.getbasetemp() / "fuzz" / str(next(COUNTER))
    arguments = [
        f"model={model}", *FAST, *MODEL_FAST.get(model, []), "logger=none",
        f"data.root={data_root}", f"hydra.run.dir={run_dir}", *overrides,
    ]  # fmt: skip
    check_the_outcome(run_command_line(arguments), run_dir, arguments)


@st.composite
def near_misses(draw: st.DrawFn) -> tuple[str, str, str]:
    """A setting's key with one letter of its last part dropped, doubled or swapped with the
    next: the model, the key meant, and the key typed."""
    model = draw(st.sampled_from(MODELS))
    keys = [key for key, _ in CATALOGUE[model] if len(key.rpartition(".")[2]) >= 6]
    key = draw(st.sampled_from(keys))
    parent, _, name = key.rpartition(".")
    at = draw(st.integers(1, len(name) - 2))
    typo = draw(st.sampled_from(["drop", "double", "swap"]))
    typed = {
        "drop": name[:at] + name[at + 1 :],
        "double": name[:at] + name[at] + name[at:],
        "swap": name[:at] + name[at + 1] + name[at] + name[at + 2 :],
    }[typo]
    siblings = {k.rpartition(".")[2] for k, _ in CATALOGUE[model] if k.rpartition(".")[0] == parent}
    assume(typed not in siblings and "_" not in (name[at], name[at + 1]))
    return model, key, f"{parent}.{typed}" if parent else typed


@given(near_misses())
@example(("stn", "optim._target_", "optim._arget_"))  # Hydra's keys were no candidates
def test_a_near_miss_of_a_key_is_one_line_that_says_what_was_meant(tmp_path_factory, case):
    """The property of the near-miss strategy: exit status 2, one line, and ``did you mean``
    naming the key meant (or a sibling just as close)."""
    model, meant, typed = case
    run_dir = tmp_path_factory.getbasetemp() / "near" / str(next(COUNTER))
    outcome = run_command_line([f"model={model}", f"{typed}=1", f"hydra.run.dir={run_dir}"])
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert outcome.status == 2 and len(lines) == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr and "did you mean" in lines[0], lines[0]
    assert not run_dir.exists()
