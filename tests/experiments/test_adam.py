"""Adam and AdaMax against torch.optim, and against the claims of Kingma & Ba (1412.6980).

§2.1 bounds the effective step |Δ_t| = α·|m̂_t|/√v̂_t by α(1−β1)/√(1−β2) when
(1−β1) > √(1−β2), and by α otherwise. The paper derives them from the sparse case (zeros then
one spike); they are theorems for β1 = 0 (case 1) and for β1 = β2 (case 2, by Jensen), and
hold by a wide margin for random gradients, which is what the property tests check. For
structured gradient sequences they can be exceeded, which the last tests document.
"""

import io
import math
import re
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from experiments.adam import Adam, AdaMax

Optim = type[Adam] | type[AdaMax]

PATHS = {  # the settings that choose each path
    "reference": {"foreach": False},
    "multi_tensor": {"foreach": True},
    "fused": {"fused": True},
}
ADAM_PATHS = list(PATHS)
CHEAP_PATHS = ["reference", "multi_tensor"]
"""AdaMax's fused path compiles (seconds for each new shape or setting), so the tests that
vary shapes and settings run it in the slow suite, and one test below in the default one."""


def optim_paths(resumed: bool = False) -> list:
    """(optimizer, path) pairs: all of Adam's, AdaMax's compiled one marked slow.

    ``resumed``: (optimizer, path, path resumed on) triples instead.
    """
    combinations = [(path,) for path in PATHS]
    if resumed:
        combinations = [(path, other) for path in PATHS for other in PATHS]
    pairs = []
    for optim in (Adam, AdaMax):
        for paths in combinations:
            slow = optim is AdaMax and "fused" in paths
            marks = [pytest.mark.slow] if slow else []
            name = "-".join([optim.__name__, *paths])
            pairs.append(pytest.param(optim, *paths, id=name, marks=marks))
    return pairs


# ----------------------------------------------------------------------------- helpers


def make_model(name: str) -> nn.Module:
    """Small models whose parameters cover the shapes an optimizer meets."""
    torch.manual_seed(0)
    if name == "mlp":
        return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    if name == "conv":
        return nn.Sequential(
            nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.Conv2d(6, 4, 1), nn.Flatten(), nn.Linear(4, 2)
        )
    if name == "mixed":  # scalars, a vector of one, a channels-last 4-d tensor
        shapes = [(), (1,), (7,), (3, 5), (2, 3, 4, 5)]
        params = [nn.Parameter(torch.randn(shape)) for shape in shapes]
        params.append(nn.Parameter(torch.randn(4, 3, 3, 3).to(memory_format=torch.channels_last)))
        return nn.ParameterList(params)
    raise ValueError(name)


def gradient_sequence(params: list[Tensor], steps: int, seed: int) -> list[list[Tensor]]:
    """Seeded random gradients, one list per step, with scales spread over six decades."""
    generator = torch.Generator().manual_seed(seed)
    sequence = []
    for _ in range(steps):
        scale = 10 ** (6 * torch.rand((), generator=generator).item() - 3)
        sequence.append([scale * torch.randn(p.shape, generator=generator) for p in params])
    return sequence


