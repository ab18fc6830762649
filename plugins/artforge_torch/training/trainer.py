"""GANTrainer: the epoch loop, checkpoints and resume, divergence guard, EMA, curves, samples.

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
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from artforge.api import Diverged, derive_seed, save_png

from . import distributed
from .checkpoint import foreign, load_checkpoint, rng_state, save_checkpoint, set_rng_state
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


class DivergenceGuard:
    """Flags NaN/inf losses and a discriminator whose loss stays near zero too long."""

    def __init__(self, patience: int, threshold: float):
        self.patience = patience
        self.threshold = threshold
        self.collapsed_for = 0

    def check(self, losses: dict[str, float]) -> str | None:
        for name, value in losses.items():
            if not math.isfinite(value):
                return f"{name} is {value}"
        d = losses.get("loss_D")
        if d is not None and abs(d) < self.threshold:
            self.collapsed_for += 1
            if self.collapsed_for >= self.patience:
                return (
                    f"the discriminator collapsed: loss_D stayed below {self.threshold:g} "
                    f"for {self.collapsed_for} iterations"
                )
        else:
            self.collapsed_for = 0
        return None


class GANTrainer:
    """Base class of the GAN trainers (see the package docstring for the extension points)."""

    checkpoint_name = "checkpoint.pt"
    curve_points = 400  # about this many points per loss curve (iterations are averaged)

    def __init__(self, ctx: Any, params: Any, data: Any):
        self.ctx = ctx
        self.p = params
        self.data = data
        # data-parallel under torchrun (ctx.launch): one process per GPU, see .distributed
        self.dist = distributed.setup(getattr(ctx, "launch", None))
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
        self.scheds = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, self._lr_lambda)
            for name, opt in self.opts.items()
        }
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
        self.epoch = 0
        self.iteration = 0
        self.rollbacks = 0
        self.series: dict[str, list[list[float]]] = {}
        self.guard = DivergenceGuard(params.collapse_patience, params.collapse_threshold)
        self.samples_dir = Path(ctx.work_dir) / "samples"

    # -- extension points ------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def train_step(self, batch: Any) -> dict[str, float]:
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray:
        raise NotImplementedError

    def export(self, ctx: Any) -> dict[str, Any]:
        raise NotImplementedError

    # -- schedule ----------------------------------------------------------------------
    def _lr_lambda(self, epoch: int) -> float:
        p = self.p
        if epoch < p.epochs or not p.decay_epochs:
            return 1.0
        return max(0.0, 1.0 - (epoch - p.epochs + 1) / (p.decay_epochs + 1))

    @property
    def total_epochs(self) -> int:
        p = self.p
        if p.iterations:
            return math.ceil(p.iterations / self.data.batches_per_epoch(p.batch_size))
        return p.total_epochs

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.rt.device, non_blocking=True)
        if self.rt.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    # -- state ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "opts": {k: v.state_dict() for k, v in self.opts.items()},
            "scheds": {k: v.state_dict() for k, v in self.scheds.items()},
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.shadow.state_dict() if self.ema else None,
            "rng": rng_state(),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "rollbacks": self.rollbacks,
            "series": self.series,
            "guard": self.guard.collapsed_for,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for k, v in self.nets.items():
            v.load_state_dict(state["nets"][k])
        for k, v in self.opts.items():
            v.load_state_dict(state["opts"][k])
        for k, v in self.scheds.items():
            v.load_state_dict(state["scheds"][k])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema and state.get("ema") is not None:
            self.ema.shadow.load_state_dict(state["ema"])
        set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.iteration = int(state["iteration"])
        self.rollbacks = int(state.get("rollbacks", 0))
        self.series = {
            k: [list(map(float, pt)) for pt in v] for k, v in state.get("series", {}).items()
        }
        self.guard.collapsed_for = int(state.get("guard", 0))

    def _restore(self, state: dict[str, Any]) -> None:
        """``load_state`` from a checkpoint file: one that does not fit is named as such."""
        try:
            self.load_state(state)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as exc:
            if "out of memory" in str(exc).lower():
                raise
            raise foreign(self.checkpoint_path, exc) from exc

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.ctx.work_dir) / self.checkpoint_name

    def save(self) -> None:
        if self.dist.is_main:  # the other ranks write nothing
            save_checkpoint(self.checkpoint_path, self.state())

    def _read_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint, or None: read by rank 0 and sent to every rank."""
        path = self.checkpoint_path
        state = load_checkpoint(path) if self.dist.is_main and path.exists() else None
        return distributed.broadcast_state(state, self.dist)

    def _replicated_modules(self) -> list[nn.Module]:
        return [*self.nets.values(), *([self.ema.shadow] if self.ema else [])]

    def _batches(self, generator: torch.Generator) -> Any:
        """This rank's part of each batch of the epoch (all of it in one process)."""
        bs, group = self.p.batch_size, self.dist
        if not group.enabled:
            return self.data.epoch(bs, generator)
        if "shard" in inspect.signature(self.data.epoch).parameters:
            return self.data.epoch(bs, generator, shard=(group.rank, group.world_size))
        return distributed.shard_batches(self.data.epoch(bs, generator), group)

    # -- the loop ------------------------------------------------------------------------
    def fit(self) -> None:
        ctx, p = self.ctx, self.p
        state = self._read_checkpoint()
        if state is not None:
            self._restore(state)
            ctx.log(
                f"  resuming from the checkpoint at epoch {self.epoch}, iteration {self.iteration}"
            )
            ctx.info["resumed_from_epoch"] = self.epoch
        else:
            if self.dist.is_main:
                shutil.rmtree(self.samples_dir, ignore_errors=True)
            self.save()  # epoch 0: a known-good state to roll back to
        ctx.info.update(self.rt.describe())
        if self.dist.enabled:
            g = self.dist
            ctx.info["distributed"] = {
                "world_size": g.world_size,
                "backend": g.backend,
                "global_batch": p.batch_size,
                "batch_per_rank": p.batch_size // g.world_size,
                "batchnorm": self.batchnorm,
            }
            ctx.log(
                f"  data-parallel: {g.world_size} processes ({g.backend}), "
                f"{p.batch_size // g.world_size} of the {p.batch_size} images of a batch each"
            )
        total = self.total_epochs
        per_epoch = self.data.batches_per_epoch(p.batch_size)
        log_every = max(1, (total * per_epoch) // self.curve_points)
        progress = ctx.progress(total * per_epoch, "training")
        progress.update(self.epoch * per_epoch)
        acc: dict[str, float] = {}
        n_acc = 0
        t0 = time.perf_counter()
        start_iter = self.iteration
        while self.epoch < total:
            gen = torch.Generator().manual_seed(derive_seed(ctx.seed, "epoch", self.epoch))
            if self.dist.enabled:
                distributed.reseed(ctx.seed, self.epoch, self.dist)
            diverged = None
            for batch in self._batches(gen):
                losses = distributed.mean_losses(self.train_step(batch), self.dist)
                self.iteration += 1
                if self.ema:
                    self.ema.update(self.nets[self.ema_of])
                diverged = self.guard.check(losses)
                if diverged:
                    break
                for k, v in losses.items():
                    acc[k] = acc.get(k, 0.0) + v
                n_acc += 1
                if n_acc >= log_every:
                    for k, v in acc.items():
                        self.series.setdefault(k, []).append([float(self.iteration), v / n_acc])
                    acc, n_acc = {}, 0
                progress.update(1, **{k: v for k, v in losses.items() if k in ("loss_G", "loss_D")})
                if p.iterations and self.iteration >= p.iterations:
                    break
            if diverged:
                self._on_divergence(diverged)
                acc, n_acc = {}, 0
                continue
            if n_acc:  # close the epoch's last point: curves must not depend on where a run resumed
                for k, v in acc.items():
                    self.series.setdefault(k, []).append([float(self.iteration), v / n_acc])
                acc, n_acc = {}, 0
            for s in self.scheds.values():
                s.step()
            self.epoch += 1
            last = self.epoch >= total or bool(p.iterations and self.iteration >= p.iterations)
            if self.dist.enabled:  # BatchNorm running statistics: the same on every rank
                distributed.average_buffers(self._replicated_modules(), self.dist)
            if (self.epoch % p.samples_every == 0 or last) and self.dist.is_main:
                self._write_samples()
            if self.epoch % p.checkpoint_every == 0 or last:
                self.save()
            if last:
                break
        progress.close()
        seconds = time.perf_counter() - t0
        done = self.iteration - start_iter
        if self.dist.enabled:  # data-parallel replicas must end with the same weights
            digests = distributed.replica_digests(self._replicated_modules(), self.dist)
            ctx.info["distributed"]["replicas_identical"] = len(set(digests)) == 1
            if len(set(digests)) > 1:
                ctx.warn(
                    f"the {self.dist.world_size} data-parallel replicas ended with different "
                    f"weights (digests {', '.join(digests)}): the checkpoint holds rank 0's"
                )
        ctx.metrics["iterations"] = self.iteration
        ctx.metrics["epochs"] = self.epoch
        if done and seconds > 0:
            ctx.metrics["iterations_per_second"] = round(done / seconds, 3)
        for k, pts in self.series.items():
            for x, y in pts:
                ctx.record(k, x, y)
            if pts:
                ctx.metrics[f"final_{k}"] = round(pts[-1][1], 5)
        if self.rollbacks:
            ctx.metrics["rollbacks"] = self.rollbacks

    def _on_divergence(self, reason: str) -> None:
        ctx, p = self.ctx, self.p
        where = f"epoch {self.epoch + 1}, iteration {self.iteration}"
        if p.on_divergence == "stop" or self.rollbacks >= p.max_rollbacks:
            ctx.warn(f"divergence guard: {reason} at {where}")
            extra = f" after {self.rollbacks} rollbacks" if self.rollbacks else ""
            raise Diverged(
                f"step '{ctx.step_id}': training diverged at {where}{extra}: {reason}",
                hint="lower lr_g/lr_d, try loss: lsgan or hinge, spectral_norm: true, or "
                "on_divergence: rollback",
            )
        state = self._read_checkpoint()
        rollbacks = self.rollbacks + 1
        self._restore(state)
        self.rollbacks = rollbacks
        for opt, sched in zip(self.opts.values(), self.scheds.values()):
            for group in opt.param_groups:
                group["lr"] *= p.rollback_factor
            sched.base_lrs = [lr * p.rollback_factor for lr in sched.base_lrs]
        self.guard.collapsed_for = 0
        ctx.warn(
            f"divergence guard: {reason} at {where}; rolled back to epoch {self.epoch} with "
            f"learning rates x{p.rollback_factor**rollbacks:g} (rollback {rollbacks} of {p.max_rollbacks})"
        )
        self.save()

    def _write_samples(self) -> None:
        for net in self.nets.values():
            net.eval()
        with torch.inference_mode():
            grid = self.sample_grid()
        for net in self.nets.values():
            net.train()
        save_png(self.samples_dir / f"epoch{self.epoch:04d}.png", grid)

    def copy_samples(self, ctx: Any) -> Any:
        """Publish the per-epoch sample grids (kept in the work folder across resumes)."""
        out = ctx.image_writer("samples")
        for path in sorted(self.samples_dir.glob("epoch*.png")):
            from artforge.api import load_image

            out.add(load_image(path), name=path.stem)
        return out.finish(kind="epoch-samples")
