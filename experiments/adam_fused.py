"""The fused paths of Adam and AdaMax: the whole update of a parameter group in one pass.

The multi-tensor path launches one ``torch._foreach_*`` kernel per line of Algorithm 1, so
every parameter, gradient and moment is read from memory five or six times a step. A fused
kernel reads each of them once, which is what a memory-bound update is paid by.

* **Adam** calls torch's own fused kernel (``torch._fused_adam_``, the one behind
  ``torch.optim.Adam(fused=True)``) with this optimizer's moments and hyperparameters. The
  kernel computes exactly Algorithm 1: m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t),
  θ ← θ − α·m̂/(√v̂ + ε), with the L2 term and maximisation applied to the gradient first.
  It reads t from a tensor, so the ablation without bias correction (§6.4) is the same
  kernel with t = ∞: β^∞ = 0 exactly for β in [0, 1), so both corrections are exactly 1.
* **AdaMax** has no fused kernel in torch. Its update is compiled once per parameter group
  with ``torch.compile`` (C++ on the CPU, Triton on a GPU). Everything that changes from step
  to step, the learning rate of a schedule included, enters as a tensor of step sizes, so
  the compiled code never recompiles; the first step pays the compilation (a few seconds).

The step counts stay plain ints in the optimizer's state, as on the other paths, so a
checkpoint written by one path resumes on any other (bit for bit on the same path, to float
rounding on another).
"""

import functools
import logging
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

FUSED_DEVICES = ("cpu", "cuda")


class Hyperparameters(NamedTuple):
    """One parameter group's settings, as every path's update reads them (α is ``lr``)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    bias_correction: bool
    maximize: bool

    @classmethod
    def of(cls, group: dict[str, Any]) -> "Hyperparameters":
        beta1, beta2 = group["betas"]
        return cls(
            group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
            group["bias_correction"], group["maximize"],
        )  # fmt: skip


def fused_kernel_supports(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the fused paths can update tensors of ``dtype`` on ``device``."""
    return device.type in FUSED_DEVICES and dtype.is_floating_point


def check_fused_supports(name: str, device: torch.device, dtype: torch.dtype) -> None:
    """Refuse ``fused=True`` for tensors no fused path can update, in one clear line."""
    if not fused_kernel_supports(device, dtype):
        raise RuntimeError(
            f"{name}(fused=True) needs floating-point parameters on cpu or cuda, got {dtype} "
            f"on {device.type}; use fused=false"
        )


def adam_fused(
    params: list[Tensor],
    grads: list[Tensor],
    ms: list[Tensor],
    vs: list[Tensor],
    steps: list[int],
    h: Hyperparameters,
) -> None:
    """Algorithm 1 for tensors that share a device and dtype, in torch's fused kernel."""
    grads = [_laid_out_like(g, theta) for g, theta in zip(grads, params, strict=True)]
    counts: dict[int, Tensor] = {}
    for t in set(steps):
        count = float(t) if h.bias_correction else math.inf
        counts[t] = torch.tensor(count, dtype=torch.float32, device=params[0].device)
    torch._fused_adam_(
        params, grads, ms, vs, [], [counts[t] for t in steps],
        lr=h.lr, beta1=h.beta1, beta2=h.beta2, weight_decay=h.weight_decay, eps=h.eps,
        amsgrad=False, maximize=h.maximize,
    )  # fmt: skip


def _laid_out_like(tensor: Tensor, like: Tensor) -> Tensor:
    """``tensor``, copied into the memory layout of ``like`` if it has another.

    The fused kernel walks all its tensors through one flat index, so a gradient laid out
    differently from its parameter (say, contiguous for a channels-last weight) is copied.
    """
    if tensor.stride() == like.stride():
        return tensor
    return torch.empty_like(like).copy_(tensor)


def _adamax_update(
    params: list[Tensor],
    grads: list[Tensor],
    ms: list[Tensor],
    us: list[Tensor],
    step_sizes: Tensor,
    settings: Tensor,
    maximize: bool,
) -> None:
    """§7.1's update for every tensor of a group, written for torch.compile to fuse.

    ``step_sizes[i]`` is α/(1 − β1^t) for the i-th tensor (α without bias correction), and
    ``settings`` is (β1, β2, ε, weight decay): tensors, so that no value is compiled in.
    """
    beta1, beta2, eps, weight_decay = settings.unbind()
    for i, (theta, g, m, u) in enumerate(zip(params, grads, ms, us, strict=True)):
        if maximize:
            g = -g
        g = g + weight_decay * theta
        m.lerp_(g, 1 - beta1)
        u.copy_(torch.maximum(u * beta2, g.abs() + eps))
        theta.sub_(step_sizes[i] * m / u)


_compiled_adamax: Callable[..., None] | None = None


def adamax_compiled(
    params: list[Tensor],
    grads: list[Tensor],
    ms: list[Tensor],
    us: list[Tensor],
    steps: list[int],
    h: Hyperparameters,
) -> None:
    """AdaMax for tensors that share a device and dtype, compiled on its first call.

    A new set of shapes compiles again (torch.compile's limit is 8 per process, beyond which
    the same function runs uncompiled); new hyperparameter values never do.
    """
    global _compiled_adamax
    if _compiled_adamax is None:
        # A CUDA build of torch on a machine without CUDA warns on every first compile.
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        _compiled_adamax = torch.compile(_adamax_update)
    dtype, device = params[0].dtype, params[0].device
    sizes = [h.lr / (1 - h.beta1**t) if h.bias_correction else h.lr for t in steps]
    step_sizes = torch.tensor(sizes, dtype=dtype, device=device)
    settings = _settings_tensor(h.beta1, h.beta2, h.eps, h.weight_decay, dtype, device)
    _compiled_adamax(params, grads, ms, us, step_sizes, settings, h.maximize)


@functools.lru_cache(maxsize=64)
def _settings_tensor(
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor:
    """(β1, β2, ε, weight decay) as a tensor, made once per group's settings (read only)."""
    return torch.tensor([beta1, beta2, eps, weight_decay], dtype=dtype, device=device)