def run(
    make_optimizer: Callable[[list[Tensor]], torch.optim.Optimizer],
    params: list[Tensor],
    grads: list[list[Tensor | None]],
) -> list[Tensor]:
    """Copies of ``params`` after one step per entry of ``grads`` (None: no gradient)."""
    params = [p.detach().clone().requires_grad_() for p in params]
    optimizer = make_optimizer(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = None if g is None else g.clone()
        optimizer.step()
    return [p.detach() for p in params]


def step_sizes(optim: Optim, grads: Tensor, **settings: object) -> Tensor:
    """|Δ_t| for each step (rows) of each independent gradient sequence (columns).

    ``grads`` is [T, n]: column j is the gradient sequence of the j-th entry of one parameter
    vector. Runs in float64, so that the measured steps carry no rounding of their own.
    """
    theta = torch.zeros(grads.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = optim([theta], **settings)
    deltas = []
    for g in grads:
        before = theta.detach().clone()
        theta.grad = g.to(torch.float64)
        optimizer.step()
        deltas.append((theta.detach() - before).abs())
    return torch.stack(deltas)


def spike_sequences(steps: int, generator: torch.Generator) -> Tensor:
    """Columns that are zero except for one spike, at several delays, of several sizes."""
    delays = [0, 1, 2, 5, 10, 50, steps // 2, steps - 1]
    sizes = [1e-4, 1.0, 1e4]
    grads = torch.zeros(steps, len(delays) * len(sizes), dtype=torch.float64)
    for j, (delay, size) in enumerate((d, s) for d in delays for s in sizes):
        sign = 1.0 if torch.rand((), generator=generator) < 0.5 else -1.0
        grads[delay, j] = sign * size
    return grads


def random_sequences(steps: int, n: int, generator: torch.Generator) -> Tensor:
    """Random signs, magnitudes log-uniform over eight decades, about half of them zero."""
    magnitude = 10 ** (8 * torch.rand(steps, n, generator=generator, dtype=torch.float64) - 4)
    sign = torch.randn(steps, n, generator=generator, dtype=torch.float64).sign()
    kept = torch.rand(steps, n, generator=generator, dtype=torch.float64) < 0.5
    return magnitude * sign * kept


# ------------------------------------------------------------ agreement with torch.optim

TORCH = {Adam: torch.optim.Adam, AdaMax: torch.optim.Adamax}
TOLERANCE = {
    # float32: 1e-6 relative, and a floor of about one ulp of a unit weight, for the entries
    # that pass near zero (there the rounding of a single update is all the difference).
    torch.float32: {"rtol": 1e-6, "atol": 1e-7},
    torch.float64: {"rtol": 1e-10, "atol": 1e-14},
}


def cast(params: list[Tensor], grads: list[list[Tensor]], dtype: torch.dtype) -> tuple:
    return [p.to(dtype) for p in params], [[g.to(dtype) for g in step] for step in grads]


@pytest.mark.parametrize("model", ["mlp", "conv", "mixed"])
@pytest.mark.parametrize(("optim", "path"), optim_paths())
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_over_100_steps(
    model: str, optim: Optim, path: str, weight_decay: float, dtype: torch.dtype
) -> None:
    params = list(make_model(model).parameters())
    params, grads = cast(params, gradient_sequence(params, 100, seed=1), dtype)
    ours = run(lambda ps: optim(ps, weight_decay=weight_decay, **PATHS[path]), params, grads)
    theirs = run(lambda ps: TORCH[optim](ps, weight_decay=weight_decay), params, grads)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOLERANCE[a.dtype])


@pytest.mark.parametrize(("optim", "path"), optim_paths())
def test_matches_torch_with_gaps_groups_and_maximize(optim: Optim, path: str) -> None:
    """Parameters that miss some gradients (their step counts drift apart), two groups with
    their own settings, and maximisation."""
    params = list(make_model("mixed").parameters())
    grads: list[list[Tensor | None]] = [list(step) for step in gradient_sequence(params, 60, 2)]
    for t, step in enumerate(grads):
        for i in range(len(step)):
            if (t + i) % (i + 2) == 0:
                step[i] = None

    def groups(ps: list[Tensor]) -> list[dict]:
        return [{"params": ps[:3], "lr": 3e-3, "betas": (0.8, 0.99)}, {"params": ps[3:]}]

    settings = {"weight_decay": 0.05, "maximize": True}
    ours = run(lambda ps: optim(groups(ps), **settings, **PATHS[path]), params, grads)
    theirs = run(lambda ps: TORCH[optim](groups(ps), **settings), params, grads)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOLERANCE[a.dtype])


@pytest.mark.parametrize(("optim", "path"), optim_paths())
@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_fast_paths_agree_with_reference(
    optim: Optim, path: str, bias_correction: bool, weight_decay: float
) -> None:
    """Including float64 and float32 parameters in one group (two groups of kernels)."""
    params = list(make_model("conv").parameters()) + list(make_model("mixed").parameters())
    params = [p.double() if i % 2 else p for i, p in enumerate(params)]
    grads = [
        [g.to(p.dtype) for g, p in zip(step, params, strict=True)]
        for step in gradient_sequence(params, 100, 3)
    ]
    settings = {"weight_decay": weight_decay, "bias_correction": bias_correction}
    fast = run(lambda ps: optim(ps, **PATHS[path], **settings), params, grads)
    reference = run(lambda ps: optim(ps, **PATHS["reference"], **settings), params, grads)
    for a, b in zip(fast, reference, strict=True):
        torch.testing.assert_close(a, b, **TOLERANCE[a.dtype])


@pytest.mark.slow  # torch.compile takes half a minute on 2 cores
def test_compiled_adamax_agrees_with_reference_and_compiles_once() -> None:
    """100 float32 steps under a learning rate that changes every step: one compilation,
    and the result of the reference path to 1e-6."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()  # whatever an earlier test of this process compiled
    params = list(make_model("conv").parameters())
    grads = gradient_sequence(params, 100, seed=5)

    def scheduled(path: str) -> Callable[[list[Tensor]], torch.optim.Optimizer]:
        def make(ps: list[Tensor]) -> torch.optim.Optimizer:
            optimizer = AdaMax(ps, weight_decay=0.01, **PATHS[path])
            original = optimizer.step

            def step() -> None:  # a learning rate that decays with every step
                original()
                optimizer.param_groups[0]["lr"] *= 0.99

            optimizer.step = step  # type: ignore[method-assign]
            return optimizer

        return make

    graphs_before = counters["stats"]["unique_graphs"]
    compiled = run(scheduled("fused"), params, grads)
    assert counters["stats"]["unique_graphs"] - graphs_before == 1
    reference = run(scheduled("reference"), params, grads)
    for a, b in zip(compiled, reference, strict=True):
        torch.testing.assert_close(a, b, **TOLERANCE[a.dtype])


# ------------------------------------------------------------------ the claims of §2.1

SEEDS = range(4)
SCALES = [1e-6, 1e-2, 1.0, 1e3]
BETAS = [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99), (0.99, 0.9999)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("betas", BETAS)
@pytest.mark.parametrize("path", ADAM_PATHS)
def test_first_step_with_bias_correction_is_alpha(
    seed: int, scale: float, betas: tuple[float, float], path: str
) -> None:
    g = scale * torch.randn(1, 1000, generator=torch.Generator().manual_seed(seed))
    delta = step_sizes(Adam, g, lr=1e-3, betas=betas, eps=0.0, **PATHS[path])
    torch.testing.assert_close(delta, torch.full_like(delta, 1e-3), rtol=1e-12, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_first_step_with_eps_is_about_alpha(seed: int) -> None:
    """With the default ε, |Δ1| = α·|g|/(|g| + ε): α up to ε/|g|, and 0 where g = 0."""
    g = torch.randn(1, 1000, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    g[0, ::7] = 0
    delta = step_sizes(Adam, g, lr=1e-3)[0]
    torch.testing.assert_close(delta, 1e-3 * g[0].abs() / (g[0].abs() + 1e-8), rtol=1e-12, atol=0)
    assert (delta[g[0] == 0] == 0).all()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("betas", BETAS)
def test_first_step_without_bias_correction(
    seed: int, scale: float, betas: tuple[float, float]
) -> None:
    """The §6.4 ablation: Δ1 = α(1−β1)/√(1−β2), ≈3.16α at the default betas."""
    beta1, beta2 = betas
    g = scale * torch.randn(1, 1000, generator=torch.Generator().manual_seed(seed))
    for path in ADAM_PATHS:
        delta = step_sizes(
            Adam, g, lr=1e-3, betas=betas, eps=0.0, bias_correction=False, **PATHS[path]
        )
        expected = 1e-3 * (1 - beta1) / math.sqrt(1 - beta2)
        torch.testing.assert_close(delta, torch.full_like(delta, expected), rtol=1e-12, atol=0)


def paper_bound(lr: float, beta1: float, beta2: float) -> float:
    """§2.1's bound on |Δ_t|."""
    return lr * (1 - beta1) / math.sqrt(1 - beta2) if 1 - beta1 > math.sqrt(1 - beta2) else lr


@pytest.mark.parametrize(
    "betas",
    [(0.9, 0.999), (0.5, 0.999), (0.0, 0.999), (0.9, 0.9), (0.99, 0.99), (0.5, 0.5), (0.9, 0.95)],
)
@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("path", ADAM_PATHS)
def test_step_bound_after_a_spike(
    betas: tuple[float, float], bias_correction: bool, path: str
) -> None:
    """The paper's severe case: a long run of zeros, one spike, zeros again.

    (Only for β1² ≤ β2: otherwise m decays more slowly than √v after the spike and the steps
    grow without bound; see test_section_2_1_bounds_are_not_universal.)
    """
    beta1, beta2 = betas
    grads = spike_sequences(300, torch.Generator().manual_seed(0))
    delta = step_sizes(
        Adam, grads, lr=1e-3, betas=betas, bias_correction=bias_correction, **PATHS[path]
    )
    assert delta.max() <= paper_bound(1e-3, beta1, beta2) * (1 + 1e-9)
    # and at a late spike the bound is nearly reached (case 1) or reached (case 2)
    if bias_correction and 1 - beta1 > math.sqrt(1 - beta2):
        t = 300  # the spike at delay steps - 1
        expected = 1e-3 * (1 - beta1) / (1 - beta1**t) * math.sqrt((1 - beta2**t) / (1 - beta2))
        assert delta[-1].max() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "betas",
    [(0.9, 0.999), (0.5, 0.999), (0.0, 0.999), (0.0, 0.9), (0.9, 0.9), (0.99, 0.99), (0.5, 0.5)],
)
def test_step_bound_over_random_gradients(seed: int, betas: tuple[float, float]) -> None:
    """Random signs and magnitudes over eight decades, with many zeros, for 300 steps."""
    beta1, beta2 = betas
    grads = random_sequences(300, 200, torch.Generator().manual_seed(seed))
    delta = step_sizes(Adam, grads, lr=1e-3, betas=betas)
    assert delta.max() <= paper_bound(1e-3, beta1, beta2) * (1 + 1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("c", [1e-5, 0.37, 3.0, 1e6])
@pytest.mark.parametrize("optim", [Adam, AdaMax])
@pytest.mark.parametrize("bias_correction", [True, False])
def test_updates_are_invariant_to_gradient_scale(
    seed: int, c: float, optim: Optim, bias_correction: bool
) -> None:
    """With ε = 0, multiplying every gradient by c > 0 changes no update."""
    grads = torch.randn(100, 50, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    settings = {"eps": 0.0, "bias_correction": bias_correction}
    plain = step_sizes(optim, grads, **settings)
    scaled = step_sizes(optim, c * grads, **settings)
    torch.testing.assert_close(scaled, plain, rtol=1e-10, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.99), (0.0, 0.999), (0.95, 0.9999)])
