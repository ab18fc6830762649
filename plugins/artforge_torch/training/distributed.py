"""Data-parallel GAN training under ``torchrun``: the process group, DDP, batch sharding,
gradient and loss averaging, state broadcast and the replica check used by
:class:`~artforge_torch.training.trainer.GANTrainer`.

Everything here is a no-op for a single process (``Group().enabled`` is false), so a plain run
is exactly what it was. Under a launch (``ctx.launch.distributed``; the runner gives the
launch only to steps marked ``distributed``):

- one process group per process, created on first use and kept for later steps: gloo for CPU
  tensors, plus NCCL for CUDA tensors where CUDA is present (``"cpu:gloo,cuda:nccl"``); every
  rank uses ``cuda:LOCAL_RANK``;
- each network the trainer calls through ``self.compiled`` is wrapped in
  :class:`ReplicatedNet` (DDP, which overlaps the gradient all-reduce with the backward pass);
  a network the trainer calls otherwise (``self.nets[...]`` or its parts) still gets its
  gradients averaged, by :class:`GradSync` just before its optimiser steps;
- every rank draws the same per-epoch order, crops and flips for the *global* batch of
  ``batch_size`` and keeps its slice of ``batch_size // world_size`` (so the result does not
  depend on the number of processes, up to floating-point summation order);
- logged losses are averaged across ranks every iteration, so the divergence guard decides
  the same on every rank;
- the checkpoint is rank-independent (unwrapped state dicts, global epoch and iteration);
  rank 0 reads it and broadcasts it, so all ranks resume from the same state, whatever the
  world size that wrote it.
"""

from __future__ import annotations

import atexit
import datetime
import hashlib
import inspect
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from artforge.api import StepError, derive_seed


@dataclass(frozen=True)
class Group:
    """This process's place in the training: rank 0 of 1 unless launched data-parallel."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(launch: Any) -> Group:
    """Join the process group of ``launch`` (a :class:`artforge.context.Launch`, or None)."""
    if launch is None or not getattr(launch, "distributed", False):
        return Group()
    if not dist.is_available():
        raise StepError(
            "this torch build has no torch.distributed: it cannot train data-parallel",
            hint="run it in one process (without torchrun / --nproc)",
        )
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(launch.local_rank % torch.cuda.device_count())
        seconds = float(os.environ.get("ARTFORGE_DIST_TIMEOUT", "1800"))
        dist.init_process_group(
            "cpu:gloo,cuda:nccl" if cuda else "gloo",
            rank=launch.rank,
            world_size=launch.world_size,
            timeout=datetime.timedelta(seconds=seconds),
        )
        atexit.register(_destroy)
    if (dist.get_rank(), dist.get_world_size()) != (launch.rank, launch.world_size):
        raise StepError(
            f"the process group is rank {dist.get_rank()} of {dist.get_world_size()}, but the "
            f"launch says rank {launch.rank} of {launch.world_size}"
        )
    return Group(launch.rank, launch.world_size, launch.local_rank, str(dist.get_backend()))


def _destroy() -> None:
    """Leave the process group at exit, all ranks together: gloo aborts a process
    ("terminate called without an active exception") when a peer closes its connections
    while this rank is still tearing its own down, so the ranks meet at a barrier first. A
    rank whose peer has died (or is stuck in a collective) waits at most 30 s there."""
    if not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=30))
        else:
            dist.barrier()
    except Exception:  # noqa: BLE001 - a peer is gone: leave anyway
        pass
    dist.destroy_process_group()


def device_spec(spec: str, group: Group) -> str:
    """The device of this rank: ``auto``/``cuda``/``cuda:N`` -> ``cuda:LOCAL_RANK`` (one GPU
    per process); ``cpu`` stays, and ``auto`` without CUDA is the CPU."""
    if not group.enabled or spec in ("cpu", "mps"):
        return spec
    if not torch.cuda.is_available():
        return "cpu" if spec == "auto" else spec  # runtime() explains a missing CUDA
    count = torch.cuda.device_count()
    if group.local_rank >= count:
        raise StepError(
            f"rank {group.rank} is local process {group.local_rank}, but this machine has "
            f"{count} GPU(s)",
            hint=f"start at most {count} processes per machine (--nproc_per_node / --nproc)",
        )
    return f"cuda:{group.local_rank}"


def check_batch_size(batch_size: int, group: Group, step_id: str) -> None:
    if group.enabled and batch_size % group.world_size:
        raise StepError(
            f"step '{step_id}': batch_size {batch_size} does not split over "
            f"{group.world_size} processes: the batch is the global one, each process takes "
            "batch_size / processes images",
            hint=f"use a multiple of {group.world_size} (e.g. "
            f"{max(group.world_size, batch_size - batch_size % group.world_size)})",
        )


# -- the batches of an epoch -----------------------------------------------------------------
def shard(batch: Any, group: Group) -> Any:
    """This rank's slice of a global batch: tensors are split along dim 0 (tuples, lists and
    dicts of them too); anything else (None, labels as numbers) is passed on as it is."""
    if isinstance(batch, torch.Tensor) and batch.dim() > 0:
        n = len(batch)
        return batch[n * group.rank // group.world_size : n * (group.rank + 1) // group.world_size]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(shard(x, group) for x in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(x, group) for x in batch)
    if isinstance(batch, dict):
        return {k: shard(v, group) for k, v in batch.items()}
    return batch


def shard_batches(batches: Iterable[Any], group: Group) -> Iterator[Any]:
    for batch in batches:
        yield shard(batch, group)


def reseed(seed: int, epoch: int, group: Group) -> None:
    """Give each rank its own global torch RNG stream for the epoch (dropout masks, noise,
    image-pool draws differ between the slices of a batch), derived from the seed, the epoch
    and the rank: a resume at an epoch boundary continues every rank exactly, and the
    checkpoint need not hold one RNG state per rank."""
    torch.manual_seed(derive_seed(seed, "rank-rng", epoch, group.rank))


# -- networks and gradients --------------------------------------------------------------------
# newer torch calls it forward_sync_buffers (buffers are still synced once, at wrap time)
_NO_FORWARD_BUFFER_SYNC = (
    "forward_sync_buffers"
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else "broadcast_buffers"
)


class ReplicatedNet(DistributedDataParallel):
    """DDP for GAN networks: while none of the network's parameters requires a gradient (the
    discriminator during the generator's update: ``requires_grad_(False)``), or under
    ``no_grad``, the call goes straight to the module: the gradient flows through it to the
    other network, and DDP's reducer does not wait for gradients that will never come."""

    def __init__(self, module: nn.Module, device: torch.device):
        super().__init__(
            module,
            device_ids=[device.index] if device.type == "cuda" else None,
            # no buffer broadcast before every forward: averaged once per epoch instead
            **{_NO_FORWARD_BUFFER_SYNC: False},
        )
        self._trainable = [p for p in module.parameters() if p.requires_grad]
        self.synced = False  # DDP reduces this network's gradients in the coming backward

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled() or not any(p.requires_grad for p in self._trainable):
            return self.module(*args, **kwargs)
        self.synced = True
        return super().forward(*args, **kwargs)


