"""The GAN training loop, once for every backend (numpy only; no framework is imported).

:class:`GANDriver` owns what does not depend on the tensor library: epochs and iterations
(an ``iterations`` limit included), the learning-rate schedule (constant for ``epochs``,
then linearly to zero over ``decay_epochs``, as pix2pix and CycleGAN), the divergence guard
with stop or rollback (to the last checkpoint, with lower learning rates), loss curves
(averaged over about ``curve_points`` points and closed at every epoch's end, so they do not
depend on where a run resumed), the sample-grid and checkpoint cadence, sample-quality
curves, resume, progress and the step's metrics.

A backend's trainer subclasses it and supplies the runtime (tensor code only):

- ``epoch_batches(epoch)``: the epoch's batches (a pure function of the seed and epoch);
- ``step(batch) -> dict[str, float]``: one iteration with its EMA update; plain floats
  (``loss_D`` feeds the collapse guard);
- ``set_learning_rates({optimiser: lr})``: called at every epoch's start;
- ``state()``/``load_state(state)``: everything to resume (start from
  :meth:`driver_state`/:meth:`load_driver_state`); ``write_checkpoint()`` and
  ``read_checkpoint() -> state | None`` put it in a file;
- ``write_samples()`` (default: ``sample_grid()`` as a PNG) and ``evaluate() -> {name:
  value}`` (sample-quality curves, default none);
- optional: ``runtime_info()`` (provenance for ``ctx.info``), ``on_epoch_start(epoch)``,
  ``on_epoch_end()``, ``on_finish()``, ``loop()`` (a context the loop runs in), ``is_main``
  (False on the ranks of a data-parallel launch that write nothing).

The backend sets ``self.base_lrs`` (optimiser name -> learning rate) when it builds.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, Diverged
from ..images import load_image, save_png


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


def lr_factor(epoch: int, epochs: int, decay_epochs: int) -> float:
    """1 for ``epochs``, then linearly to 0 over ``decay_epochs`` (pix2pix's 'linear')."""
    if epoch < epochs or not decay_epochs:
        return 1.0
    return max(0.0, 1.0 - (epoch - epochs + 1) / (decay_epochs + 1))


class GANDriver:
    """The training loop; a backend's ``GANTrainer`` subclasses it (see the module docstring)."""

    checkpoint_name = "checkpoint"
    curve_points = 400  # about this many points per loss curve (iterations are averaged)
    is_main = True

    def init_driver(self, ctx: Any, params: Any, data: Any) -> None:
        self.ctx = ctx
        self.p = params
        self.data = data
        self.epoch = 0
        self.iteration = 0
        self.rollbacks = 0
        self.series: dict[str, list[list[float]]] = {}
        self.guard = DivergenceGuard(params.collapse_patience, params.collapse_threshold)
        self.samples_dir = Path(ctx.work_dir) / "samples"
        self.base_lrs: dict[str, float] = getattr(self, "base_lrs", {})
        self.acc: dict[str, float] = {}
        self.n_acc = 0
        self.progress: Any = None

    # -- the runtime (the backend fills these in) -------------------------------------------
    def epoch_batches(self, epoch: int) -> Iterable[Any]:
        raise NotImplementedError

    def step(self, batch: Any) -> dict[str, float]:
        raise NotImplementedError

    def set_learning_rates(self, lrs: dict[str, float]) -> None:
        raise NotImplementedError

    def write_checkpoint(self) -> None:
        raise NotImplementedError

    def read_checkpoint(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return self.driver_state()

    def load_state(self, state: dict[str, Any]) -> None:
        self.load_driver_state(state)

    def sample_grid(self) -> np.ndarray:
        raise NotImplementedError

    def write_samples(self) -> None:
        save_png(self.samples_dir / f"epoch{self.epoch:04d}.png", self.sample_grid())

    def evaluate(self) -> dict[str, float]:
        """Sample-quality scores at a sampled epoch (curves ``name`` over epochs); none here."""
        return {}

    def runtime_info(self) -> dict[str, Any]:
        return {}

    def on_epoch_start(self, epoch: int) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass

    def on_finish(self) -> None:
        pass

    def loop(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    # -- schedule ------------------------------------------------------------------------------
    def lr_factor(self, epoch: int) -> float:
        return lr_factor(epoch, self.p.epochs, self.p.decay_epochs)

    @property
    def batches_per_epoch(self) -> int:
        return self.data.batches_per_epoch(self.p.batch_size)

    @property
    def total_epochs(self) -> int:
        p = self.p
        if p.iterations:
            return math.ceil(p.iterations / self.batches_per_epoch)
        return p.total_epochs

    def is_last(self) -> bool:
        return self.epoch >= self.total_epochs or bool(
            self.p.iterations and self.iteration >= self.p.iterations
        )

    # -- state ---------------------------------------------------------------------------------
    def driver_state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "iteration": self.iteration,
            "rollbacks": self.rollbacks,
            "series": self.series,
            "guard": self.guard.collapsed_for,
            "base_lrs": dict(self.base_lrs),
        }

    def load_driver_state(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.iteration = int(state["iteration"])
        self.rollbacks = int(state.get("rollbacks", 0))
        self.series = {
            k: [list(map(float, pt)) for pt in v] for k, v in state.get("series", {}).items()
        }
        self.guard.collapsed_for = int(state.get("guard", 0))
        self.base_lrs = {k: float(v) for k, v in state["base_lrs"].items()}

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.ctx.work_dir) / self.checkpoint_name

    def save(self) -> None:
        if self.is_main:  # the other ranks of a data-parallel launch write nothing
            self.write_checkpoint()

    def restore(self, state: dict[str, Any] | None = None) -> bool:
        """Resume from the checkpoint (``state`` when already read); False when there is none.
        A checkpoint that loads but does not fit is named as such (``CheckpointError``)."""
        state = self.read_checkpoint() if state is None else state
        if state is None:
            return False
        try:
            self.load_state(state)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as exc:
            if "out of memory" in str(exc).lower():
                raise
            detail = (
                f"missing key {exc}"
                if isinstance(exc, KeyError)
                else f"{type(exc).__name__}: {exc}"
            )
            raise CheckpointError(
                self.checkpoint_path,
                f"checkpoint {self.checkpoint_path} is not a checkpoint of this step "
                f"({detail.splitlines()[0]})",
            ) from exc
        return True

    # -- the loop ------------------------------------------------------------------------------
    def close_curve_point(self) -> None:
        if self.n_acc:
            for k, v in self.acc.items():
                self.series.setdefault(k, []).append([float(self.iteration), v / self.n_acc])
        self.acc, self.n_acc = {}, 0

    def after_step(self, losses: dict[str, float]) -> str | None:
        """Bookkeeping of one iteration: count, guard, curves, progress; the guard's reason."""
        self.iteration += 1
        reason = self.guard.check(losses)
        if reason:
            return reason
        for k, v in losses.items():
            self.acc[k] = self.acc.get(k, 0.0) + v
        self.n_acc += 1
        if self.n_acc >= self.log_every:
            self.close_curve_point()
        self.progress.update(1, **{k: v for k, v in losses.items() if k in ("loss_G", "loss_D")})
        return None

    def fit(self) -> None:
        ctx = self.ctx
        if self.restore():
            ctx.log(
                f"  resuming from the checkpoint at epoch {self.epoch}, iteration {self.iteration}"
            )
            ctx.info["resumed_from_epoch"] = self.epoch
        else:
            if self.is_main:
                shutil.rmtree(self.samples_dir, ignore_errors=True)
            self.save()  # epoch 0: a known-good state to roll back to
        ctx.info.update(self.runtime_info())
        total, per_epoch = self.total_epochs, self.batches_per_epoch
        self.log_every = max(1, (total * per_epoch) // self.curve_points)
        self.progress = ctx.progress(total * per_epoch, "training")
        self.progress.update(self.epoch * per_epoch)
        self.acc, self.n_acc = {}, 0
        t0 = time.perf_counter()
        start_iter = self.iteration
        with self.loop():
            while not self.is_last():
                diverged = self._epoch()
                if diverged:
                    self._on_divergence(diverged)
        self.progress.close()
        seconds = time.perf_counter() - t0
        done = self.iteration - start_iter
        self.on_finish()
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

    def _epoch(self) -> str | None:
        """One epoch and what follows it (samples, quality, checkpoint); a divergence's reason."""
        p = self.p
        f = self.lr_factor(self.epoch)
        self.set_learning_rates({k: v * f for k, v in self.base_lrs.items()})
        self.on_epoch_start(self.epoch)
        for batch in self.epoch_batches(self.epoch):
            reason = self.after_step(self.step(batch))
            if reason:
                return reason
            if p.iterations and self.iteration >= p.iterations:
                break
        self.close_curve_point()  # curves must not depend on where a run resumed
        self.epoch += 1
        self.on_epoch_end()
        last = self.is_last()
        if (self.epoch % p.samples_every == 0 or last) and self.is_main:
            self.write_samples()
            for name, value in self.evaluate().items():
                self.series.setdefault(name, []).append([float(self.epoch), float(value)])
        if self.epoch % p.checkpoint_every == 0 or last:
            self.save()
        return None

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
        rollbacks = self.rollbacks + 1
        self.restore()
        self.rollbacks = rollbacks
        self.base_lrs = {k: v * p.rollback_factor for k, v in self.base_lrs.items()}
        self.guard.collapsed_for = 0
        self.acc, self.n_acc = {}, 0
        ctx.warn(
            f"divergence guard: {reason} at {where}; rolled back to epoch {self.epoch} with "
            f"learning rates x{p.rollback_factor**rollbacks:g} (rollback {rollbacks} of "
            f"{p.max_rollbacks})"
        )
        if hasattr(self.progress, "n"):
            self.progress.n = self.epoch * self.batches_per_epoch
        self.save()

    def copy_samples(self, ctx: Any) -> Any:
        """Publish the per-epoch sample grids (kept in the work folder across resumes)."""
        out = ctx.image_writer("samples")
        for path in sorted(self.samples_dir.glob("epoch*.png")):
            out.add(load_image(path), name=path.stem)
        return out.finish(kind="epoch-samples")
