"""Training metrics averaged on the device: adding a step's metrics never waits for it."""

from torch import Tensor


class RunningMeans:
    """Sums of per-step metrics, kept as tensors so that adding one never waits for the device.

    Each metric is averaged over the steps that reported it (a gradient norm is reported only
    by the steps on which an optimizer stepped).
    """

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self._steps = 0

    def add(self, metrics: dict[str, Tensor]) -> None:
        for name, value in metrics.items():
            total = self._sums.get(name)
            self._sums[name] = value.detach().float() if total is None else total + value.detach()
            self._counts[name] = self._counts.get(name, 0) + 1
        self._steps += 1

    def __len__(self) -> int:
        """Steps added since the last pop."""
        return self._steps

    def state_dict(self) -> dict[str, object]:
        """The sums and counts, for a checkpoint: a resumed run continues the same means."""
        return {"sums": dict(self._sums), "counts": dict(self._counts), "steps": self._steps}

    def load_state_dict(self, state: dict) -> None:
        self._sums, self._counts = dict(state["sums"]), dict(state["counts"])
        self._steps = state["steps"]

    def pop(self) -> dict[str, float]:
        """The means since the last pop (one device read each), and start again."""
        means = {name: total.item() / self._counts[name] for name, total in self._sums.items()}
        self._sums, self._counts, self._steps = {}, {}, 0
        return means
