"""Adam and AdaMax (Kingma & Ba, 2015, arXiv 1412.6980), written to follow the paper.

Adam keeps exponential moving averages of the gradient (m) and of its square (v), corrects
their bias towards zero (they start at zero), and steps by α·m̂/(√v̂ + ε) (Algorithm 1).
AdaMax replaces the second moment by an exponentially weighted infinity norm u (§7.1).

Each optimizer has three interchangeable paths, tested to agree to float rounding:

* a reference path (``foreach=False``) that updates one tensor at a time and reads like the
  paper, line by line;
* a multi-tensor path (``foreach=True``) that applies the same update to all the parameters
  of a group at once with ``torch._foreach_*`` kernels. It uses the reordering that the paper
  itself suggests at the end of §2 (α_t = α·√(1−β2^t)/(1−β1^t), ε̂ = ε·√(1−β2^t));
* a fused path (``fused=True``) that does the whole update in one pass over memory
  (``experiments/adam_fused.py``): torch's fused Adam kernel, which computes exactly
  Algorithm 1, and a compiled AdaMax. It is Adam's default wherever it applies (floating
  point parameters on the CPU or a CUDA GPU); AdaMax's compiled path is asked for, since its
  first step compiles for a few seconds.

The step counter t is kept per parameter as a Python int, so the bias corrections are plain
floats computed on the host (no device synchronisation), and the optimizer's state is nothing
but tensors and numbers: it survives ``torch.save`` / ``torch.load(weights_only=True)``.
"""

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from experiments.adam_fused import (
    Hyperparameters,
    adam_fused,
    adamax_compiled,
    check_fused_supports,
    fused_kernel_supports,
)
from experiments.base import Histogram, flat_size
from experiments.checks import check_positive, check_sizes
from experiments.classifier import Classifier

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]
"""Parameters, or groups of parameters with their own settings, as torch.optim takes them."""