@pytest.mark.parametrize("path", CHEAP_PATHS)
def test_adamax_steps_never_exceed_alpha(seed: int, betas: tuple[float, float], path: str) -> None:
    generator = torch.Generator().manual_seed(seed)
    grads = torch.cat(
        [spike_sequences(300, generator), random_sequences(300, 100, generator)], dim=1
    )
    delta = step_sizes(AdaMax, grads, lr=2e-3, betas=betas, **PATHS[path])
    assert delta.max() <= 2e-3 * (1 + 1e-9)
    g1 = torch.logspace(-4, 4, 9, dtype=torch.float64) * torch.tensor([1.0, -1.0]).repeat(5)[:9]
    first = step_sizes(AdaMax, g1.unsqueeze(0), lr=2e-3, betas=betas, eps=0.0, **PATHS[path])
    torch.testing.assert_close(first, torch.full_like(first, 2e-3), rtol=1e-12, atol=0)


def test_section_2_1_bounds_are_not_universal() -> None:
    """Two gradient sequences on which Adam's steps exceed the bounds of §2.1.

    1. Defaults, a gradient growing by β2/β1 per step after a long quiet run. Cauchy–Schwarz
       gives the tight bound: with w_i, u_i the bias-corrected weights of g_i in m̂ and v̂,
       |m̂|/√v̂ ≤ √(Σ w_i²/u_i), reached when g_i ∝ w_i/u_i ∝ (β2/β1)^i. Here ≈ 1.8× §2.1's.
    2. β1² > β2 (case 2, bound α), one spike and then zeros: m decays as β1^k but √v as
       β2^(k/2), so the steps grow geometrically.
    """
    beta1, beta2, steps, rising = 0.9, 0.999, 1000, 100
    grads = torch.zeros(steps, 1, dtype=torch.float64)
    grads[-rising:, 0] = (beta2 / beta1) ** torch.arange(rising, dtype=torch.float64)
    delta = step_sizes(Adam, grads, lr=1.0, betas=(beta1, beta2), eps=1e-30)[-1, 0].item()
    ages = torch.arange(rising, dtype=torch.float64)  # t − i over the nonzero gradients
    w = (1 - beta1) * beta1**ages / (1 - beta1**steps)
    u = (1 - beta2) * beta2**ages / (1 - beta2**steps)
    assert delta == pytest.approx(math.sqrt((w**2 / u).sum().item()), rel=1e-9)
    assert delta > 1.5 * paper_bound(1.0, beta1, beta2)

    beta1, beta2 = 0.9, 0.5
    grads = torch.zeros(30, 1, dtype=torch.float64)
    grads[0] = 1.0
    delta = step_sizes(Adam, grads, lr=1.0, betas=(beta1, beta2), eps=0.0)[:, 0]
    assert delta[0] == pytest.approx(1.0, rel=1e-12)  # the multi-tensor path rounds differently
    assert delta[-1] > 100 * paper_bound(1.0, beta1, beta2)


