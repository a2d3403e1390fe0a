"""Figures and the numbers beside them: learning curves, seeds pooled with their spread, the
papers' figures, tables that fit 80 columns, and ``python -m runner.plot``."""

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from experiments.gan import GANTheory
from runner.figures.by_setting import BySetting, Point, by_setting_figure
from runner.figures.canvas import draw_safely, log_scale_helps
from runner.figures.curves import overlays_figure, run_curves_figure
from runner.figures.lines import line_panels_figure
from runner.platform.errors import ConfigError
from runner.records.line_plots import save_line_plots
from runner.records.metrics import MetricsFile, read_series
from runner.sweeps.cross_table import CrossTable
from runner.sweeps.figures import curve_lines, figure_specs
from runner.sweeps.outcomes import JobOutcome
from runner.sweeps.report import jobs_table
from runner.sweeps.seeds import Estimate, best_by_mean, pool_seeds, t_quantile_975
from runner.sweeps.settings import check_sweep_settings
from tests.conftest import REPO, cli_environment, compose_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(run_dir: Path, records: list[dict], overrides: list[str] | None = None) -> Path:
    """A run directory as the runner leaves it: ``metrics.jsonl`` and Hydra's overrides."""
    run_dir.mkdir(parents=True)
    metrics = MetricsFile(run_dir / "metrics.jsonl")
    for record in records:
        metrics.write(record)
    metrics.close()
    if overrides is not None:
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra/overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    return run_dir


