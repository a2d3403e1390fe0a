# `make run` and `make test` create .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
EXAMPLES ?=

SLURM_DIR ?= /tmp/runner-slurm

.PHONY: install run test test-all test-packages gpu-check lint format bench clean golden slurm-install slurm-up slurm-down docs docs-serve results

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip uninstall --quiet --yes runner 2>/dev/null || true  # the distribution's name before paper-runner
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true  # shadows hydra/sweeper=optuna
	touch $@

run: install  ## the main job (pass overrides with ARGS="model.use_stn=false ...")
	$(PY) -m runner $(ARGS)

WORKERS ?= auto
PYTEST := $(PY) -m pytest -n $(WORKERS) --dist loadgroup

test: install test-packages  ## the quick suite: every test but those marked slow, in parallel
	$(PYTEST)

test-all: install test-packages  ## every test, the slow ones too, the fuzzers at length: what CI runs
	HYPOTHESIS_PROFILE=long $(PYTEST) -m ""

test-packages: install  ## SLURM's and PostgreSQL's packages for their tests, where they can be installed
	$(PY) -m tests.system_packages

lint: install  ## ruff, and the layers of runner/ (import-linter's contracts in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# mkdocs 1.x and Material print notices about their successors on every build: not warnings
DOCS_ENV := NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true

docs: install  ## the documentation site, into site/ (--strict: a broken link or a missing page fails)
	$(DOCS_ENV) $(VENV)/bin/mkdocs build --strict

docs-serve: install  ## the documentation site at http://127.0.0.1:8000, rebuilt on every change
	$(DOCS_ENV) $(VENV)/bin/mkdocs serve -a 127.0.0.1:8000

results: install  ## measure what the docs quote (the main job, the papers' claims at the short budget), into docs/results/*.json
	$(PY) bench/results.py

gpu-check: install  ## on a machine with CUDA: its tests and a short GPU benchmark (docs/results/gpu_check.json)
	$(PY) bench/gpu_check.py

golden: install  ## re-record tests/golden/metrics.json (say why in CHANGELOG.md)
	$(PY) -m tests.golden.record

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/bench_adam.py
	$(PY) bench/bench_sweep.py
	$(PY) bench/bench_sweep_scale.py
	$(PY) bench/bench_wandb_service.py
	$(PY) bench/bench_training.py
	$(PY) bench/bench_processes.py
	$(PY) bench/bench_slurm.py
	$(PY) bench/bench_search.py
	$(PY) bench/bench_cli.py
	$(PY) bench/bench_before_after.py
	@if [ -n "$(EXAMPLES)" ]; then $(PY) bench/bench_vae_reference.py --reference $(EXAMPLES)/vae/main.py; \
	else echo "bench_vae_reference.py: skipped (make bench EXAMPLES=<a clone of pytorch/examples>)"; fi

slurm-install: install  ## SLURM, slurmdbd and MariaDB from apt-get, if missing (root)
	$(PY) -m runner.slurm.cluster install

slurm-up: install  ## a local single-node SLURM cluster in $(SLURM_DIR) (root; installs SLURM if missing)
	$(PY) -m runner.slurm.cluster up --dir $(SLURM_DIR)

slurm-down: install  ## stop the cluster slurm-up started (only its own processes)
	$(PY) -m runner.slurm.cluster down --dir $(SLURM_DIR)

clean:  ## remove run outputs and caches (keeps .venv and data/)
	rm -rf outputs/* multirun .pytest_cache .ruff_cache site
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