def check_settings(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> tuple[float, float]:
    """Reject settings outside the paper's domain; return (β1, β2).

    The messages name the settings as the config does (``optim.lr``...), since they are what
    the user sees when a run is refused.
    """
    if not lr > 0:  # also rejects NaN
        raise ValueError(f"optim.lr must be > 0, got {lr}")
    if len(betas) != 2:
        raise ValueError(f"optim.betas must be a pair (β1, β2), got {betas}")
    for i, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(f"optim.betas[{i}] (β{i + 1}) must be in [0, 1), got {beta}")
    if not eps >= 0:
        raise ValueError(f"optim.eps must be >= 0, got {eps}")
    if not weight_decay >= 0:
        raise ValueError(f"optim.weight_decay must be >= 0, got {weight_decay}")
    return float(betas[0]), float(betas[1])


class _MomentOptimizer(Optimizer):
    """What Adam and AdaMax share: checked settings, lazy state, and the choice of path.

    State per parameter: ``step`` (int t), ``m`` (first moment), and the second statistic
    named by ``second`` (``v`` for Adam, ``u`` for AdaMax). It is the same on every path.
    """

    second: str
    fused_by_default: bool
    """Whether ``fused=None`` takes the fused path where the parameters allow it."""

    def __init__(
        self,
        params: ParamsT,
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
        bias_correction: bool,
        maximize: bool,
        foreach: bool | None,
        fused: bool | None,
    ) -> None:
        if fused and foreach is not None:
            raise ValueError("optim.fused=true needs optim.foreach=null: they choose one path each")
        defaults = {
            "lr": lr,
            "betas": check_settings(lr, betas, eps, weight_decay),
            "eps": eps,
            "weight_decay": weight_decay,
            "bias_correction": bias_correction,
            "maximize": maximize,
            "foreach": foreach,
            "fused": fused,
        }
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group, checking the settings it overrides as the defaults are checked."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        settings = (group["lr"], group["betas"], group["eps"], group["weight_decay"])
        group["betas"] = check_settings(*settings)

    def _gather(
        self, group: dict[str, Any]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor], list[int]]:
        """The parameters of ``group`` that have a gradient, with their grads and moments.

        Advances the step counter of each of them, and returns the new counts last.
        """
        params, grads, firsts, seconds, steps = [], [], [], [], []
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            if p.is_complex():
                raise RuntimeError(f"{type(self).__name__} does not support complex parameters")
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state[self.second] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            params.append(p)
            grads.append(grad)
            firsts.append(state["m"])
            seconds.append(state[self.second])
            steps.append(state["step"])
        return params, grads, firsts, seconds, steps

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Take one step for every parameter that has a gradient.

        ``closure`` (optional) re-evaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, firsts, seconds, steps = self._gather(group)
            if not params:
                continue
            h = Hyperparameters.of(group)
            if group["foreach"] is False:
                self._reference(params, grads, firsts, seconds, steps, h)
                continue
            for device, dtype, *lists in _by_device_and_dtype(
                params, grads, firsts, seconds, steps
            ):
                self._kernels(group, device, dtype)(*lists, h)
        return loss

    def _kernels(
        self, group: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> Callable[..., None]:
        """The fused or the multi-tensor update, as ``group``'s settings choose for tensors
        on ``device`` of ``dtype``."""
        if group["fused"]:
            check_fused_supports(type(self).__name__, device, dtype)
            return self._fused
        neither_asked = group["fused"] is None and group["foreach"] is None
        if neither_asked and self.fused_by_default and fused_kernel_supports(device, dtype):
            return self._fused
        return self._multi_tensor

    _reference: Callable[..., None]
    _multi_tensor: Callable[..., None]
    _fused: Callable[..., None]


class Adam(_MomentOptimizer):
    """Adam, Algorithm 1 of the paper.

    Args:
        params: parameters, or dicts of parameters with their own settings.
        lr: the stepsize α (> 0).
        betas: (β1, β2), decay rates of the moment estimates, each in [0, 1).
        eps: ε (>= 0), added to √v̂ after bias correction, as in Algorithm 1.
        weight_decay: L2 penalty coefficient; ``weight_decay·θ`` is added to the gradient
            before the moments see it (as ``torch.optim.Adam``, not the decoupled AdamW).
        bias_correction: divide the moments by (1 − β^t). ``False`` is the ablation of §6.4.
        maximize: ascend the objective instead of descending it.
        foreach: ``False`` for the per-tensor reference path, ``True`` for the multi-tensor
            path; ``None`` lets ``fused`` choose.
        fused: ``True`` for the fused path; ``None`` (default) takes it where torch's fused
            kernel supports the parameters, and the multi-tensor path elsewhere.
        record_every: every this many steps (t a multiple of it), measure the step of
            §2.1 (:meth:`pop_statistics`); ``None`` (default) measures nothing and costs
            nothing.
    """

    second = "v"
    fused_by_default = True
    QUANTILES = (0.5, 0.9, 0.99)
    HISTOGRAM_BINS = 50
    QUANTILE_LIMIT = 2**24  # torch.quantile's largest input; beyond it, an even subsample

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        bias_correction: bool = True,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        record_every: int | None = None,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, bias_correction, maximize, foreach, fused
        )
        if record_every is not None:
            check_positive(record_every=record_every)
        self.record_every = record_every
        self._statistics: dict[str, float | Histogram] = {}

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Take one step (see :class:`_MomentOptimizer`); on a step that ``record_every``
        picks, also measure it."""
        if self.record_every is None or self._next_step() % self.record_every:
            return super().step(closure)
        before = {p: p.detach().clone() for p in self._with_gradients()}
        loss = super().step(closure)
        self._statistics = self.measure_step(before)
        return loss

    def _with_gradients(self) -> Iterator[Tensor]:
        return (p for group in self.param_groups for p in group["params"] if p.grad is not None)

    def _next_step(self) -> int:
        """The step count t the next step gives the parameters (those with a gradient)."""
        first = next(self._with_gradients(), None)
        return 1 + (self.state[first].get("step", 0) if first is not None else 0)

    def measure_step(self, before: dict[Tensor, Tensor]) -> dict[str, float | Histogram]:
        """§2.1's claims about the step just taken, over every parameter that moved:

        - ``step_ratio_p50/p90/p99/max``: quantiles of |m̂/(√v̂ + ε)|, which the paper says
          is usually within [0, 1] (the bias-corrected moments, with or without the
          ablation);
        - ``step_ratio``: its histogram;
        - ``update_over_lr_max``: the largest |Δθ| / α actually applied, which the paper
          bounds by about 1 (by (1 − β1)/√(1 − β2) in the worst case).
        """
        ratios, updates = [], []
        for group in self.param_groups:
            h = Hyperparameters.of(group)
            for p in group["params"]:
                if p not in before:
                    continue
                state, t = self.state[p], self.state[p]["step"]
                m_hat = state["m"] / (1 - h.beta1**t)
                v_hat = state["v"] / (1 - h.beta2**t)
                ratios.append((m_hat / (v_hat.sqrt() + h.eps)).abs().flatten().float())
                updates.append((p - before[p]).abs().max().float() / h.lr)
        values = torch.cat(ratios)
        sample = values[:: math.ceil(values.numel() / self.QUANTILE_LIMIT)]
        quantiles = torch.quantile(sample, torch.tensor(self.QUANTILES, device=sample.device))
        top = values.max().item()
        counts = torch.histc(values, bins=self.HISTOGRAM_BINS, min=0.0, max=max(top, 1.0))
        edges = torch.linspace(0.0, max(top, 1.0), self.HISTOGRAM_BINS + 1)
        named = {
            f"step_ratio_p{round(100 * q)}": v.item()
            for q, v in zip(self.QUANTILES, quantiles, strict=True)
        }
        return named | {
            "step_ratio_max": top,
            "update_over_lr_max": torch.stack(updates).max().item(),
            "step_ratio": Histogram(counts.tolist(), edges.tolist()),
        }

    def pop_statistics(self) -> dict[str, float | Histogram]:
        """What the latest recorded step measured (:meth:`measure_step`), once; else nothing."""
        statistics, self._statistics = self._statistics, {}
        return statistics

    @staticmethod
    def _reference(
        params: list[Tensor],
        grads: list[Tensor],
        ms: list[Tensor],
        vs: list[Tensor],
        steps: list[int],
        h: Hyperparameters,
    ) -> None:
        """Algorithm 1, one parameter tensor at a time, in the paper's symbols."""
        alpha = h.lr
        for theta, g, m, v, t in zip(params, grads, ms, vs, steps, strict=True):
            if h.maximize:
                g = -g
            if h.weight_decay != 0:
                g = g + h.weight_decay * theta
            # m_t = β1·m_{t−1} + (1 − β1)·g_t
            m.mul_(h.beta1).add_(g, alpha=1 - h.beta1)
            # v_t = β2·v_{t−1} + (1 − β2)·g_t²
            v.mul_(h.beta2).addcmul_(g, g, value=1 - h.beta2)
            if h.bias_correction:
                m_hat = m / (1 - h.beta1**t)  # m̂_t = m_t / (1 − β1^t)
                v_hat = v / (1 - h.beta2**t)  # v̂_t = v_t / (1 − β2^t)
            else:
                m_hat, v_hat = m, v  # §6.4's ablation: the raw, biased estimates
            # θ_t = θ_{t−1} − α·m̂_t / (√v̂_t + ε)
            theta.addcdiv_(m_hat, v_hat.sqrt().add_(h.eps), value=-alpha)

    @staticmethod
    def _multi_tensor(
        params: list[Tensor],
        grads: list[Tensor],
        ms: list[Tensor],
        vs: list[Tensor],
        steps: list[int],
        h: Hyperparameters,
    ) -> None:
        """The same update with one kernel launch per operation per (device, dtype) group.

        Uses the end-of-§2 ordering: θ ← θ − α_t·m/(√v + ε̂) with α_t = α·√(1−β2^t)/(1−β1^t)
        and ε̂ = ε·√(1−β2^t), which saves dividing v by its bias correction.
        """
        # Per-parameter scalars, computed once per distinct t (usually there is only one).
        scalars = {}
        for t in set(steps):
            c1, c2 = (
                (1 - h.beta1**t, math.sqrt(1 - h.beta2**t)) if h.bias_correction else (1.0, 1.0)
            )
            scalars[t] = (-h.lr * c2 / c1, h.eps * c2)
        g = _effective_gradient(params, grads, h.weight_decay, h.maximize)
        torch._foreach_lerp_(ms, g, 1 - h.beta1)
        torch._foreach_mul_(vs, h.beta2)
        torch._foreach_addcmul_(vs, g, g, 1 - h.beta2)
        del g
        denominator = torch._foreach_sqrt(vs)
        torch._foreach_add_(denominator, [scalars[t][1] for t in steps])
        torch._foreach_addcdiv_(params, ms, denominator, [scalars[t][0] for t in steps])

    _fused = staticmethod(adam_fused)  # Algorithm 1 in torch's fused kernel


