"""The Keras GAN trainer: a ``keras.Model`` for the GAN, ``Model.fit`` and callbacks.

:class:`GANModel` is the Keras idiom for GANs: a ``keras.Model`` subclass that overrides
``compile`` (one optimiser per network, the adversarial loss) and ``train_step`` (both
updates in one step, compiled by ``tf.function``), with ``keras.metrics.Mean`` trackers and a
``keras.random.SeedGenerator``. An exponential moving average of the generator lives in the
model as a second network updated inside the step.

:class:`GANTrainer` runs ``fit`` with the callbacks that make a training run reliable, with
the same behaviour as the PyTorch backend's trainer:

- :class:`TrainingLog` (every batch): iteration count, the divergence guard (NaN/inf losses,
  a discriminator loss stuck near zero), loss curves averaged over ``log_every`` iterations
  and closed at every epoch's end, progress, the ``iterations`` limit;
- :class:`LinearDecay` (epoch begin): the learning rate, constant for ``epochs`` then
  linearly to zero over ``decay_epochs``, scaled down after each rollback;
- :class:`SampleGrids` (epoch end): a grid from fixed inputs, PNG, kept across resumes;
- :class:`Checkpointer` (epoch end): the full-state checkpoint (:mod:`.checkpoint`).

A subclass of GANTrainer fills in ``build()`` (set ``self.model``, a compiled GANModel with
``generator``), ``sample_grid()`` and ``export(ctx)``.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from artforge.api import CheckpointError, Diverged, derive_seed, save_png

from ..backend import fresh_session, keras_module, runtime
from ..data import epoch_dataset
from ..distribution import describe as describe_strategy
from ..distribution import replica_mean
from ..distribution import scope as strategy_scope
from ..distribution import select as select_strategy
from .checkpoint import load_checkpoint, save_checkpoint

keras = keras_module()


def adam(lr: float, beta1: float = 0.9, beta2: float = 0.999, loss_scaling: bool = False):
    """Adam with PyTorch's epsilon (1e-8); wrapped in a ``LossScaleOptimizer`` under the
    ``mixed_float16`` policy (bfloat16 and float32 need no loss scaling)."""
    opt = keras.optimizers.Adam(lr, beta_1=beta1, beta_2=beta2, epsilon=1e-8)
    return keras.optimizers.LossScaleOptimizer(opt) if loss_scaling else opt


class GANModel(keras.Model):
    """Base of the GAN models: trackers, a seed generator, an optional EMA generator.

    Subclasses set ``self.generator`` (and whatever else) before calling
    ``self.init_tracking(names, seed, ema)`` and implement ``train_step``.
    """

    def init_tracking(self, names: list[str], seed: int, ema: float | None, ema_net=None):
        self.loss_names = list(names)
        self.trackers = [keras.metrics.Mean(name=n) for n in names]
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ema_decay = ema
        self.ema_generator = ema_net
        if ema_net is not None:
            ema_net.set_weights(self.generator.get_weights())
            ema_net.trainable = False
        self.built = True  # the networks are built functional models

    @property
    def metrics(self):
        return list(self.trackers)

    def compile(self, *, g_optimizer, d_optimizer, gan_loss, jit_compile=False, **kw):
        super().compile(optimizer=g_optimizer, jit_compile=jit_compile)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.gan_loss = gan_loss
        self.settings = kw
        # build the optimisers now: their variables exist before a checkpoint is loaded
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def optimizers(self) -> dict[str, Any]:
        return {"G": self.g_optimizer, "D": self.d_optimizer}

    def report(self, losses: dict[str, Any]) -> dict[str, Any]:
        """Update the trackers; return epoch means and this step's values (``step_*``)."""
        for tracker in self.trackers:
            tracker.update_state(losses[tracker.name])
        out = {t.name: t.result() for t in self.trackers}
        out.update({f"step_{k}": v for k, v in losses.items()})
        return out

    def update_ema(self) -> None:
        if self.ema_generator is None:
            return
        d = self.ema_decay
        for s, w in zip(self.ema_generator.weights, self.generator.weights):
            if w.trainable:
                s.assign(s * d + keras.ops.cast(w, s.dtype) * (1.0 - d))
            else:
                s.assign(w)

    def apply(self, optimizer, tape, scaled_loss, variables) -> None:
        """Gradients of ``scaled_loss`` applied by ``optimizer``. The loss must have been
        scaled *inside* the tape (``optimizer.scale_loss(loss)``, a no-op unless the optimiser
        is a LossScaleOptimizer under mixed_float16), which also unscales the gradients."""
        grads = replica_mean(tape.gradient(scaled_loss, variables))  # MirroredStrategy sums
        optimizer.apply_gradients(zip(grads, variables))

    def sample_generator(self):
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)


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


