"""The reproduction's report, three ways: ``report.json`` (for scripts and the docs),
``report.md`` (to read or paste) and ``report.html`` (self-contained: the sweeps' figures are
embedded, so it opens from disk anywhere)."""

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.platform.files import write_text_atomically

MARKS = {"holds": "✅ holds", "does not hold": "❌ does not hold", "undecided": "⚠️ undecided"}


def mark(verdict: str) -> str:
    return MARKS.get(verdict, verdict)


def write_reports(report: dict[str, Any], out: Path) -> list[Path]:
    paths = [out / "report.json", out / "report.md", out / "report.html"]
    write_text_atomically(json.dumps(report, indent=2) + "\n", paths[0])
    write_text_atomically(markdown(report), paths[1])
    write_text_atomically(page(report, out), paths[2])
    return paths


def claim_rows(claims: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [
        [claim["id"], claim["where"], claim["statement"], claim.get("paper_value") or "",
         claim["ours"], mark(claim["verdict"])]
        for claim in claims
    ]  # fmt: skip


HEADER = ["claim", "in the paper", "statement", "paper", "ours", "verdict"]


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Reproduction at budget `{report['budget']}`", "", report["about"], ""]
    for paper in report["papers"]:
        lines += [f"## {paper['title']}", "", "| " + " | ".join(HEADER) + " |",
                  "|" + "---|" * len(HEADER)]  # fmt: skip
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                  for row in claim_rows(paper["claims"])]  # fmt: skip
        lines.append("")
    lines += ["## Experiments", "", "| experiment | jobs | wall time (s) | sweep directory |",
              "|---|---|---|---|"]  # fmt: skip
    for name, run in report["experiments"].items():
        lines.append(f"| {name} | {run['counts']} | {run['wall_time_s']} | `{run['sweep_dir']}` |")
    shown = [path for run in report["experiments"].values() for path in run.get("job_figures", [])]
    if shown:
        lines += ["", "Runs' own figures (in report.html): " + ", ".join(f"`{p}`" for p in shown)]
    return "\n".join(lines) + "\n"


def embedded_figures(sweep_dir: Path) -> str:
    """The sweep's figures, in the page itself."""
    return "\n".join(embedded_figure(png) for png in sorted((sweep_dir / "figures").glob("*.png")))


def embedded_figure(png: Path) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{png.stem}">'
            f"<figcaption>{html.escape(png.name)}</figcaption></figure>")  # fmt: skip


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
vertical-align:top;text-align:left}img{max-width:100%}figure{margin:1em 0}"""


def page(report: dict[str, Any], out: Path) -> str:
    parts = [f"<!doctype html><meta charset=utf-8><title>Reproduction, {report['budget']}</title>",
             f"<style>{STYLE}</style>", f"<h1>Reproduction at budget {report['budget']}</h1>",
             f"<p>{html.escape(report['about'])}</p>"]  # fmt: skip
    for paper in report["papers"]:
        parts.append(f"<h2>{html.escape(paper['title'])}</h2><table><tr>")
        parts.append("".join(f"<th>{html.escape(cell)}</th>" for cell in HEADER) + "</tr>")
        for row in claim_rows(paper["claims"]):
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    for name, run in report["experiments"].items():
        parts.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(str(run['counts']))}, "
                     f"{run['wall_time_s']} s, <code>{html.escape(run['sweep_dir'])}</code></p>")  # fmt: skip
        parts.append(embedded_figures(out / name))
        parts.extend(embedded_figure(Path(path)) for path in run.get("job_figures", []))
    return "\n".join(parts) + "\n"