def test_adamax_bound_is_not_universal() -> None:
    """A gradient shrinking by β2 per step keeps u_t = |g_1|·β2^(t−1) while m_t adds up:
    |Δ_t| → α(1−β1)/(1−β1/β2)/(1−β1^t), ≈ 1.009α at the default betas."""
    beta1, beta2, steps = 0.9, 0.999, 200
    grads = (beta2 ** torch.arange(steps, dtype=torch.float64)).unsqueeze(1)
    delta = step_sizes(AdaMax, grads, lr=1.0, betas=(beta1, beta2), eps=0.0)[-1, 0].item()
    ratio = beta1 / beta2
    expected = (1 - beta1) * (1 - ratio**steps) / (1 - ratio) / (1 - beta1**steps)
    assert delta == pytest.approx(expected, rel=1e-9)
    assert 1.0 < delta < 1.01


# ------------------------------------------------------------------ state and settings


@pytest.mark.parametrize(("optim", "path", "resumed_path"), optim_paths(resumed=True))
def test_resume_from_state_dict_is_exact(optim: Optim, path: str, resumed_path: str) -> None:
    """A checkpoint of any path resumes on any path; on the same path, bit for bit."""

    def make(model: nn.Module, path: str) -> torch.optim.Optimizer:
        params = list(model.parameters())
        groups = [{"params": params[:2], "lr": 5e-3}, {"params": params[2:]}]
        return optim(groups, weight_decay=0.01, **PATHS[path])

    def train(model: nn.Module, optimizer: torch.optim.Optimizer, grads: list) -> None:
        for step in grads:
            for p, g in zip(model.parameters(), step, strict=True):
                p.grad = g.clone()
            optimizer.step()

    model = make_model("conv")
    grads = gradient_sequence(list(model.parameters()), 16, seed=4)

    straight = make_model("conv")
    train(straight, make(straight, path), grads)

    first = make_model("conv")
    optimizer = make(first, path)
    train(first, optimizer, grads[:7])
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optim": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)

    resumed = make_model("conv")
    with torch.no_grad():  # start from different weights, so that loading must do the work
        for p in resumed.parameters():
            p.add_(1.0)
    resumed.load_state_dict(checkpoint["model"])
    optimizer = make(resumed, resumed_path)
    optimizer.load_state_dict(checkpoint["optim"])
    assert all(state["step"] == 7 for state in optimizer.state.values())
    assert sorted(next(iter(optimizer.state.values()))) == ["m", "step", optim.second]
    train(resumed, optimizer, grads[7:])

    for a, b in zip(resumed.parameters(), straight.parameters(), strict=True):
        if resumed_path == path:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, **TOLERANCE[a.dtype])