def training_records(scale: float, steps: int = 6) -> list[dict]:
    """A loss falling over ``steps`` logged windows, an epoch mean, validations, one test."""
    records = []
    for step in range(1, steps + 1):
        records.append({"step": 10 * step, "epoch": 0, "train/loss": scale / step**2,
                        "perf/samples_per_s": 100.0})  # fmt: skip
        if step % 2 == 0:
            records.append(
                {"step": 10 * step, "epoch": step // 2, "train/epoch_loss": scale / step}
            )
            records.append({"step": 10 * step, "epoch": step // 2, "val/loss": scale / step,
                            "val/acc": 0.2 * step})  # fmt: skip
    records.append(
        {"step": 10 * steps, "epoch": steps // 2, "test/loss": scale / steps, "test/acc": 0.5}
    )
    return records


def test_read_series_keeps_steps_and_epochs_and_reads_non_finite_values(tmp_path):
    records = training_records(2.0)
    records.append({"step": 70, "epoch": 4, "val/loss": float("nan")})
    series = read_series(write_run(tmp_path / "run", records) / "metrics.jsonl")
    assert "perf/samples_per_s" not in series
    assert series["train/loss"].steps == (10, 20, 30, 40, 50, 60)
    assert series["train/epoch_loss"].at_epoch(2) == pytest.approx(0.5)
    assert series["train/epoch_loss"].at_epoch(7) is None
    assert math.isnan(series["val/loss"].last)


def test_a_runs_curves_have_a_panel_per_quantity_and_a_line_per_metric(tmp_path):
    series = read_series(write_run(tmp_path / "run", training_records(2.0)) / "metrics.jsonl")
    figure = run_curves_figure(series, "model=stn seed=0")
    panels = {ax.get_title(): ax for ax in figure.axes}
    assert set(panels) == {"loss", "acc"}
    loss_labels = [line.get_label() for line in panels["loss"].get_lines()]
    assert loss_labels == ["train/loss", "train/epoch_loss", "val/loss", "test/loss"]
    assert panels["loss"].get_yscale() == "log"  # 2.0 down to 0.056: a factor of 36
    assert panels["acc"].get_yscale() == "linear"
    assert [line.get_label() for line in panels["acc"].get_lines()] == ["val/acc", "test/acc"]


def test_log_scale_only_for_positive_values_spanning_a_factor_of_twenty():
    assert log_scale_helps([2.3, 0.05])
    assert not log_scale_helps([2.3, 0.5])
    assert not log_scale_helps([-1.0, 30.0])
    assert not log_scale_helps([float("nan")])


def test_runs_differing_only_in_seed_make_one_mean_line_with_a_band(tmp_path):
    runs = []
    for lr, scale in (("0.1", 1.0), ("0.01", 4.0)):
        for seed in (0, 1, 2):
            path = write_run(tmp_path / f"{lr}-{seed}", training_records(scale + seed))
            runs.append(
                (
                    [f"optim.lr={lr}", f"seed={seed}", "device=cpu"],
                    read_series(path / "metrics.jsonl"),
                )
            )
    lines = curve_lines(runs, "val/loss")
    assert [line.label for line in lines] == ["optim.lr=0.1", "optim.lr=0.01"]
    assert all(len(line.series) == 3 for line in lines)
    figure = overlays_figure(["val/loss"], {"val/loss": lines})
    (ax,) = figure.axes
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 2  # a mean and a band each
    mean_line = ax.get_lines()[0]
    assert list(mean_line.get_ydata()) == pytest.approx([2 / 2, 2 / 4, 2 / 6])  # scales 1, 2, 3
    assert "3 seeds" in mean_line.get_label()
    # without a second seed, every run is a line of its own
    single = curve_lines([r for r in runs if "seed=0" in r[0]], "val/loss")
    assert [len(line.series) for line in single] == [1, 1]


@pytest.mark.parametrize(
    "degrees, quantile",
    [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042), (5000, 1.960)],
)
def test_the_95_percent_t_quantile_matches_the_tables(degrees, quantile):
    assert t_quantile_975(degrees) == pytest.approx(quantile, abs=1e-3)


def test_an_estimate_has_the_mean_the_sample_sd_and_the_t_interval():
    estimate = Estimate.of([1.0, 2.0, 3.0, float("nan")])
    assert (estimate.n, estimate.mean, estimate.std) == (3, 2.0, 1.0)
    half = 4.3027 / math.sqrt(3)
    assert (estimate.low, estimate.high) == pytest.approx((2 - half, 2 + half), abs=1e-4)
    assert Estimate.of([5.0]).std is None and Estimate.of([]) is None


def job(number: int, overrides: list[str], value: float, status: str = "completed") -> JobOutcome:
    return JobOutcome(number, overrides, status, Path(str(number)), objective="val/acc",
                      mode="max", value=value, metrics={"test/acc": value - 0.1})  # fmt: skip


def test_seeds_are_pooled_per_setting_and_the_best_mean_comes_first():
    jobs = [
        job(0, ["optim=adam", "seed=0"], 0.90), job(1, ["optim=adam", "seed=1"], 0.80),
        job(2, ["optim=sgd", "seed=0"], 0.95), job(3, ["optim=sgd", "seed=1"], 0.60),
        job(4, ["optim=sgd", "seed=2"], 0.0, status="failed"),
    ]  # fmt: skip
    settings = best_by_mean(pool_seeds(jobs, ["test/acc"]), "max")
    assert [s.overrides for s in settings] == [("optim=adam",), ("optim=sgd",)]
    adam, sgd = settings
    assert adam.jobs == (0, 1) and adam.objective.mean == pytest.approx(0.85)
    assert sgd.jobs == (2, 3, 4) and sgd.objective.n == 2  # the failed job measured nothing
    assert adam.metrics["test/acc"].mean == pytest.approx(0.75)
    assert sgd.objective.std == pytest.approx(math.sqrt(2) * 0.175)


def test_the_sweep_table_fits_80_columns_and_moves_long_values_to_a_legend():
    betas = ["[0.0,0.99]", "[0.0,0.999]", "[0.9,0.9999]"]
    jobs = [
        JobOutcome(n, [f"optim.betas={b}", f"optim.lr=0.00443037524521826{n}",
                       "optim.bias_correction=false", "trainer.epochs=10"],
                   "completed", Path(str(n)), "train/epoch_loss", "min", 100.0 + n,
                   {f"test/{m}": 1.0 for m in ("elbo", "kl", "log_likelihood", "reconstruction")},
                   wall_time_s=12.0)
        for n, b in enumerate(betas)
    ]  # fmt: skip
    fitted = jobs_table(jobs, width=80)
    console = Console(width=80, file=io.StringIO(), color_system=None)
    console.print(fitted.table)
    text = console.file.getvalue() + "\n".join(fitted.lines_below(80))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "0.00443" in text  # a long number shortened, not broken
    assert "every job: optim.bias_correction=false trainer.epochs=10" in text
    assert fitted.left_out  # key metrics went first
    if fitted.legend:
        assert all(value in "\n".join(fitted.legend) for value in betas)
    else:
        assert all(value in text for value in betas)


def test_figure_specs_are_checked_setting_by_setting():
    with pytest.raises(ConfigError, match="sweep.figures.f.kind must be one of curves, by_setting"):
        figure_specs({"f": {"kind": "pie"}})
    with pytest.raises(ConfigError, match="sweep.figures.f has no setting 'colour'"):
        figure_specs({"f": {"kind": "curves", "metric": "val/acc", "colour": "red"}})
    with pytest.raises(
        ConfigError, match="sweep.figures.f needs metric, x for a by_setting figure"
    ):
        figure_specs({"f": {"kind": "by_setting"}})
    with pytest.raises(ConfigError, match="sweep.figures.f.kind"):
        check_sweep_settings(compose_config("+sweep.figures.f.kind=pie"))


def test_the_bias_correction_figure_has_a_panel_per_beta1_and_a_row_per_epoch():
    spec = BySetting(metric="train/epoch_loss", x="optim.lr", lines=["optim.bias_correction"],
                     panels="optim.betas.0", at_epochs=[1, 10], log_x=True)  # fmt: skip
    points = [
        Point({"optim.lr": lr, "optim.bias_correction": correct, "optim.betas.0": beta1},
              lambda metric, epoch, lr=lr: 100.0 * lr * (epoch or 1))
        for lr in (1e-4, 1e-3, 1e-2) for correct in (True, False) for beta1 in (0.0, 0.9)
    ]  # fmt: skip
    figure = by_setting_figure(spec, points)
    assert [ax.get_title() for ax in figure.axes] == [
        "optim.betas.0=0.0, after epoch 1", "optim.betas.0=0.9, after epoch 1",
        "optim.betas.0=0.0, after epoch 10", "optim.betas.0=0.9, after epoch 10",
    ]  # fmt: skip
    for ax in figure.axes:
        assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log"
        assert list(ax.get_lines()[0].get_xdata()) == [1e-4, 1e-3, 1e-2]


def test_the_gan_theory_line_plot_is_saved_and_drawn_with_d_beside_d_star(tmp_path):
    plots = GANTheory(model_mean=2.0).line_plots()
    plot = plots["discriminator"]
    assert set(plot.lines) == {"D (trained)", "D*", "p_data", "p_g"}
    assert plot.lines["D*"][0] > 0.99 and plot.lines["D*"][-1] < 0.01  # p_d's side, p_g's side
    (saved,) = save_line_plots(plots, tmp_path)
    record = json.loads(saved.read_text())
    figure = line_panels_figure([("model.model_mean=2.0", record)] * 3)
    assert len(figure.axes) == 3 and all(len(ax.get_lines()) == 4 for ax in figure.axes)


def test_the_stn_table_is_drawn_with_the_papers_values(tmp_path):
    table = CrossTable(rows="data.distortion", columns=["model.use_stn"], metric="test/acc",
                       offset=100, scale=-100, labels={"false": "CNN", "true": "ST-CNN"},
                       paper={"rts": {"CNN": 0.8, "ST-CNN": 0.5}})  # fmt: skip
    jobs = [
        JobOutcome(n, [], "completed", Path(str(n)), metrics={"test/acc": acc},
                   settings={"data.distortion": "rts", "model.use_stn": stn})
        for n, (stn, acc) in enumerate([(False, 0.97), (True, 0.99)])
    ]  # fmt: skip
    out = table.draw(jobs, tmp_path / "table.png")
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert table.cells(jobs) == {
        ("rts", "CNN"): pytest.approx(3.0),
        ("rts", "ST-CNN"): pytest.approx(1.0),
    }


def test_a_figure_that_cannot_be_drawn_is_a_warning(caplog):
    def broken() -> None:
        raise ValueError("no finite values")

    assert not draw_safely("figures/x.png", broken)
    assert "could not draw figures/x.png (ValueError: no finite values)" in caplog.text


def plot_command(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner.plot", *arguments], capture_output=True, text=True,
        cwd=cwd, env=cli_environment(), timeout=120,
    )  # fmt: skip


def test_runner_plot_overlays_runs_from_two_sweeps_and_a_run(tmp_path):
    for sweep, scale in (("first", 1.0), ("second", 2.0)):
        for number, lr in enumerate(("0.1", "0.01")):
            write_run(tmp_path / sweep / str(number), training_records(scale * (number + 1)),
                      [f"optim.lr={lr}", "device=cpu"])  # fmt: skip
    write_run(tmp_path / "single", training_records(3.0))
    result = plot_command("first", "second", "single", "--metric", "val/acc", "--metric",
                          "train/loss", "--out", "compare.png", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "compare.png: 2 metrics, 5 runs"
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG_SIGNATURE)

    result = plot_command("first", cwd=tmp_path)  # every shared metric, into curves.png
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "curves.png").exists()
    assert result.stdout.strip() == "curves.png: 4 metrics, 2 runs"  # train/ and val/, not test/


