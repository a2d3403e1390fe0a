"""The papers' pages' tables, read from the reproduction's results file
(``docs/results/reproduce_<budget>.json``, written by ``bench/results.py`` from
``python -m runner.reproduce``): each claim with its verdict, and an experiment's own table
(the STN's Table 1). Nothing in them is typed by hand."""

from collections.abc import Callable
from typing import Any

VERDICT_MARKS = {"holds": "✅ holds", "does not hold": "❌ does not hold",
                 "undecided": "⚠️ undecided"}  # fmt: skip


def cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def claims_table(report: dict[str, Any], paper: str) -> str:
    """A row per claim of ``paper``: where, what, the paper's number, ours, the verdict."""
    (found,) = [entry for entry in report["papers"] if entry["paper"] == paper]
    rows = ["| claim | in the paper | statement | paper | ours | verdict |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for claim in found["claims"]:
        verdict = VERDICT_MARKS.get(claim["verdict"], claim["verdict"])
        rows.append(f"| `{claim['id']}` | {cell(claim['where'])} | {cell(claim['statement'])} | "
                    f"{cell(claim.get('paper_value'))} | {cell(claim['ours'])} | {verdict} |")  # fmt: skip
    return "\n".join(rows)


def experiment_table(report: dict[str, Any], experiment: str, fmt: str = ".2f") -> str:
    """The experiment's ``sweep.table``, rows by columns, as the sweep printed it."""
    table = report["experiments"][experiment]["table"]
    rows = list(dict.fromkeys(cell_["row"] for cell_ in table["cells"]))
    columns = list(dict.fromkeys(cell_["column"] for cell_ in table["cells"]))
    value = {(c["row"], c["column"]): c["value"] for c in table["cells"]}
    lines = ["| " + " | ".join(["", *columns]) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        shown = [format(value[row, col], fmt) if value.get((row, col)) is not None else "–"
                 for col in columns]  # fmt: skip
        lines.append("| " + " | ".join([row, *shown]) + " |")
    return "\n".join(lines)


def experiment_run(report: dict[str, Any], experiment: str) -> str:
    """How the experiment ran: its jobs and wall time."""
    run = report["experiments"][experiment]
    return f"{run['counts']} in {run['wall_time_s']:.0f} s"


def define(env: Any, load: Callable[[str], dict[str, Any]]) -> None:
    """Register the macros; ``load`` reads a results file by name."""

    @env.macro
    def claims(paper: str, name: str = "reproduce_short") -> str:
        return claims_table(load(name), paper)

    @env.macro
    def reproduced_table(experiment: str, fmt: str = ".2f", name: str = "reproduce_short") -> str:
        return experiment_table(load(name), experiment, fmt)

    @env.macro
    def reproduced_run(experiment: str, name: str = "reproduce_short") -> str:
        return experiment_run(load(name), experiment)
