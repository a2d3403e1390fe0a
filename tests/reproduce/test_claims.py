"""The rules that decide a paper's claims, on jobs made here: each rule holds, fails, and
says when a value is missing; seeds are pooled into a mean with its interval."""

import json
from pathlib import Path

import pytest

from runner.reproduce.claims import FAILS, HOLDS, UNDECIDED, Job, decide, show
from runner.sweeps.seeds import Estimate


def job(number: int, overrides: list[str], metrics: dict, status: str = "completed",
        run_dir: Path = Path("."), error: str | None = None) -> Job:  # fmt: skip
    return Job(number, tuple(overrides), status, metrics, run_dir, {}, error)


def stn_jobs(errors: dict[tuple[str, str], float]) -> list[Job]:
    """A Table 1 sweep: test accuracy 1 − error for each (distortion, use_stn)."""
    return [
        job(n, [f"data.distortion={d}", f"model.use_stn={stn}"], {"test/acc": 1 - e})
        for n, ((d, stn), e) in enumerate(errors.items())
    ]


BETTER = {"compare": {"kind": "compare", "metric": "test/acc", "relation": "greater",
                      "a": {"model.use_stn": True}, "b": {"model.use_stn": False},
                      "for_each": ["data.distortion"]}}  # fmt: skip


def test_compare_holds_when_every_pair_does():
    jobs = stn_jobs({("rts", "false"): 0.08, ("rts", "true"): 0.01,
                     ("rotated", "false"): 0.05, ("rotated", "true"): 0.02})  # fmt: skip
    verdict = decide(jobs, BETTER["compare"])
    assert verdict.verdict == HOLDS and verdict.summary == "2/2 hold"
    assert [check.label for check in verdict.checks] == ["distortion=rts", "distortion=rotated"]


def test_compare_fails_when_one_pair_does_not():
    jobs = stn_jobs({("rts", "false"): 0.08, ("rts", "true"): 0.01,
                     ("rotated", "false"): 0.02, ("rotated", "true"): 0.05})  # fmt: skip
    verdict = decide(jobs, BETTER["compare"])
    assert verdict.verdict == FAILS and verdict.summary == "1/2 hold"


def test_a_failed_job_leaves_the_claim_undecided_unless_divergence_counts():
    jobs = [job(0, ["optim.bias_correction=false"], {}, status="failed"),
            job(1, ["optim.bias_correction=true"], {"train/epoch_loss": 140.0})]  # fmt: skip
    rule = {"kind": "compare", "metric": "train/epoch_loss", "relation": "greater",
            "a": {"optim.bias_correction": False}, "b": {"optim.bias_correction": True}}  # fmt: skip
    assert decide(jobs, rule).verdict == UNDECIDED
    assert decide(jobs, rule | {"missing_a_holds": True}).verdict == HOLDS


def test_seeds_are_pooled_into_a_mean_and_its_interval():
    jobs = [job(n, [f"optim={o}", f"seed={s}"], {"loss": v})
            for n, (o, s, v) in enumerate([("adam", 0, 1.0), ("adam", 1, 1.2), ("adam", 2, 1.1),
                                           ("sgd", 0, 2.0), ("sgd", 1, 2.2), ("sgd", 2, 2.1)])]  # fmt: skip
    rule = {"kind": "compare", "metric": "loss", "relation": "less",
            "a": {"optim": "adam"}, "b": {"optim": "sgd"}}  # fmt: skip
    verdict = decide(jobs, rule)
    assert verdict.verdict == HOLDS
    interval = Estimate.of([1.0, 1.2, 1.1])
    assert verdict.checks[0].ours.startswith(show(interval))
    assert "±" in verdict.checks[0].ours and interval.high - 1.1 == pytest.approx(0.2484, abs=1e-3)


def test_a_factor_asks_for_a_margin():
    jobs = [job(0, ["loss=ns"], {"g": 5.0}), job(1, ["loss=mm"], {"g": 2.0})]
    rule = {"kind": "compare", "metric": "g", "a": {"loss": "ns"}, "b": {"loss": "mm"}}
    assert decide(jobs, rule | {"factor": 2}).verdict == HOLDS
    assert decide(jobs, rule | {"factor": 3}).verdict == FAILS


def test_largest_at_names_where_the_gain_is_largest():
    errors = {("rts", "false"): 0.24, ("rts", "true"): 0.01,
              ("projective", "false"): 0.21, ("projective", "true"): 0.05}  # fmt: skip
    rule = {"kind": "largest_at", "metric": "test/acc", "a": {"model.use_stn": True},
            "b": {"model.use_stn": False}, "across": "data.distortion", "at": "rts"}  # fmt: skip
    assert decide(stn_jobs(errors), rule).verdict == HOLDS
    assert decide(stn_jobs(errors), rule | {"at": "projective"}).verdict == FAILS


def test_bound_and_near_against_a_metric_a_value_or_a_setting():
    jobs = [job(0, ["model.latent_dim=3"], {"test/log_likelihood": -100.0, "test/elbo": -104.0}),
            job(1, ["model.latent_dim=20"], {"test/log_likelihood": -90.0, "test/elbo": -89.0})]  # fmt: skip
    rule = {"kind": "bound", "metric": "test/log_likelihood", "relation": "at_least",
            "than": "test/elbo", "label_by": ["model.latent_dim"]}  # fmt: skip
    verdict = decide(jobs, rule)
    assert verdict.verdict == FAILS and verdict.checks[1].label == "latent_dim=20"
    assert decide(jobs, rule | {"tolerance": 1.5}).verdict == HOLDS
    far = [job(0, ["model.model_mean=4.0"], {"test/wasserstein": 4.0004})]
    near = {
        "kind": "near",
        "metric": "test/wasserstein",
        "than": "model.model_mean",
        "tolerance": 0.001,
    }
    assert decide(far, near).verdict == HOLDS
    assert decide(far, near | {"tolerance": 0.0001}).verdict == FAILS
    assert (
        decide(
            far, {"kind": "near", "metric": "test/wasserstein", "value": 4, "tolerance": 1e-3}
        ).verdict
        == HOLDS
    )


