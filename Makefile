# `make run` and `make test` create .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
EXAMPLES ?=

SLURM_DIR ?= /tmp/runner-slurm

.PHONY: install run test test-all lint format bench clean slurm-install slurm-up slurm-down

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true  # shadows hydra/sweeper=optuna
	touch $@

run: install  ## the main job (pass overrides with ARGS="model.use_stn=false ...")
	$(PY) -m runner $(ARGS)

test: install  ## the default test suite (leaves out tests marked slow)
	$(PY) -m pytest

test-all: install  ## every test, the slow ones too
	$(PY) -m pytest -m ""

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/bench_adam.py
	$(PY) bench/bench_sweep.py
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
	rm -rf outputs/* multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