def replicate(
    compiled: dict[str, nn.Module], nets: dict[str, nn.Module], device: torch.device
) -> dict[str, nn.Module]:
    """``compiled`` with every network that has trainable parameters wrapped in DDP (which
    broadcasts rank 0's weights at once: every rank starts from the same ones)."""
    out = {}
    for name, net in compiled.items():
        trainable = any(p.requires_grad for p in nets[name].parameters())
        out[name] = ReplicatedNet(net, device) if trainable else net
    return out


class GradSync:
    """Averages across ranks the gradients an optimiser is about to apply, except those DDP
    has already reduced (networks called through their :class:`ReplicatedNet` in this step).
    Called before the step (by :class:`SyncedGradScaler` before it unscales, so that every
    rank sees the same inf/NaN, or by the optimiser's step pre-hook) and after it."""

    def __init__(self, group: Group, opts: dict[str, Any], compiled: dict[str, nn.Module]):
        self.group = group
        self.owner: dict[int, ReplicatedNet] = {}
        for wrapper in compiled.values():
            if isinstance(wrapper, ReplicatedNet):
                for p in wrapper.module.parameters():
                    self.owner[id(p)] = wrapper
        self.pending: set[int] = set()
        self.averaged: set[int] = set()
        for opt in opts.values():
            opt.register_step_pre_hook(lambda o, args, kwargs: self.before_step(o))
            opt.register_step_post_hook(lambda o, args, kwargs: self.after_step(o))

    @staticmethod
    def _params(opt: Any) -> list[torch.Tensor]:
        return [p for g in opt.param_groups for p in g["params"]]

    def before_step(self, opt: Any) -> None:
        if id(opt) in self.averaged:
            return
        self.averaged.add(id(opt))
        grads = []
        for p in self._params(opt):
            wrapper = self.owner.get(id(p))
            if p.grad is not None and not (wrapper is not None and wrapper.synced):
                grads.append(p.grad)
        all_reduce_mean(grads, self.group)

    def after_step(self, opt: Any) -> None:
        self.averaged.discard(id(opt))
        for p in self._params(opt):
            wrapper = self.owner.get(id(p))
            if wrapper is not None:
                wrapper.synced = False


