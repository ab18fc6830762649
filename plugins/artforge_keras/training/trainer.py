"""The Keras GAN trainer: a ``keras.Model`` for the GAN, run by the backend-free driver.

:class:`GANModel` is the Keras idiom for GANs: a ``keras.Model`` subclass that overrides
``compile`` (one optimiser per network, the adversarial loss) and ``train_step`` (both
updates in one step), with ``keras.metrics.Mean`` trackers and a
``keras.random.SeedGenerator``. An exponential moving average of the generator lives in the
model as a second network updated inside the step.

:class:`GANTrainer` is the Keras runtime of :class:`artforge.training.GANDriver`, which runs
the loop as on the PyTorch backend (epochs, learning-rate schedule, divergence guard and
rollback, curves, samples, checkpoint cadence, resume). The runtime calls the model's
``train_step`` through one ``tf.function`` traced once per batch shape (not ``Model.fit``:
its data adapter, callbacks and per-batch logs cost more than half the step's time in a
small recipe), feeds it batches assembled in a background thread while the previous step
runs, and reads the step's losses back once per iteration.

A subclass of GANTrainer fills in ``build()`` (set ``self.model``, a compiled GANModel with
``generator``, and ``self.base_lrs``), ``sample_grid()`` and ``export(ctx)``; optionally
``evaluate()`` (sample-quality curves).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from artforge.api import derive_seed
from artforge.training import DivergenceGuard, GANDriver

from ..backend import fresh_session, keras_module, runtime
from ..data import keras_batch
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


class GANTrainer(GANDriver):
    """The Keras runtime of the GAN training driver (see the module docstring)."""

    checkpoint_name = "checkpoint.weights.h5"

    def __init__(self, ctx: Any, params: Any, data: Any):
        self.init_driver(ctx, params, data)
        self.rt = runtime(ctx.device, getattr(params, "amp", "auto"))
        fresh_session(derive_seed(ctx.seed, "init"))
        self.rt.apply_policy()
        # several local GPUs: one replica each (MirroredStrategy); else None (..distribution)
        self.strategy_choice, self.strategy = select_strategy(ctx.device)
        self.model: GANModel | None = None
        with strategy_scope(self.strategy, self.rt):
            self.build()
        self._step_fn: Any = None
        self._pool: ThreadPoolExecutor | None = None

    # -- extension points ------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray:
        raise NotImplementedError

    def export(self, ctx: Any) -> dict[str, Any]:
        raise NotImplementedError

    def inference(self, net, x: np.ndarray) -> np.ndarray:
        """``net(x)`` in inference mode (no dropout, running statistics)."""
        with self.rt.scope():
            return np.asarray(net(x, training=False), np.float32)

    # -- the runtime the driver calls ----------------------------------------------------
    def loop(self) -> Any:
        return _Loop(self)

    def epoch_batches(self, epoch: int) -> Iterator[Any]:
        """The epoch's batches, each assembled in a background thread while the step before
        it runs (a batch is a pure function of the seed, epoch and index)."""
        data, bs = self.data, self.p.batch_size
        seed = data.epoch_seed(epoch)  # the core pipeline's: the same batches as on torch
        order = data.order(seed, bs)
        n = data.batches_per_epoch(bs)

        def batch(i: int) -> Any:
            return keras_batch(data.batch(seed, i, bs, order=order))

        pool = self._pool
        if pool is None:
            yield from (batch(i) for i in range(n))
            return
        pending = pool.submit(batch, 0)
        for i in range(n):
            out = pending.result()
            if i + 1 < n:
                pending = pool.submit(batch, i + 1)
            yield out

    def step(self, batch: Any) -> dict[str, float]:
        if self._step_fn is None:
            self._step_fn = self._compile_step()
        out = self._step_fn(self._to_tensors(batch))
        return {k: float(v) for k, v in out.items()}

    def _to_tensors(self, batch: Any) -> Any:
        import tensorflow as tf

        if self.strategy is None:
            return tf.nest.map_structure(tf.convert_to_tensor, batch)
        n = self.strategy.num_replicas_in_sync
        per = len(tf.nest.flatten(batch)[0]) // n

        def part(ctx: Any) -> Any:  # Keras' own split: replica r takes the r-th slice
            i = ctx.replica_id_in_sync_group
            return tf.nest.map_structure(lambda x: x[i * per : (i + 1) * per], batch)

        return self.strategy.experimental_distribute_values_from_function(part)

    def _compile_step(self) -> Any:
        """The model's ``train_step`` as one ``tf.function``: its ``step_*`` losses."""
        import tensorflow as tf

        model = self.model

        def one(batch: Any) -> dict[str, Any]:
            logs = model.train_step(batch)
            return {k[5:]: tf.cast(v, tf.float32) for k, v in logs.items() if k.startswith("step_")}

        jit = bool(getattr(model, "jit_compile", False))
        if self.strategy is None:
            return tf.function(one, jit_compile=jit, reduce_retracing=True)
        strategy = self.strategy

        def mirrored(batch: Any) -> dict[str, Any]:
            per_replica = strategy.run(one, args=(batch,))
            return {
                k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in per_replica.items()
            }

        return tf.function(mirrored, reduce_retracing=True)

    def set_learning_rates(self, lrs: dict[str, float]) -> None:
        for name, opt in self.model.optimizers().items():
            inner = getattr(opt, "inner_optimizer", opt)  # under loss scaling
            inner.learning_rate.assign(lrs[name])

    def runtime_info(self) -> dict[str, Any]:
        info = dict(self.rt.describe())
        if self.strategy is not None:
            info["distributed"] = describe_strategy(self.strategy_choice)
        return info

    # -- state ---------------------------------------------------------------------------
    def write_checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, self.model, self.state())

    def read_checkpoint(self) -> dict[str, Any] | None:
        """The driver's state of the checkpoint, its weights loaded into the model; None
        without a checkpoint."""
        if not self.checkpoint_path.exists():
            return None
        return load_checkpoint(self.checkpoint_path, self.model)


class _Loop:
    """The context the training loop runs in: the strategy's (or device's) scope and the
    thread that assembles the next batch."""

    def __init__(self, trainer: GANTrainer):
        self.t = trainer
        self.scope: Any = None

    def __enter__(self) -> _Loop:
        self.scope = strategy_scope(self.t.strategy, self.t.rt)
        self.scope.__enter__()
        self.t._pool = ThreadPoolExecutor(1, thread_name_prefix="artforge-batches")
        return self

    def __exit__(self, *exc: Any) -> None:
        pool, self.t._pool = self.t._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self.scope.__exit__(*exc)


__all__ = ["DivergenceGuard", "GANModel", "GANTrainer", "adam"]