@pytest.mark.parametrize(
    "arguments, message",
    [(["nowhere"], "error: nowhere is not a directory"),
     (["empty"], "error: empty holds no run (no metrics.jsonl under it)"),
     (["run", "--metric", "val/bleu"], "error: --metric val/bleu: no run logged it; the runs logged: "),
     (["run", "--out", "fig.bmpx"], "error: --out fig.bmpx: a figure is written as .png, .pdf, .svg")],
)  # fmt: skip
def test_runner_plot_refuses_bad_input_in_one_line(tmp_path, arguments, message):
    (tmp_path / "empty").mkdir()
    write_run(tmp_path / "run", training_records(1.0))
    result = plot_command(*arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "curves.png").exists() and not (tmp_path / "fig.bmpx").exists()


def test_plotting_imports_no_pyplot_so_no_window_can_open(tmp_path):
    code = (
        "import sys; from pathlib import Path; from runner.figures.curves import draw_run_curves; "
        "from runner.records.metrics import read_series; "
        f"draw_run_curves(read_series(Path({str(write_run(tmp_path / 'run', training_records(1.0)) / 'metrics.jsonl')!r})), "
        f"Path({str(tmp_path / 'c.png')!r})); print('matplotlib.pyplot' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, env=cli_environment(MPLBACKEND="TkAgg"), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert (tmp_path / "c.png").read_bytes().startswith(PNG_SIGNATURE)
