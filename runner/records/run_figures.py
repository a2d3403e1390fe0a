"""A run's figures drawn from its files: ``figures/curves.png`` from ``metrics.jsonl`` and each
line plot from its JSON. Nothing here needs torch, so that a process of its own can draw them
(:mod:`runner.records.figure_worker`)."""

from pathlib import Path

from runner.records.metrics import read_series

CURVES = "curves"  # figures/curves.png: every metric against steps


def draw_run_figures(run_dir: Path, title: str) -> dict[str, Path]:
    """Draw ``figures/curves.png`` from a run's ``metrics.jsonl`` and its line plots as PNG
    files; the figures drawn, by name. A figure that cannot be drawn is a
    warning, not a failure."""
    from runner.figures.canvas import draw_safely
    from runner.figures.curves import draw_run_curves
    from runner.records.line_plots import draw_run_line_plots

    figures_dir = run_dir / "figures"
    paths: dict[str, Path] = {}

    def curves() -> None:
        series = read_series(run_dir / "metrics.jsonl")
        drawn = draw_run_curves(series, figures_dir / f"{CURVES}.png", title)
        if drawn is not None:
            paths[CURVES] = drawn

    def line_plots() -> None:
        paths.update({path.stem: path for path in draw_run_line_plots(figures_dir)})

    draw_safely(f"{figures_dir / CURVES}.png", curves)
    draw_safely(f"the line plots in {figures_dir}", line_plots)
    return paths