@pytest.mark.parametrize("optim", [Adam, AdaMax])
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lr": -0.1}, "optim.lr must be > 0, got -0.1"),
        ({"lr": 0.0}, "optim.lr must be > 0, got 0.0"),
        ({"lr": math.nan}, "optim.lr must be > 0, got nan"),
        ({"betas": (1.0, 0.999)}, "optim.betas[0] (β1) must be in [0, 1), got 1.0"),
        ({"betas": (-0.1, 0.999)}, "optim.betas[0] (β1) must be in [0, 1), got -0.1"),
        ({"betas": (0.9, 1.0)}, "optim.betas[1] (β2) must be in [0, 1), got 1.0"),
        ({"betas": (0.9,)}, "optim.betas must be a pair"),
        ({"eps": -1e-8}, "optim.eps must be >= 0, got -1e-08"),
        ({"weight_decay": -0.01}, "optim.weight_decay must be >= 0, got -0.01"),
    ],
)
def test_invalid_settings_are_refused(optim: Optim, settings: dict, message: str) -> None:
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError) as error:
        optim(params, **settings)
    assert str(error.value).startswith(message)
    with pytest.raises(ValueError, match=re.escape(message.split(" must")[0])):
        optim([{"params": params, **settings}])  # the same check on a group's own settings


