"""The processes of a data-parallel run, and what they exchange through torch.distributed.

A run with ``device.processes=N`` (or under ``torchrun``) is N copies of the same run, one per
process ("rank"), joined in a torch.distributed process group: gloo on the CPU, nccl on GPUs.
Every rank builds the same model from the same seed, trains on its own share of each global
batch, and averages its gradients with the others' before each optimizer step, so all ranks
hold the same weights and the same run state at every step. Rank 0 alone writes.

A one-process run is the same code with :data:`ONE_PROCESS`: every exchange is then a no-op.
"""

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Processes:
    """This process's place in the run: its ``rank`` of ``count``, and its ``local_rank`` on
    this machine (which GPU it drives)."""

    rank: int = 0
    count: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes the run directory, W&B and the terminal."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.count > 1

    def average_gradients(self, parameters: list[Tensor]) -> None:
        """Replace each parameter's gradient by its mean over the ranks."""
        self.average([p.grad for p in parameters if p.grad is not None])

    def average(self, tensors: list[Tensor]) -> None:
        """Replace each tensor by its mean over the ranks, in one all-reduce of all of them
        flattened together (one bucket, as DDP's reducer does)."""
        if not self.several or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat.div_(self.count)
        for tensor, mean in zip(tensors, flat.split([t.numel() for t in tensors]), strict=True):
            tensor.copy_(mean.view_as(tensor))

    def average_metrics(self, metrics: dict[str, Tensor]) -> dict[str, Tensor]:
        """Scalar metrics averaged over the ranks (each rank measured an equal share)."""
        if not self.several or not metrics:
            return metrics
        values = torch.stack([value.detach().float() for value in metrics.values()])
        dist.all_reduce(values)
        return dict(zip(metrics, values.div_(self.count), strict=True))

    def any_of(self, flags: list[bool]) -> list[bool]:
        """For each flag, whether it is set on any rank (one all-reduce of them all)."""
        if not self.several:
            return flags
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        values = torch.tensor(flags, dtype=torch.int32, device=device)
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return [bool(value) for value in values.tolist()]

    def share_buffers(self, module: nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm's running statistics, which each rank
        gathers from its own share of the batches), as DDP's ``broadcast_buffers`` does."""
        if self.several:
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order."""
        if not self.several:
            return [value]
        values: list[Any] = [None] * self.count
        dist.all_gather_object(values, value)
        return values

    def from_main(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank."""
        if not self.several:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


ONE_PROCESS = Processes()


def current_processes() -> Processes:
    """The process group this process belongs to, or :data:`ONE_PROCESS` outside one."""
    if not (dist.is_available() and dist.is_initialized()):
        return ONE_PROCESS
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    return Processes(dist.get_rank(), dist.get_world_size(), local_rank)


def join_process_group(device_type: str) -> Processes:
    """Join the group the launcher's environment describes, each GPU rank on its own GPU."""
    local_rank = int(os.environ["LOCAL_RANK"])
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local_rank))
    else:
        dist.init_process_group("gloo")
    return current_processes()


def leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own random numbers (dropout, a GAN's noise) once the model
    is built: distinct for every rank."""
    return seed if rank == 0 else seed + 1_000_003 * rank


def seed_this_rank(seed: int, processes: Processes) -> None:
    """Once every process has built the same model: in a run of several, each rank draws its
    own random numbers from here on (:func:`rank_seed`); a one-process run goes on with the
    generator where building the model left it, so it draws what it always drew."""
    if processes.several:
        torch.manual_seed(rank_seed(seed, processes.rank))
