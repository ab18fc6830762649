"""GANTrainer: the PyTorch runtime of the backend-free GAN training driver
(:class:`artforge.training.GANDriver`: the loop, checkpoint cadence and resume, divergence
guard, curves, samples); here the devices, networks, optimisers, EMA and checkpoint files.

Under torchrun (``ctx.launch.distributed``) every subclass trains data-parallel without a
change (:mod:`.distributed`): ``self.compiled[name]`` is the DDP-wrapped network (call the
networks through it in ``train_step`` for DDP's overlapped all-reduce; gradients of networks
called otherwise are averaged before each optimiser step, so step through ``self.scaler`` or
the optimisers as usual), each rank gets its slice of every global batch and its own global
RNG stream per epoch, losses are averaged across ranks, and only rank 0 writes checkpoints
and sample grids. ``self.nets`` stay the plain modules.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np
import torch
from torch import nn

from artforge.api import derive_seed, save_png
from artforge.training import DivergenceGuard, GANDriver

from . import distributed
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .device import runtime


class EMA:
    """Exponential moving average of a network's weights (buffers are copied)."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.shadow = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for s, p in zip(self.shadow.parameters(), module.parameters()):
            s.lerp_(p.detach(), 1.0 - self.decay)
        for s, b in zip(self.shadow.buffers(), module.buffers()):
            s.copy_(b)


