"""The science: one module per paper, plain PyTorch, usable from a notebook.

Every experiment is an :class:`experiments.base.Experiment`; the runner drives it through that
small face and knows nothing else about it.
"""
