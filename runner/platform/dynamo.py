"""Keeping torch's compiler out of runs that do not compile.

``torch.optim.Optimizer`` marks four of its methods (``add_param_group``, ``zero_grad``,
``state_dict``, ``load_state_dict``) with ``torch._disable_dynamo``, which imports
``torch._dynamo`` the first time each is called, to tell the compiler not to trace them: a
second or so at the start of every run, a third of a short run's start-up here. A run that
does not use ``torch.compile`` has nothing that could trace them, so the marks have nothing
to do; :func:`use_dynamo` lets them call the method directly instead, and puts them back for
a run that compiles.

Most of torch's optimizers (SGD among them) also wrap ``step`` in
``_use_grad_for_differentiable``, which imports ``torch._dynamo`` at the first step to mark two
graph breaks, and sets gradients off (unless ``differentiable``) around the step. Outside a
compiled run the breaks mean nothing: :func:`use_dynamo` gives those classes a ``step`` that
does the rest of that wrapper's work, torch's step hooks included, and puts theirs back for a
run that compiles.
"""

import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.optimizer import _use_grad_for_differentiable

CACHED_DISABLE = "__dynamo_disable"  # where torch's mark keeps the function it calls
TORCHS_STEP = "_runner_torchs_step"  # on a step of ours: the one it stands in for


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
    each marked method then calling its own function directly, and each step wrapped by
    ``_use_grad_for_differentiable`` running without its graph breaks."""
    for function in dynamo_marked_methods():
        if compiling:
            if vars(function).get(CACHED_DISABLE) is function:
                delattr(function, CACHED_DISABLE)
        elif CACHED_DISABLE not in vars(function):
            setattr(function, CACHED_DISABLE, function)
    for optimizer_class in optimizer_classes():
        step = vars(optimizer_class).get("step")
        if compiling and hasattr(step, TORCHS_STEP):
            optimizer_class.step = getattr(step, TORCHS_STEP)
        elif not compiling and not hasattr(step, TORCHS_STEP):
            ours = step_without_graph_breaks(step)
            if ours is not None:
                optimizer_class.step = ours


def optimizer_classes() -> Iterator[type[Optimizer]]:
    """Every subclass of ``Optimizer`` imported so far."""
    waiting = list(Optimizer.__subclasses__())
    while waiting:
        optimizer_class = waiting.pop()
        waiting += optimizer_class.__subclasses__()
        yield optimizer_class


_USE_GRAD = _use_grad_for_differentiable(lambda self: None).__code__
"""The code of torch's ``step`` wrapper, to recognise it by."""


def step_without_graph_breaks(step: Any) -> Callable[..., Any] | None:
    """``step`` (a class's, torch's hooks around it once an instance was made) with its
    ``_use_grad_for_differentiable`` wrapper replaced by one without graph breaks; None when
    it has no such wrapper."""
    hooked = getattr(step, "hooked", False)
    use_grad = step.__wrapped__ if hooked else step
    if getattr(use_grad, "__code__", None) is not _USE_GRAD:
        return None
    ours = gradients_as_torch_sets_them(use_grad.__wrapped__)
    if hooked:  # as Optimizer._patch_step_function would have it
        ours = Optimizer.profile_hook_step(ours)
        ours.hooked = True  # type: ignore[attr-defined]
    setattr(ours, TORCHS_STEP, step)
    return ours


def gradients_as_torch_sets_them(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` with gradients on only for a ``differentiable`` optimizer, as torch's wrapper
    sets them, and no graph breaks."""

    @functools.wraps(step)
    def use_grad(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        previous = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(self.defaults["differentiable"])
            return step(self, *args, **kwargs)
        finally:
            torch.set_grad_enabled(previous)

    return use_grad
