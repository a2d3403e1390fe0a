"""Numbers on the documentation's pages, read from the results files in ``docs/results/``.

A page that quotes a measurement says ``render_macros: true`` in its front matter and writes
``{{ result("main_job", "test_acc", ".2%") }}``; ``{{ measured_by("main_job") }}`` adds the
command that produced the file and the machine it ran on. The files are written by scripts
(``make results``, the benchmarks), never by hand; a missing file or key stops the build.
"""

import json
from pathlib import Path
from typing import Any


def define_env(env: Any) -> None:
    results = Path(env.project_dir) / "docs" / "results"

    def load(name: str) -> dict[str, Any]:
        path = results / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no results file {path}: run make results")
        return json.loads(path.read_text())

    def lookup(data: dict[str, Any], dotted: str) -> Any:
        value: Any = data
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                raise KeyError(f"results: no key {dotted!r}")
            value = value[part]
        return value

    @env.macro
    def result(name: str, key: str, fmt: str | None = None, scale: float = 1) -> str:
        """One value of ``docs/results/<name>.json`` (``key`` may be dotted), formatted;
        ``scale`` multiplies a number first (``scale=1000`` shows seconds as milliseconds)."""
        value = lookup(load(name), key)
        if scale != 1:
            value = value * scale
        return format(value, fmt) if fmt else str(value)

    @env.macro
    def measured_by(name: str) -> str:
        """Where the numbers of ``<name>.json`` come from: command, machine, versions, date."""
        data = load(name)
        machine = data["machine"]
        return (
            f"Measured with `{data['command']}` on {machine['cpu']} ({machine['cores']} cores"
            f"{', ' + machine['gpu'] if machine.get('gpu') else ''}), torch {data['versions']['torch']}, "
            f"commit `{data['commit'][:7]}`, {data['date']}."
        )

    @env.macro
    def wandb_view(name: str) -> str:
        """The W&B view in ``wandb_view.json`` under ``name`` (``sweep`` or ``search``)."""
        return view_table(load("wandb_view")[name])

    paper_macros().define(env, load)


def view_table(view: dict[str, Any]) -> str:
    """A W&B view's sections and panels as a table, after the command that made it."""
    rows = ["| section | panel | plots |", "|---|---|---|"]
    for section in view["sections"]:
        for panel in section["panels"]:
            plots = ", ".join(f"`{p}`" for p in panel["plots"])
            rows.append(f"| {section['name']} | {panel['kind']} | {plots} |")
    grouped = ", ".join(f"`{key}`" for key in view["swept"]) or "nothing"
    said = f"`{view['command']}` wrote this view: the sweep's W&B group, grouped by {grouped}."
    return said + "\n\n" + "\n".join(rows)


def paper_macros() -> Any:
    """``docs/paper_macros.py``, loaded beside this file (MkDocs puts neither on the path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "paper_macros", Path(__file__).with_name("paper_macros.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