class AdaMax(_MomentOptimizer):
    """AdaMax, §7.1 of the paper: Adam with the infinity norm in place of the second moment.

    u_t = max(β2·u_{t−1}, |g_t| + ε) and θ_t = θ_{t−1} − (α/(1 − β1^t))·m_t/u_t. The paper has
    no ε here; it is added to |g_t| as ``torch.optim.Adamax`` does, so that a parameter whose
    gradients have all been zero takes a zero step rather than 0/0.

    Args: as :class:`Adam`, with the paper's AdaMax default stepsize α = 0.002, except that
    ``fused=True`` compiles the update with torch.compile on the first step, so ``None``
    takes the multi-tensor path.
    """

    second = "u"
    fused_by_default = False

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        bias_correction: bool = True,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, bias_correction, maximize, foreach, fused
        )

    @staticmethod
    def _reference(
        params: list[Tensor],
        grads: list[Tensor],
        ms: list[Tensor],
        us: list[Tensor],
        steps: list[int],
        h: Hyperparameters,
    ) -> None:
        """Algorithm 2 (§7.1), one parameter tensor at a time, in the paper's symbols."""
        alpha = h.lr
        for theta, g, m, u, t in zip(params, grads, ms, us, steps, strict=True):
            if h.maximize:
                g = -g
            if h.weight_decay != 0:
                g = g + h.weight_decay * theta
            # m_t = β1·m_{t−1} + (1 − β1)·g_t
            m.mul_(h.beta1).add_(g, alpha=1 - h.beta1)
            # u_t = max(β2·u_{t−1}, |g_t| + ε)
            torch.maximum(u.mul_(h.beta2), g.abs().add_(h.eps), out=u)
            # θ_t = θ_{t−1} − (α / (1 − β1^t))·m_t / u_t
            step_size = alpha / (1 - h.beta1**t) if h.bias_correction else alpha
            theta.addcdiv_(m, u, value=-step_size)

    @staticmethod
    def _multi_tensor(
        params: list[Tensor],
        grads: list[Tensor],
        ms: list[Tensor],
        us: list[Tensor],
        steps: list[int],
        h: Hyperparameters,
    ) -> None:
        """The same update with one kernel launch per operation per (device, dtype) group."""
        step_sizes = {
            t: -h.lr / (1 - h.beta1**t) if h.bias_correction else -h.lr for t in set(steps)
        }
        g = _effective_gradient(params, grads, h.weight_decay, h.maximize)
        torch._foreach_lerp_(ms, g, 1 - h.beta1)
        torch._foreach_mul_(us, h.beta2)
        g = torch._foreach_abs(g)
        torch._foreach_add_(g, h.eps)
        torch._foreach_maximum_(us, g)
        del g
        torch._foreach_addcdiv_(params, ms, us, [step_sizes[t] for t in steps])

    _fused = staticmethod(adamax_compiled)  # the update above, compiled into one kernel


