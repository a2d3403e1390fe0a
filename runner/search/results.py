"""What a search found, from the whole study: the best trial (or the Pareto front of several
objectives), how much each searched setting mattered (Optuna's importances), and plots of the
search. Printed, written to ``optimization_results.yaml`` and ``.png`` files in the sweep
directory, and logged to a W&B run of the sweep's group."""

import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from runner.platform.console import console, format_value
from runner.platform.files import write_text_atomically
from runner.search.study import RUN_DIR, SURPLUS, StudySettings, requeued_numbers

RESULTS_FILE = "optimization_results.yaml"


def trial_states(trials: list[FrozenTrial]) -> dict[str, int]:
    """Trials by how they ended; interrupted ones queued again and surplus ones apart."""
    requeued = requeued_numbers(trials)

    def state(trial: FrozenTrial) -> str:
        if trial.state == TrialState.FAIL and trial.number in requeued:
            return "requeued"
        if trial.state == TrialState.FAIL and trial.system_attrs.get(SURPLUS):
            return "surplus"
        return trial.state.name.lower()

    return dict(Counter(state(trial) for trial in trials))


def describe_trial(trial: FrozenTrial, metrics: list[str]) -> dict[str, Any]:
    return {
        "trial": trial.number,
        "values": dict(zip(metrics, trial.values, strict=True)),
        "params": trial.params,
        "run_dir": trial.user_attrs.get(RUN_DIR),
    }


def importances(study: optuna.Study, objectives: dict[str, str]) -> dict[str, dict[str, float]]:
    """For each objective, how much each setting matters, by Optuna's default evaluator
    (PED-ANOVA: how far each setting's values among the best 10% of the completed trials
    differ from its values over all of them); empty until there are enough trials to tell."""
    found = {}
    for index, (metric, mode) in enumerate(objectives.items()):
        # One objective is judged in the study's direction; of several, each is given as a
        # target, which the evaluator reads as lower-is-better (hence the sign).
        sign = -1.0 if mode == "max" else 1.0
        target = None if len(objectives) == 1 else (lambda t, i=index, s=sign: s * t.values[i])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # notes on targets, and on studies too small
                shares = optuna.importance.get_param_importances(study, target=target)
        except (RuntimeError, ValueError):  # fewer than two completed trials, or all alike
            continue
        found[metric] = {name: float(share) for name, share in shares.items()}
    return found


def summarise(study: optuna.Study, settings: StudySettings) -> dict[str, Any]:
    metrics = list(settings.objectives)
    trials = study.get_trials(deepcopy=False)
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    results: dict[str, Any] = {
        "study_name": settings.study_name,
        "storage": settings.storage,
        "objectives": settings.objectives,
        "trials": trial_states(trials),
        "importances": importances(study, settings.objectives),
    }
    if completed and settings.multi_objective:
        results["pareto_front"] = [describe_trial(t, metrics) for t in study.best_trials]
    elif completed:
        best = describe_trial(study.best_trial, metrics)
        results |= {
            "best_trial": best["trial"], "best_value": study.best_value,
            "best_params": best["params"], "best_run_dir": best["run_dir"],
        }  # fmt: skip
    return results


def save_plots(study: optuna.Study, settings: StudySettings, sweep_dir: Path) -> dict[str, Path]:
    """The optimisation history (one objective) or the Pareto front (several), as PNG; call
    it once the study has a completed trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    metrics = list(settings.objectives)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # Optuna's matplotlib plots are
        if settings.multi_objective:
            name, axes = "pareto_front", plots.plot_pareto_front(study, target_names=metrics)
        else:
            name = "optimization_history"
            axes = plots.plot_optimization_history(study, target_name=metrics[0])
    path = sweep_dir / f"{name}.png"
    axes.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(axes.figure)
    return {name: path}


def results_table(results: dict[str, Any]) -> Table:
    counts = ", ".join(f"{n} {state}" for state, n in sorted(results["trials"].items()))
    table = Table(title=f"study {results['study_name']}: {counts}", header_style="bold")
    table.add_column("")
    table.add_column("value", overflow="fold")
    metric = next(iter(results["objectives"]))
    if "best_trial" in results:
        table.add_row(
            f"best {metric}",
            f"{format_value(results['best_value'])} (trial {results['best_trial']})",
        )
        for name, value in results["best_params"].items():
            table.add_row(f"  {name}", str(value))
    for solution in results.get("pareto_front", []):
        values = ", ".join(f"{m} {format_value(v)}" for m, v in solution["values"].items())
        params = " ".join(f"{k}={v}" for k, v in solution["params"].items())
        table.add_row(f"Pareto: trial {solution['trial']}", f"{values}  ({params})")
    for objective, shares in results["importances"].items():
        shown = ", ".join(f"{name} {share:.2f}" for name, share in shares.items())
        table.add_row(f"importance for {objective}", shown)
    return table


def report_results(
    study: optuna.Study, settings: StudySettings, sweep_dir: Path, logger: dict[str, Any]
) -> dict[str, Any]:
    """Print, write and log what the search found; return it."""
    results = summarise(study, settings)
    completed = "best_trial" in results or "pareto_front" in results
    plots = save_plots(study, settings, sweep_dir) if completed else {}
    results["plots"] = {name: str(path) for name, path in plots.items()}
    text = OmegaConf.to_yaml(OmegaConf.create(finite(results)))
    write_text_atomically(text, sweep_dir / RESULTS_FILE)
    console.print(results_table(results))
    console.print(f"search results: {sweep_dir / RESULTS_FILE}", soft_wrap=True)
    log_to_wandb(results, plots, sweep_dir, logger)
    return results


def finite(value: Any) -> Any:
    """YAML holds no NaN or infinity that reads back as a number everywhere: write them as text."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def log_to_wandb(
    results: dict[str, Any], plots: dict[str, Path], sweep_dir: Path, logger: dict[str, Any]
) -> None:
    """One W&B run for the search, in the group of its jobs: the plots and the results."""
    from runner.records.settings import LoggerSettings
    from runner.records.wandb_run import RunLabels, start_wandb

    settings = LoggerSettings.of(logger).for_sweep(
        str(sweep_dir), f"study {results['study_name']}", tags=["optuna-study"]
    )
    labels = RunLabels("sweep-report")
    run = start_wandb(settings, finite(results), sweep_dir, run_id=None, labels=labels)
    if run is None:
        return
    run.log_images(plots, step=0)
    run.set_summary({k: v for k, v in finite(results).items() if k != "plots"})
    run.finish(failed=False)
