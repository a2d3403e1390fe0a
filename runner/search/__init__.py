"""Optuna searches (``hydra/sweeper=optuna``, ``search=<model>``): the search space read from
the command line (``space``), the study in its storage (``study``), the sweep that asks for
trials and launches them (``sweep``), each job's side of its trial (``trial``), and the
end-of-search results (``results``)."""

OPTUNA_SWEEPER = "hydra_plugins.runner_plugins.optuna_sweeper.OptunaSweeper"