def test_a_bound_on_the_history_checks_every_logged_value(tmp_path):
    records = [{"step": 5 * i, "optim/step_ratio_p99": v} for i, v in enumerate([0.4, 0.9, 1.1])]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    jobs = [job(0, ["optim=adam"], {}, run_dir=tmp_path)]
    rule = {"kind": "bound", "metric": "optim/step_ratio_p99", "relation": "at_most",
            "value": 1.0, "history": True}  # fmt: skip
    verdict = decide(jobs, rule)
    assert verdict.verdict == FAILS and verdict.checks[0].ours == "2/3 records; extreme 1.1"
    assert decide(jobs, rule | {"value": 1.25}).verdict == HOLDS


def test_a_mean_over_a_range_of_steps(tmp_path):
    for name, values in (("ns", [1.0, 9.0, 11.0, 1.0]), ("mm", [1.0, 1.0, 1.0, 1.0])):
        (tmp_path / name).mkdir()
        lines = [json.dumps({"step": 100 * i, "g": v}) + "\n" for i, v in enumerate(values)]
        (tmp_path / name / "metrics.jsonl").write_text("".join(lines))
    jobs = [job(0, ["loss=ns"], {"g": 1.0}, run_dir=tmp_path / "ns"),
            job(1, ["loss=mm"], {"g": 1.0}, run_dir=tmp_path / "mm")]  # fmt: skip
    rule = {"kind": "compare", "metric": "g", "a": {"loss": "ns"}, "b": {"loss": "mm"}, "factor": 5}
    assert decide(jobs, rule).verdict == FAILS  # the final values are equal
    assert decide(jobs, rule | {"steps": [100, 200]}).verdict == HOLDS  # 10 against 1


def test_best_names_the_winner_and_ranks_the_rest():
    jobs = [job(n, [f"optim={o}"], {"loss": v})
            for n, (o, v) in enumerate([("adam", 0.06), ("adagrad", 0.07), ("sgd", 0.26)])]  # fmt: skip
    rule = {"kind": "best", "metric": "loss", "mode": "min", "by": "optim", "value": "adam"}
    verdict = decide(jobs, rule)
    assert verdict.verdict == HOLDS
    assert verdict.checks[0].ours == "adam 0.06 < adagrad 0.07 < sgd 0.26"
    assert decide(jobs, rule | {"value": "sgd"}).verdict == FAILS
    other = [job(9, ["optim=sgd", "model=other"], {"loss": -1.0})]  # better, but not selected
    where = rule | {"where": {"model": None}}
    assert decide([*jobs, *other], where).verdict == HOLDS
    assert decide([*jobs, *other], rule).verdict == FAILS


def test_an_undecided_claim_says_why_a_job_failed():
    jobs = [job(0, ["optim=adam"], {}, status="failed", error="data: CIFAR-10 file x not found"),
            job(1, ["optim=adagrad"], {"loss": 1.0})]  # fmt: skip
    rule = {"kind": "compare", "metric": "loss", "relation": "less",
            "a": {"optim": "adam"}, "b": {"optim": "adagrad"}}  # fmt: skip
    verdict = decide(jobs, rule)
    assert verdict.verdict == UNDECIDED
    assert verdict.summary.endswith("(job 0 failed: data: CIFAR-10 file x not found)")


def test_no_matching_job_is_undecided():
    assert decide([], BETTER["compare"]).verdict == UNDECIDED


def test_the_report_shows_a_runs_own_figures_in_its_page(tmp_path):
    """``job_figures``: the first completed job's pictures, embedded in report.html and
    named in report.md, beside the sweep's own figures."""
    from runner.reproduce.__main__ import job_figures
    from runner.reproduce.report import write_reports

    for number in (0, 1):
        (tmp_path / "gan" / str(number) / "figures").mkdir(parents=True)
        (tmp_path / "gan" / str(number) / "figures" / "nearest.png").write_bytes(
            b"\x89PNG" + bytes([number])
        )
    (tmp_path / "gan" / "figures").mkdir()
    (tmp_path / "gan" / "figures" / "curves.png").write_bytes(b"\x89PNG sweep")
    jobs = [job(0, [], {}, status="failed", run_dir=tmp_path / "gan" / "0"),
            job(1, [], {}, run_dir=tmp_path / "gan" / "1")]  # fmt: skip
    shown = job_figures(jobs, ["nearest", "interpolations"])
    assert shown == [str(tmp_path / "gan" / "1" / "figures" / "nearest.png")]
    report = {"budget": "smoke", "about": "test", "papers": [],
              "experiments": {"gan": {"counts": "1/2 completed", "wall_time_s": 1.0,
                                      "sweep_dir": str(tmp_path / "gan"), "job_figures": shown}}}  # fmt: skip
    write_reports(report, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "nearest.png" in page
    assert "nearest.png" in (tmp_path / "report.md").read_text()