def _effective_gradient(
    params: list[Tensor], grads: list[Tensor], weight_decay: float, maximize: bool
) -> list[Tensor]:
    """The gradients the moments see: negated to maximise, plus the L2 term. Never in place."""
    if maximize:
        grads = torch._foreach_neg(grads)
        if weight_decay != 0:
            torch._foreach_add_(grads, params, alpha=weight_decay)
    elif weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    return grads


def _by_device_and_dtype(
    params: list[Tensor],
    grads: list[Tensor],
    firsts: list[Tensor],
    seconds: list[Tensor],
    steps: list[int],
) -> Iterator[tuple[Any, ...]]:
    """(device, dtype, params, grads, firsts, seconds, steps) for each run of parameters
    that share a device and dtype: one kernel call takes tensors of one device and dtype.

    torch.optim's own grouping helper (in C++), since it runs at every step.
    """
    grouped = torch.utils._foreach_utils._group_tensors_by_device_and_dtype(
        [params, grads, firsts, seconds], with_indices=True
    )
    for (device, dtype), (lists, indices) in grouped.items():
        yield device, dtype, *lists, [steps[i] for i in indices]


# The models of the paper's §6 experiments, on which the optimizers are compared.


class LogisticRegression(Classifier):
    """§6.1: multiclass logistic regression, one linear layer on the raw pixels."""

    paper = "adam"

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        self.linear = nn.Linear(in_channels * image_size**2, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return self.linear(images.flatten(1))


class MLP(Classifier):
    """§6.2: a fully connected network of ReLU layers with dropout (two of 1000 in the paper)."""

    paper = "adam"

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        hidden_sizes: tuple[int, ...] = (1000, 1000),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, image_size=image_size, num_classes=num_classes)
        if not 0 <= dropout < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * image_size**2
        for hidden in check_sizes("hidden_sizes", hidden_sizes):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.network = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.network(images)


