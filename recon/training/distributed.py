"""Distributed data-parallel training with PyTorch's own engine (``torchrun`` + DDP).

Launch one process per GPU (or a few per CPU node) with ``torchrun``; each
reads its rank from the environment that ``torchrun`` sets (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). One node::

    torchrun --standalone --nproc_per_node=4 -m recon.cli train --config experiments/lpd_small.yaml

Several nodes (run on every node, ``--node_rank`` 0..N-1)::

    torchrun --nnodes=2 --nproc_per_node=4 --node_rank=0 \\
        --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 -m recon.cli train --config ...

The backend is NCCL on CUDA and Gloo on CPU. Without ``torchrun`` (no
``WORLD_SIZE`` above 1) everything runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["DistributedContext", "setup_distributed", "wrap_model", "all_reduce_sum", "teardown_distributed"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly one-process) training run.

    Attributes
    ----------
    rank, world_size, local_rank : int
    device : torch.device
        ``cuda:LOCAL_RANK`` on GPUs, else ``cpu``.
    owns_group : bool
        This context created the process group (and destroys it).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _environment_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}: expected an integer, got {value!r}") from None


def setup_distributed(device: Literal["auto", "cpu", "cuda"] = "auto") -> DistributedContext:
    """Join the process group that ``torchrun``'s environment describes, if any.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``auto`` takes CUDA when available.

    Returns
    -------
    DistributedContext
    """
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but torch sees no CUDA GPU")
    world_size = _environment_int("WORLD_SIZE", 1)
    rank, local_rank = _environment_int("RANK", 0), _environment_int("LOCAL_RANK", 0)
    target = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    owns_group = False
    if world_size > 1 and not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(target)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns_group = True
    return DistributedContext(rank, world_size, local_rank, target, owns_group)


def wrap_model(model: nn.Module, context: DistributedContext) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` when distributed, else itself."""
    if not context.distributed:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sum(tensor: Tensor, context: DistributedContext) -> Tensor:
    """Sum ``tensor`` over all processes, in place; returns it."""
    if context.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def teardown_distributed(context: DistributedContext) -> None:
    """Leave the process group if ``context`` created it."""
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()