def test_defaults_are_the_papers() -> None:
    params = [nn.Parameter(torch.zeros(2))]
    adam, adamax = Adam(params).defaults, AdaMax(params).defaults
    assert (adam["lr"], adam["betas"], adam["eps"]) == (1e-3, (0.9, 0.999), 1e-8)
    assert (adamax["lr"], adamax["betas"]) == (2e-3, (0.9, 0.999))
    assert adam["bias_correction"] and adamax["bias_correction"]


@pytest.mark.parametrize(("optim", "path"), optim_paths())
def test_parameters_without_gradient_are_left_alone(optim: Optim, path: str) -> None:
    used, unused = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    optimizer = optim([used, unused], **PATHS[path])
    used.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(unused, torch.ones(3)) and unused not in optimizer.state
    assert not torch.equal(used, torch.ones(3)) and optimizer.state[used]["step"] == 1


@pytest.mark.parametrize("optim", [Adam, AdaMax])
def test_sparse_gradients_are_refused(optim: Optim) -> None:
    embedding = nn.Embedding(10, 3, sparse=True)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        optim(embedding.parameters()).step()


def test_closure_loss_is_returned() -> None:
    theta = nn.Parameter(torch.tensor(3.0))
    optimizer = Adam([theta], lr=0.1)

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = theta**2
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == 9.0
    assert theta.item() == pytest.approx(2.9)
