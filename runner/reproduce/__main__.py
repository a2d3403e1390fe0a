"""``python -m runner.reproduce [paper=stn|gan|vae|adam|all] [budget=smoke|short|paper]
[out=DIR] [OVERRIDE ...]``: run the experiments the papers' claims need, then decide each
claim and write ``report.md``, ``report.html`` and ``report.json`` in ``out``.

The claims are in ``conf/claims/<paper>.yaml``; each experiment there lists the overrides of
each budget (an experiment without a budget's entry is not run at it, and its claims are
"not run at this budget"). The runs are ordinary sweeps (``python -m runner -m
experiment=...``) in ``out/<experiment>``: W&B, figures and sweep reports as usual, any
launcher (pass ``hydra/launcher=joblib``), and a second call reuses every completed job
(``resume=true``). Exit status: 0 when every claim checked at the budget holds, 1 when one
does not hold or could not be decided, 2 for a bad argument, 130 on Ctrl-C.
"""

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from runner.cli.hydra_setup import CONF_DIR
from runner.cli.suggestions import closest
from runner.platform.errors import CONFIG_ERROR_EXIT_CODE, ConfigError
from runner.platform.files import read_json
from runner.reproduce.claims import FAILS, NOT_RUN, UNDECIDED, Job, decide
from runner.reproduce.report import write_reports
from runner.reproduce.wandb_report import publish_report
from runner.sweeps.outcomes import read_outcomes

BUDGETS = ("smoke", "short", "paper")
INTERRUPTED_EXIT_CODE = 130
RULE_KEYS = ("a", "b", "where")
LIST_KEYS = ("for_each", "label_by")
ONE_KEYS = ("across", "by", "than")


def papers() -> list[str]:
    return sorted(path.stem for path in (CONF_DIR / "claims").glob("*.yaml"))