class TrainingLog(keras.callbacks.Callback):
    """Per-iteration bookkeeping: count, guard, curves, progress, the iterations limit."""

    def __init__(self, trainer: GANTrainer):
        super().__init__()
        self.t = trainer

    def on_epoch_begin(self, epoch, logs=None):
        self.t.dataset.epoch = self.t.epoch

    def on_train_batch_end(self, batch, logs=None):
        t = self.t
        losses = {k[5:]: float(v) for k, v in (logs or {}).items() if k.startswith("step_")}
        t.iteration += 1
        reason = t.guard.check(losses)
        if reason:
            t.diverged = reason
            self.model.stop_training = True
            return
        for k, v in losses.items():
            t.acc[k] = t.acc.get(k, 0.0) + v
        t.n_acc += 1
        if t.n_acc >= t.log_every:
            t.close_curve_point()
        t.progress.update(1, **{k: v for k, v in losses.items() if k in ("loss_G", "loss_D")})
        if t.p.iterations and t.iteration >= t.p.iterations:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        t = self.t
        if t.diverged:
            return
        t.close_curve_point()
        t.epoch += 1


class LinearDecay(keras.callbacks.Callback):
    """lr = base_lr * factor(epoch): 1 for ``epochs``, then linearly to 0 (pix2pix 'linear')."""

    def __init__(self, trainer: GANTrainer):
        super().__init__()
        self.t = trainer

    def on_epoch_begin(self, epoch, logs=None):
        f = self.t.lr_factor(self.t.epoch)
        for name, opt in self.t.model.optimizers().items():
            inner = getattr(opt, "inner_optimizer", opt)  # under loss scaling
            inner.learning_rate.assign(self.t.base_lrs[name] * f)


class SampleGrids(keras.callbacks.Callback):
    def __init__(self, trainer: GANTrainer):
        super().__init__()
        self.t = trainer

    def on_epoch_end(self, epoch, logs=None):
        t = self.t
        if t.diverged:
            return
        if t.epoch % t.p.samples_every == 0 or t.is_last():
            save_png(t.samples_dir / f"epoch{t.epoch:04d}.png", t.sample_grid())


class Checkpointer(keras.callbacks.Callback):
    def __init__(self, trainer: GANTrainer):
        super().__init__()
        self.t = trainer

    def on_epoch_end(self, epoch, logs=None):
        t = self.t
        if t.diverged:
            return
        if t.epoch % t.p.checkpoint_every == 0 or t.is_last():
            t.save()


