"""Keeping torch's compiler out of runs that do not compile.

``torch.optim.Optimizer`` marks four of its methods (``add_param_group``, ``zero_grad``,
``state_dict``, ``load_state_dict``) with ``torch._disable_dynamo``, which imports
``torch._dynamo`` the first time each is called, to tell the compiler not to trace them: a
second or so at the start of every run, a third of a short run's start-up here. A run that
does not use ``torch.compile`` has nothing that could trace them, so the marks have nothing
to do; :func:`use_dynamo` lets them call the method directly instead, and puts them back for
a run that compiles.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer

CACHED_DISABLE = "__dynamo_disable"  # where torch's mark keeps the function it calls


def dynamo_marked_methods() -> list[Callable[..., Any]]:
    """The functions behind ``Optimizer``'s methods marked with ``torch._disable_dynamo``."""
    probe = torch._disable_dynamo(lambda: None)
    return [
        method.__wrapped__
        for method in vars(Optimizer).values()
        if getattr(method, "__code__", None) is probe.__code__
    ]


def use_dynamo(compiling: bool) -> None:
    """Whether optimizers go through torch's compiler marks: yes for a run that compiles
    (the marks import ``torch._dynamo`` when first called, as torch intends); no otherwise,
    each marked method then calling its own function directly."""
    for function in dynamo_marked_methods():
        if compiling:
            if vars(function).get(CACHED_DISABLE) is function:
                delattr(function, CACHED_DISABLE)
        elif CACHED_DISABLE not in vars(function):
            setattr(function, CACHED_DISABLE, function)