def parse(words: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``paper=``, ``budget=`` and ``out=`` for the command; every other word goes to the
    sweeps as an override."""
    chosen = {"paper": "all", "budget": "short", "out": ""}
    passed = []
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key in chosen:
            chosen[key] = value
        else:
            passed.append(word)
    check_choice("paper", chosen["paper"], [*papers(), "all"])
    check_choice("budget", chosen["budget"], list(BUDGETS))
    chosen["out"] = chosen["out"] or f"outputs/reproduce/{chosen['budget']}"
    return chosen, passed


def check_choice(name: str, value: str, allowed: list[str]) -> None:
    if value not in allowed:
        meant = closest(value, allowed)
        hint = f"; did you mean {name}={meant}?" if meant else ""
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}{hint}")


def load_claims(paper: str) -> dict[str, Any]:
    """A paper's claims file, checked: every claim names an experiment the file runs and a
    rule the runner knows."""
    from runner.reproduce.claims import RULES

    path = CONF_DIR / "claims" / f"{paper}.yaml"
    spec = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    for claim in spec["claims"]:
        where = f"{path.name}: claim {claim.get('id', '?')}"
        if claim.get("experiment") not in spec["experiments"]:
            raise ConfigError(f"{where} names experiment {claim.get('experiment')!r}, which "
                              f"the file does not run ({', '.join(spec['experiments'])})")  # fmt: skip
        if claim.get("rule", {}).get("kind") not in RULES:
            raise ConfigError(f"{where}: rule.kind must be one of {', '.join(RULES)}")
    return spec


def setting_keys(claims: Sequence[dict[str, Any]]) -> list[str]:
    """Every setting a rule selects or groups jobs by: the sweeps read these from each job's
    config."""
    keys: set[str] = set()
    for claim in claims:
        rule = claim["rule"]
        for part in RULE_KEYS:
            keys.update(rule.get(part) or {})
        for part in LIST_KEYS:
            keys.update(rule.get(part) or [])
        keys.update(rule[part] for part in ONE_KEYS if part in rule)
    return sorted(keys)


def run_experiment(name: str, overrides: Sequence[str], passed: Sequence[str], out: Path) -> dict:
    """The experiment's sweep in ``out/<name>``, resumed when a previous call started it."""
    sweep_dir = out / name
    resume = ["resume=true"] if any(sweep_dir.glob("*/.hydra/hydra.yaml")) else []
    command = [sys.executable, "-m", "runner", "-m", f"experiment={name}", *overrides,
               *passed, *resume, f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    print(f"reproduce: {name} {' '.join([*overrides, *passed])} → {sweep_dir}", flush=True)
    started = time.monotonic()
    finished = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(finished.stderr)
    if finished.returncode == INTERRUPTED_EXIT_CODE:
        raise KeyboardInterrupt
    run = {"sweep_dir": str(sweep_dir), "exit_status": finished.returncode,
           "wall_time_s": round(time.monotonic() - started, 1)}  # fmt: skip
    if finished.returncode == CONFIG_ERROR_EXIT_CODE:  # no job ran: missing data, a bad value
        lines = finished.stderr.strip().splitlines() or ["no reason given"]
        return run | {"refused": lines[-1].removeprefix("error: ")}
    return run | sweep_table(sweep_dir)


def sweep_table(sweep_dir: Path) -> dict[str, Any]:
    """The sweep's own table (``sweep.table``: the STN's Table 1), for the report and the
    docs' paper pages."""
    summary_path = sweep_dir / "sweep_summary.json"
    if not summary_path.is_file():
        return {}
    table = read_json(summary_path).get("table")
    return {"table": table} if table else {}


def read_jobs(sweep_dir: Path, keys: Sequence[str]) -> list[Job]:
    return [
        Job(o.number, tuple(o.overrides), o.status, o.metrics, o.run_dir, o.settings, o.error)
        for o in read_outcomes(sweep_dir, keys)
    ]


def judge(
    spec: dict[str, Any], budget: str, jobs_of: dict[str, list[Job]], refused: dict[str, str]
) -> list[dict]:
    """Each claim's record in the report: its verdict at ``budget`` from the jobs of its
    experiment (``refused``: experiments whose sweep would not start, and why)."""
    judged = []
    for claim in spec["claims"]:
        checked_at = claim.get("budgets", list(BUDGETS))
        jobs = jobs_of.get(claim["experiment"])
        record = {key: claim.get(key) for key in ("id", "where", "statement", "experiment",
                                                   "metric", "paper_value")}  # fmt: skip
        record["rule"] = claim["rule"]
        if jobs is None or budget not in checked_at:
            judged.append(record | {"verdict": NOT_RUN, "ours": "", "checks": [], "run_dirs": []})
            continue
        if claim["experiment"] in refused:
            reason = f"the sweep could not start: {refused[claim['experiment']]}"
            judged.append(
                record | {"verdict": UNDECIDED, "ours": reason, "checks": [], "run_dirs": []}
            )
            continue
        verdict = decide(jobs, claim["rule"])
        ours = "; ".join(f"{check.label}: {check.ours}" for check in verdict.checks)
        if verdict.verdict == UNDECIDED:
            ours = f"{ours}; {verdict.summary}" if ours else verdict.summary
        judged.append(record | {
            "verdict": verdict.verdict, "ours": ours or verdict.summary, "summary": verdict.summary,
            "checks": [check.__dict__ for check in verdict.checks], "run_dirs": list(verdict.run_dirs),
        })  # fmt: skip
    return judged


def job_figures(jobs: Sequence[Job], names: Sequence[str]) -> list[str]:
    """The figures ``names`` (``figures/<name>.png``) of the experiment's first completed job:
    a run's own pictures that no claim decides but the report shows (the GAN's samples
    beside their nearest training images)."""
    done = next((job for job in jobs if job.status == "completed"), None)
    if done is None:
        return []
    paths = (done.run_dir / "figures" / f"{name}.png" for name in names)
    return [str(path) for path in paths if path.is_file()]


def counts(jobs: Sequence[Job]) -> str:
    done = sum(job.status == "completed" for job in jobs)
    return f"{done}/{len(jobs)} completed"


def reproduce(chosen: dict[str, str], passed: Sequence[str]) -> dict[str, Any]:
    out, budget = Path(chosen["out"]).resolve(), chosen["budget"]
    names = papers() if chosen["paper"] == "all" else [chosen["paper"]]
    specs = {paper: load_claims(paper) for paper in names}
    report: dict[str, Any] = {
        "budget": budget, "papers": [], "experiments": {},
        "about": f"python -m runner.reproduce paper={chosen['paper']} budget={budget} "
                 f"{' '.join(passed)}".strip(),
    }  # fmt: skip
    for paper, spec in specs.items():
        jobs_of: dict[str, list[Job]] = {}
        keys = setting_keys(spec["claims"])
        for name, budgets in spec["experiments"].items():
            if budget not in (budgets or {}):
                continue
            overrides = [str(word) for word in budgets[budget] or []]
            run = run_experiment(name, overrides, passed, out)
            jobs_of[name] = read_jobs(out / name, keys)
            figures = job_figures(jobs_of[name], budgets.get("job_figures", []))
            report["experiments"][name] = run | {"counts": counts(jobs_of[name]),
                                                 "job_figures": figures}  # fmt: skip
        refused = {name: run["refused"] for name, run in report["experiments"].items()
                   if "refused" in run}  # fmt: skip
        report["papers"].append({"paper": paper, "title": spec["title"],
                                 "claims": judge(spec, budget, jobs_of, refused)})  # fmt: skip
    return report


def main(arguments: Sequence[str]) -> int:
    try:
        chosen, passed = parse(arguments)
        report = reproduce(chosen, passed)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return CONFIG_ERROR_EXIT_CODE
    except KeyboardInterrupt:
        print("reproduce: stopped; the same command resumes it", file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    paths = write_reports(report, Path(chosen["out"]))
    publish_report(report, Path(chosen["out"]).resolve())
    claims = [claim for paper in report["papers"] for claim in paper["claims"]]
    for claim in claims:
        print(f"{claim['verdict']:>22}  {claim['id']}: {claim['ours'][:120]}")
    bad = [claim["id"] for claim in claims if claim["verdict"] in (FAILS, UNDECIDED)]
    print(f"reproduce: {len(claims) - len(bad)} of {len(claims)} claims hold or were not "
          f"run at this budget; report in {paths[1].parent}")  # fmt: skip
    if bad:
        print(f"reproduce: not holding or undecided: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