class GANTrainer(GANDriver):
    """The PyTorch runtime of the GAN training driver (:class:`artforge.training.GANDriver`
    runs the loop; see the package docstring for the extension points)."""

    checkpoint_name = "checkpoint.pt"

    def __init__(self, ctx: Any, params: Any, data: Any):
        self.init_driver(ctx, params, data)
        # data-parallel under torchrun (ctx.launch): one process per GPU, see .distributed
        self.dist = distributed.setup(getattr(ctx, "launch", None))
        self.is_main = self.dist.is_main
        distributed.check_batch_size(params.batch_size, self.dist, ctx.step_id)
        self.rt = runtime(
            distributed.device_spec(ctx.device, self.dist), params.amp, params.channels_last
        )
        torch.manual_seed(derive_seed(ctx.seed, "init"))
        self.nets: dict[str, nn.Module] = {}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.ema_of: str | None = None
        self.build()
        for net in self.nets.values():
            net.to(self.rt.device)
            if self.rt.channels_last:
                net.to(memory_format=torch.channels_last)
        self.ema = EMA(self.nets[self.ema_of], params.ema) if params.ema and self.ema_of else None
        self.batchnorm = (  # SyncBatchNorm on CUDA; None without BatchNorm or in one process
            distributed.convert_batchnorm(self.nets, self.rt.device) if self.dist.enabled else None
        )
        # the driver sets every param group's rate to base x schedule factor at each epoch
        # start; a group's own rate is kept as a fraction of the optimiser's first group's
        self.base_lrs = {name: opt.param_groups[0]["lr"] for name, opt in self.opts.items()}
        self._group_scale = {
            name: [g["lr"] / (opt.param_groups[0]["lr"] or 1.0) for g in opt.param_groups]
            for name, opt in self.opts.items()
        }
        self.set_learning_rates({k: v * self.lr_factor(0) for k, v in self.base_lrs.items()})
        self.scaler = torch.amp.GradScaler(self.rt.device.type, enabled=self.rt.use_scaler)
        self.compiled = {
            name: torch.compile(net) if params.compile and self.rt.is_cuda else net
            for name, net in self.nets.items()
        }
        if self.dist.enabled:  # DDP around what train_step calls; self.nets stay the modules
            self.compiled = distributed.replicate(self.compiled, self.nets, self.rt.device)
            sync = distributed.GradSync(self.dist, self.opts, self.compiled)
            self.scaler = distributed.SyncedGradScaler(
                self.rt.device.type, self.rt.use_scaler, sync
            )

    # -- extension points ------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def train_step(self, batch: Any) -> dict[str, float]:
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray:
        raise NotImplementedError

    def export(self, ctx: Any) -> dict[str, Any]:
        raise NotImplementedError

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.rt.device, non_blocking=True)
        if self.rt.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    # -- the runtime the driver calls ----------------------------------------------------
    def step(self, batch: Any) -> dict[str, float]:
        losses = distributed.mean_losses(self.train_step(batch), self.dist)
        if self.ema:
            self.ema.update(self.nets[self.ema_of])
        return losses

    def set_learning_rates(self, lrs: dict[str, float]) -> None:
        for name, lr in lrs.items():
            for group, scale in zip(self.opts[name].param_groups, self._group_scale[name]):
                group["lr"] = lr * scale

    def epoch_batches(self, epoch: int) -> Any:
        """This rank's part of each batch of the epoch (all of it in one process)."""
        generator = torch.Generator().manual_seed(derive_seed(self.ctx.seed, "epoch", epoch))
        bs, group = self.p.batch_size, self.dist
        if not group.enabled:
            return self.data.epoch(bs, generator)
        if "shard" in inspect.signature(self.data.epoch).parameters:
            return self.data.epoch(bs, generator, shard=(group.rank, group.world_size))
        return distributed.shard_batches(self.data.epoch(bs, generator), group)

    def on_epoch_start(self, epoch: int) -> None:
        if self.dist.enabled:
            distributed.reseed(self.ctx.seed, epoch, self.dist)

    def on_epoch_end(self) -> None:
        if self.dist.enabled:  # BatchNorm running statistics: the same on every rank
            distributed.average_buffers(self._replicated_modules(), self.dist)

    def runtime_info(self) -> dict[str, Any]:
        info = dict(self.rt.describe())
        if self.dist.enabled:
            g, p = self.dist, self.p
            info["distributed"] = {
                "world_size": g.world_size,
                "backend": g.backend,
                "global_batch": p.batch_size,
                "batch_per_rank": p.batch_size // g.world_size,
                "batchnorm": self.batchnorm,
            }
            self.ctx.log(
                f"  data-parallel: {g.world_size} processes ({g.backend}), "
                f"{p.batch_size // g.world_size} of the {p.batch_size} images of a batch each"
            )
        return info

    def on_finish(self) -> None:
        if self.dist.enabled:  # data-parallel replicas must end with the same weights
            digests = distributed.replica_digests(self._replicated_modules(), self.dist)
            self.ctx.info["distributed"]["replicas_identical"] = len(set(digests)) == 1
            if len(set(digests)) > 1:
                self.ctx.warn(
                    f"the {self.dist.world_size} data-parallel replicas ended with different "
                    f"weights (digests {', '.join(digests)}): the checkpoint holds rank 0's"
                )

    # -- state ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "opts": {k: v.state_dict() for k, v in self.opts.items()},
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.shadow.state_dict() if self.ema else None,
            "rng": rng_state(),
            **self.driver_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for k, v in self.nets.items():
            v.load_state_dict(state["nets"][k])
        for k, v in self.opts.items():
            v.load_state_dict(state["opts"][k])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema and state.get("ema") is not None:
            self.ema.shadow.load_state_dict(state["ema"])
        set_rng_state(state["rng"])
        if "base_lrs" not in state and "scheds" in state:  # written before the driver: LambdaLR's
            state = {**state, "base_lrs": {k: v["base_lrs"][0] for k, v in state["scheds"].items()}}
        self.load_driver_state(state)

    def write_checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, self.state())

    def read_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint, or None: read by rank 0 and sent to every rank."""
        path = self.checkpoint_path
        state = load_checkpoint(path) if self.dist.is_main and path.exists() else None
        return distributed.broadcast_state(state, self.dist)

    def _replicated_modules(self) -> list[nn.Module]:
        return [*self.nets.values(), *([self.ema.shadow] if self.ema else [])]

    def write_samples(self) -> None:
        for net in self.nets.values():
            net.eval()
        with torch.inference_mode():
            grid = self.sample_grid()
        for net in self.nets.values():
            net.train()
        save_png(self.samples_dir / f"epoch{self.epoch:04d}.png", grid)


__all__ = ["EMA", "DivergenceGuard", "GANTrainer"]
