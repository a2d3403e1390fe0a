"""``python -m runner.plot DIR [DIR ...] [--metric NAME ...] [--out FILE]``: redraw and
compare runs.

Each DIR is a run directory, or any directory above runs (a sweep, ``outputs/``); every
``metrics.jsonl`` under it is one run. A panel per metric overlays the runs, labelled by the
overrides that differ (``.hydra/overrides.yaml``, when the run has one) and, with several
DIRs, by which DIR each came from; runs that differ only in their seed make one mean line
with a ±1 sd band. Only the runs' files are read: no W&B, no config composition.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from runner.figures.canvas import FORMATS
from runner.figures.curves import draw_overlays
from runner.platform.errors import CONFIG_ERROR_EXIT_CODE, ConfigError, DamagedFile
from runner.records.metrics import read_series
from runner.records.overrides import recorded_overrides
from runner.sweeps.figures import curve_lines

DEFAULT_OUT = Path("curves.png")


def parse_arguments(arguments: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m runner.plot",
        description="Overlay the learning curves of runs from any run or sweep directories.",
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep directories")
    parser.add_argument(
        "--metric",
        action="append",
        help="a logged metric to draw (val/acc, train/loss, ...); repeat for more panels; "
        "default: every metric all the runs logged over steps",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"the figure (.png, .pdf or .svg; default {DEFAULT_OUT})",
    )
    return parser.parse_args(arguments)


def find_runs(dirs: Sequence[Path]) -> list[tuple[list[str], Path]]:
    """Every run under ``dirs``: its label parts and its ``metrics.jsonl``."""
    runs = []
    for directory in dirs:
        if not directory.is_dir():
            raise ValueError(f"{directory} is not a directory")
        found = sorted(directory.glob("**/metrics.jsonl"), key=lambda p: (len(p.parts), str(p)))
        if not found:
            raise ValueError(f"{directory} holds no run (no metrics.jsonl under it)")
        for metrics in found:
            where = [f"{directory.name or directory}:"] if len(dirs) > 1 else []
            overrides = recorded_overrides(metrics.parent)
            if not overrides:
                overrides = [
                    str(metrics.parent.relative_to(directory))
                    if metrics.parent != directory
                    else metrics.parent.name
                ]
            runs.append((where + overrides, metrics))
    return runs


def main(arguments: Sequence[str] | None = None) -> int:
    options = parse_arguments(sys.argv[1:] if arguments is None else arguments)
    try:
        check_format(options.out)
        runs = find_runs(options.dirs)
        series = [(label, read_series(metrics)) for label, metrics in runs]
        check_some_records(runs, series)
        metrics = metrics_to_draw(options.metric, series)
        lines = {metric: curve_lines(series, metric) for metric in metrics}
        title = " vs ".join(str(d) for d in options.dirs)
        draw_overlays(metrics, lines, options.out, title=title)
    except (ValueError, DamagedFile) as error:
        print(f"error: {error}", file=sys.stderr)
        return CONFIG_ERROR_EXIT_CODE
    except OSError as error:
        print(f"error: cannot write {options.out}: {error.strerror}", file=sys.stderr)
        return CONFIG_ERROR_EXIT_CODE
    print(f"{options.out}: {len(metrics)} metrics, {len(runs)} runs")
    return 0


def check_format(out: Path) -> None:
    """``--out`` must name a format matplotlib writes here: PNG, PDF or SVG."""
    if out.suffix.lstrip(".").lower() not in FORMATS:
        raise ConfigError(
            f"--out {out}: a figure is written as {', '.join('.' + f for f in FORMATS)}; "
            f"not {out.suffix or 'a file without a suffix'}"
        )


def check_some_records(
    runs: list[tuple[list[str], Path]], series: list[tuple[list[str], dict]]
) -> None:
    """Refuse runs whose ``metrics.jsonl`` holds no record at all: nothing to draw."""
    empty = [str(path) for (_, path), (_, logged) in zip(runs, series, strict=True) if not logged]
    if len(empty) == len(runs):
        raise ConfigError(f"{empty[0]} holds no metrics yet: there is nothing to draw")


def metrics_to_draw(asked: list[str] | None, series: list[tuple[list[str], dict]]) -> list[str]:
    """The metrics asked for (each logged by some run), or those every run logged over steps."""
    logged_by_all = [
        name for name in series[0][1]
        if all(name in s for _, s in series) and not name.startswith("test/")
    ]  # fmt: skip
    metrics = asked or logged_by_all
    missing = [m for m in metrics if not any(m in s for _, s in series)]
    if missing or not metrics:
        logged = sorted({name for _, s in series for name in s})
        raise ConfigError(
            f"--metric {missing[0] if missing else ''}: no run logged it; the runs logged: "
            f"{', '.join(logged)}"
        )
    return metrics


if __name__ == "__main__":
    sys.exit(main())