class GANTrainer:
    """Runs a GANModel through ``fit`` with checkpoints, resume and the divergence guard."""

    checkpoint_name = "checkpoint.weights.h5"
    curve_points = 400

    def __init__(self, ctx: Any, params: Any, data: Any):
        self.ctx = ctx
        self.p = params
        self.data = data
        self.rt = runtime(ctx.device, getattr(params, "amp", "auto"))
        fresh_session(derive_seed(ctx.seed, "init"))
        self.rt.apply_policy()
        # several local GPUs: one replica each (MirroredStrategy); else None (..distribution)
        self.strategy_choice, self.strategy = select_strategy(ctx.device)
        self.model: GANModel | None = None
        self.base_lrs: dict[str, float] = {}
        with strategy_scope(self.strategy, self.rt):
            self.build()
        self.epoch = 0
        self.iteration = 0
        self.rollbacks = 0
        self.series: dict[str, list[list[float]]] = {}
        self.guard = DivergenceGuard(params.collapse_patience, params.collapse_threshold)
        self.samples_dir = Path(ctx.work_dir) / "samples"
        self.diverged: str | None = None
        self.acc: dict[str, float] = {}
        self.n_acc = 0
        self.dataset = epoch_dataset(data, params.batch_size)

    # -- extension points ------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray:
        raise NotImplementedError

    def export(self, ctx: Any) -> dict[str, Any]:
        raise NotImplementedError

    # -- schedule ----------------------------------------------------------------------
    def lr_factor(self, epoch: int) -> float:
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

    def is_last(self) -> bool:
        return self.epoch >= self.total_epochs or bool(
            self.p.iterations and self.iteration >= self.p.iterations
        )

    def close_curve_point(self) -> None:
        if self.n_acc:
            for k, v in self.acc.items():
                self.series.setdefault(k, []).append([float(self.iteration), v / self.n_acc])
        self.acc, self.n_acc = {}, 0

    # -- state ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "iteration": self.iteration,
            "rollbacks": self.rollbacks,
            "series": self.series,
            "guard": self.guard.collapsed_for,
            "base_lrs": self.base_lrs,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.iteration = int(state["iteration"])
        self.rollbacks = int(state.get("rollbacks", 0))
        self.series = {k: [list(map(float, pt)) for pt in v] for k, v in state["series"].items()}
        self.guard.collapsed_for = int(state.get("guard", 0))
        self.base_lrs = {k: float(v) for k, v in state["base_lrs"].items()}

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.ctx.work_dir) / self.checkpoint_name

    def save(self) -> None:
        save_checkpoint(self.checkpoint_path, self.model, self.state())

    def restore(self) -> None:
        state = load_checkpoint(self.checkpoint_path, self.model)
        try:
            self.load_state(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(
                self.checkpoint_path,
                f"checkpoint {self.checkpoint_path} is not a checkpoint of this step "
                f"({type(exc).__name__}: {exc})",
            ) from exc

    def inference(self, net, x: np.ndarray) -> np.ndarray:
        """``net(x)`` in inference mode (no dropout, running statistics)."""
        with self.rt.scope():
            return np.asarray(net(x, training=False), np.float32)

    # -- the loop ------------------------------------------------------------------------
    def callbacks(self) -> list:
        return [TrainingLog(self), LinearDecay(self), SampleGrids(self), Checkpointer(self)]

    def fit(self) -> None:
        ctx, p = self.ctx, self.p
        if self.checkpoint_path.exists():
            self.restore()
            ctx.log(
                f"  resuming from the checkpoint at epoch {self.epoch}, iteration {self.iteration}"
            )
            ctx.info["resumed_from_epoch"] = self.epoch
        else:
            shutil.rmtree(self.samples_dir, ignore_errors=True)
            self.save()  # epoch 0: a known-good state to roll back to
        ctx.info.update(self.rt.describe())
        if self.strategy is not None:
            ctx.info["distributed"] = describe_strategy(self.strategy_choice)
        total = self.total_epochs
        per_epoch = self.data.batches_per_epoch(p.batch_size)
        self.log_every = max(1, (total * per_epoch) // self.curve_points)
        self.progress = ctx.progress(total * per_epoch, "training")
        self.progress.update(self.epoch * per_epoch)
        t0 = time.perf_counter()
        start_iter = self.iteration
        while not self.is_last():
            self.diverged = None
            with strategy_scope(self.strategy, self.rt):
                self.model.fit(
                    self.dataset,
                    epochs=total,
                    initial_epoch=self.epoch,
                    callbacks=self.callbacks(),
                    verbose=0,
                    shuffle=False,
                )
            if self.diverged:
                self._on_divergence(self.diverged)
                continue
            break
        self.progress.close()
        seconds = time.perf_counter() - t0
        done = self.iteration - start_iter
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
        self.progress.n = self.epoch * self.data.batches_per_epoch(p.batch_size)
        self.save()

    def copy_samples(self, ctx: Any) -> Any:
        """Publish the per-epoch sample grids (kept in the work folder across resumes)."""
        from artforge.api import load_image

        out = ctx.image_writer("samples")
        for path in sorted(self.samples_dir.glob("epoch*.png")):
            out.add(load_image(path), name=path.stem)
        return out.finish(kind="epoch-samples")