class CNN(Classifier):
    """§6.3: the convolutional network c64-c64-c128-1000 the paper trains on CIFAR-10.

    Three stages of a 5×5 convolution (64, 64 and 128 filters, ReLU) followed by 3×3 max
    pooling with stride 2, then a fully connected layer of 1000 ReLU units. With
    ``dropout_noise`` (the paper's Figure 3 compares with and without), dropout is applied
    to the input (``input_dropout``) and to the fully connected layer (``dropout``); the
    paper gives no rates, so these are settings. The paper also whitens the inputs; here
    the images come as they are, in [0, 1].
    """

    paper = "adam"

    def __init__(  # noqa: PLR0913 (the paper's sizes, each a setting)
        self,
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        channels: tuple[int, ...] = (64, 64, 128),
        hidden_size: int = 1000,
        dropout_noise: bool = True,
        input_dropout: float = 0.2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, image_size=image_size, num_classes=num_classes,
                       hidden_size=hidden_size)  # fmt: skip
        for name, rate in (("input_dropout", input_dropout), ("dropout", dropout)):
            if not 0 <= rate < 1:
                raise ValueError(f"model.{name} must be in [0, 1), got {rate}")
        if not isinstance(dropout_noise, bool):
            raise ValueError(f"model.dropout_noise must be true or false, got {dropout_noise!r}")
        stages: list[nn.Module] = [nn.Dropout(input_dropout if dropout_noise else 0.0)]
        width = in_channels
        for out in check_sizes("channels", channels):
            stages += [nn.Conv2d(width, out, kernel_size=5, padding=2), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1)]  # fmt: skip
            width = out
        self.features = nn.Sequential(*stages)
        features = flat_size(self.features, (in_channels, image_size, image_size))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(features, hidden_size), nn.ReLU(),
            nn.Dropout(dropout if dropout_noise else 0.0), nn.Linear(hidden_size, num_classes),
        )  # fmt: skip

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.features(images))
