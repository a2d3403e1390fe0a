"""One run: its settings checked, then prepared (checkpoint, data, model, optimizers built and
restored, nothing written), executed (trained, tested, closed with a ``summary.json``), or
launched in several processes.

``run(cfg, run_dir)`` is the Python API (also ``from runner.train import run``).
"""

from runner.run.lifecycle import run

__all__ = ["run"]
