"""Near misses on the command line are answered with what was meant: every row of the table of
peer tools' spellings (runner/cli/peer_spellings.yaml), a misspelt key, option or value, a key
added to a section nothing reads, and a section chosen as if it were a group. Through the real
``main``, in this process (the answer comes before Hydra starts a job)."""

import pytest

from runner.cli.suggestions import peer_spellings
from tests.cli.fuzz import run_command_line

TABLE = peer_spellings()


def one_line(arguments: list[str], tmp_path) -> str:
    outcome = run_command_line([*arguments, f"hydra.run.dir={tmp_path / 'run'}", "logger=none"])
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert outcome.status == 2, outcome.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert not (tmp_path / "run").exists()
    return lines[0]


def expected_words(entry: dict[str, str]) -> list[str]:
    return [f"did you mean {entry['meant']}?"] if entry.get("meant") else [entry["why"]]


@pytest.mark.parametrize("key", sorted(TABLE["keys"]))
def test_a_peer_tools_key_names_the_runners(key, tmp_path):
    line = one_line([f"{key}=1"], tmp_path)
    for words in [key, *expected_words(TABLE["keys"][key])]:
        assert words in line, line


@pytest.mark.parametrize("choice", sorted({**TABLE["groups"], **TABLE["values"]}))
def test_a_peer_tools_option_or_value_names_the_runners(choice, tmp_path):
    entry = {**TABLE["groups"], **TABLE["values"]}[choice]
    line = one_line([choice], tmp_path)
    for words in [choice, *expected_words(entry)]:
        assert words in line, line


@pytest.mark.parametrize(
    ("argument", "meant"),
    [
        ("trainer.epoch=3", "did you mean trainer.epochs?"),  # a key, one letter short
        ("data.batchsize=32", "did you mean data.batch_size?"),
        ("trainer.early_stop.patiense=2", "did you mean trainer.early_stop.patience?"),  # deep
        ("model=stm", "did you mean model=stn?"),  # an option of each kind of group
        ("optim=adma", "did you mean optim=adam?"),
        ("schedule=cosin", "did you mean schedule=cosine?"),
        ("device=cpuu", "did you mean device=cpu?"),
        ("data=mnsit", "did you mean data=mnist?"),
        ("logger=wandbb", "did you mean logger=wandb?"),
        ("experiment=adam_mpl", "did you mean experiment=adam_mlp?"),
        ("debug=fats", "did you mean debug=fast?"),
        ("hydra/launcher=jobilb", "did you mean hydra/launcher=joblib?"),
        (
            "trainer.compile_mode=reduce_overhead",
            "did you mean trainer.compile_mode=reduce-overhead?",
        ),
        ("data.distortion=rotate", "did you mean data.distortion=rotated?"),  # a choice's value
    ],
)
def test_a_near_miss_is_answered_with_what_was_meant(argument, meant, tmp_path):
    assert meant in one_line([argument, "trainer.max_steps=1"], tmp_path)


@pytest.mark.parametrize("section", ["trainer", "data", "device", "logger", "objective"])
def test_a_key_added_to_a_section_nothing_reads_is_refused(section, tmp_path):
    line = one_line([f"+{section}.epochz=3"], tmp_path)
    assert f"nothing reads {section}.epochz, so it would be ignored" in line
    assert f"{section} has:" in line and "to add a new setting" not in line


def test_the_advice_to_add_a_key_is_given_where_an_added_key_is_read(tmp_path):
    line = one_line(["schedule.gamma=0.5"], tmp_path)
    assert "to add a new setting, write +schedule.gamma=..." in line


def test_a_section_chosen_as_a_group_is_explained(tmp_path):
    line = one_line(["trainer=gpu"], tmp_path)
    assert "trainer is a section of settings, not a config group" in line
    assert "the groups are: data, debug, device" in line and "did you mean device=cuda?" in line