class SyncedGradScaler(torch.amp.GradScaler):
    """A GradScaler whose ``unscale_``/``step`` first average the optimiser's gradients across
    ranks (:class:`GradSync`): the inf/NaN check then sees the same gradients on every rank, so
    every rank skips the same steps and keeps the same scale."""

    def __init__(self, device: str, enabled: bool, sync: GradSync):
        super().__init__(device, enabled=enabled)
        self.sync = sync

    def unscale_(self, optimizer: Any) -> None:
        self.sync.before_step(optimizer)
        super().unscale_(optimizer)

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        self.sync.before_step(optimizer)
        try:
            return super().step(optimizer, *args, **kwargs)
        finally:
            self.sync.after_step(optimizer)


def convert_batchnorm(nets: dict[str, nn.Module], device: torch.device) -> str | None:
    """On CUDA, BatchNorm layers become SyncBatchNorm (statistics over the global batch, as in
    one process); on the CPU (SyncBatchNorm has no CPU kernels) each rank normalises with its
    slice's statistics. Returns what was done, or None without BatchNorm."""
    has_bn = any(
        isinstance(m, nn.modules.batchnorm._BatchNorm)
        for net in nets.values()
        for m in net.modules()
    )
    if not has_bn:
        return None
    if device.type != "cuda":
        return "per rank (SyncBatchNorm needs CUDA); running statistics averaged every epoch"
    for name, net in nets.items():
        nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    return "synchronised across ranks (SyncBatchNorm)"


# -- collectives -------------------------------------------------------------------------------
def _comm_device() -> torch.device:
    """Where tensors for the collectives live: the CPU when the group has gloo, else the GPU."""
    if "gloo" in str(dist.get_backend()):
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


@torch.no_grad()
def all_reduce_mean(tensors: list[torch.Tensor], group: Group) -> None:
    """Replace each tensor with its mean over the ranks (one all-reduce per device and dtype)."""
    if not group.enabled or not tensors:
        return
    buckets: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        buckets.setdefault((t.device, t.dtype), []).append(t)
    for bucket in buckets.values():
        flat = torch.cat([t.reshape(-1) for t in bucket])
        dist.all_reduce(flat)
        flat /= group.world_size
        offset = 0
        for t in bucket:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t))
            offset += n


def average_buffers(modules: Iterable[nn.Module], group: Group) -> None:
    """Average the floating-point buffers (BatchNorm running statistics, spectral-norm vectors)
    across ranks, so that every rank, and the checkpoint, holds the same ones."""
    buffers = [b for m in modules for b in m.buffers() if b.is_floating_point()]
    all_reduce_mean(buffers, group)


def mean_losses(losses: dict[str, float], group: Group) -> dict[str, float]:
    """The iteration's logged values averaged over the ranks (NaN on one rank: NaN on all)."""
    if not group.enabled:
        return losses
    keys = sorted(losses)
    t = torch.tensor([float(losses[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    means = dict(zip(keys, (t / group.world_size).tolist()))
    return {k: means[k] for k in losses}


def broadcast_state(state: dict[str, Any] | None, group: Group) -> dict[str, Any] | None:
    """Rank 0's ``state`` (a checkpoint, or None when there is none) on every rank. It travels
    as the bytes of a ``torch.save`` and is read with ``weights_only=True``, like a file."""
    if not group.enabled:
        return state
    device = _comm_device()
    payload = b""
    if group.is_main and state is not None:
        buf = io.BytesIO()
        torch.save(state, buf)
        payload = buf.getvalue()
    size = torch.tensor([len(payload) if state is not None else -1], device=device)
    dist.broadcast(size, 0)
    n = int(size.item())
    if n < 0:
        return None
    if group.is_main:
        data = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(device)
    else:
        data = torch.empty(n, dtype=torch.uint8, device=device)
    dist.broadcast(data, 0)
    if group.is_main:
        return state
    return torch.load(
        io.BytesIO(data.cpu().numpy().tobytes()), map_location="cpu", weights_only=True
    )


def replica_digests(modules: Iterable[nn.Module], group: Group) -> list[str]:
    """A digest of the weights and buffers of ``modules`` on every rank (rank order): all equal
    when the replicas are identical, as data-parallel training must keep them (empty for a
    single process)."""
    if not group.enabled:
        return []
    h = hashlib.sha256()
    for m in modules:
        for key, value in m.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    mine = torch.tensor(list(h.digest()[:16]), dtype=torch.int64, device=_comm_device())
    gathered = [torch.empty_like(mine) for _ in range(group.world_size)]
    dist.all_gather(gathered, mine)
    return [bytes(x.tolist()).hex() for x in gathered]
