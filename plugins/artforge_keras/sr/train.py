"""Keras pieces of super-resolution training: :class:`SRModel` (a ``keras.Model`` whose
``train_step`` is the pixel loss, plus VGG19 conv5_4 features when ImageNet weights are
found), and the model files (``save_model``/``read_meta``, shared with the style step). The
data, the loop, the learning-rate schedule and the checkpoint cadence are the core's
(:mod:`artforge.sr_train`); the session that drives :class:`SRModel` is in :mod:`.runtime`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..backend import keras_module

keras = keras_module()
ops = keras.ops


def sequential_batches(draw, count: int):
    """A ``keras.utils.PyDataset`` of ``count`` batches from the stateful ``draw()``, drawn
    once each and in order: Keras peeks at the first items to learn their shapes before the
    epoch starts, so recent batches are kept and handed out again."""

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.cache: dict[int, object] = {}
            self.next = 0

        def __len__(self):
            return count

        def __getitem__(self, i):
            while self.next <= i:
                self.cache[self.next] = draw()
                self.cache.pop(self.next - 8, None)
                self.next += 1
            if i not in self.cache:
                raise IndexError(f"batch {i} was dropped from the cache (batches go in order)")
            return self.cache[i]

    return Batches()


class SRModel(keras.Model):
    """A super-resolution network with its training step: uint8 (low, high) batches in,
    pixel loss (+ perceptual) out. ``compile(optimizer=, pixel_loss="l1"|"mse",
    perceptual=None, perceptual_weight=0)``."""

    def __init__(self, net, **kw):
        super().__init__(name=kw.pop("name", "sr_model"), **kw)
        self.net = net
        self.tracker = keras.metrics.Mean(name="loss")
        self.built = True

    def compile(self, *, optimizer, pixel_loss="l1", perceptual=None, perceptual_weight=0.0, **kw):
        super().compile(optimizer=optimizer, **kw)
        self.pixel_loss = pixel_loss
        self.perceptual = perceptual
        self.perceptual_weight = float(perceptual_weight)
        # compile wraps the optimiser in a LossScaleOptimizer under mixed_float16
        self.optimizer.build(self.net.trainable_variables)

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, x, training=False):
        return self.net(x, training=training)

    def loss_of(self, out, y):
        d = out - y
        loss = ops.mean(ops.abs(d)) if self.pixel_loss == "l1" else ops.mean(ops.square(d))
        if self.perceptual is not None and self.perceptual_weight > 0:
            fo, fy = self.perceptual(out), self.perceptual(y)
            loss = loss + self.perceptual_weight * ops.mean(ops.square(fo - ops.stop_gradient(fy)))
        return loss

    def train_step(self, data):
        import tensorflow as tf

        lo, hi, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.cast(lo, "float32") / 255.0
        y = ops.cast(hi, "float32") / 255.0
        with tf.GradientTape() as tape:
            out = ops.cast(self.net(x, training=True), "float32")
            loss = self.loss_of(out, y)
            scaled = self.optimizer.scale_loss(loss)  # inside the tape (mixed_float16)
        variables = self.net.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result(), "step_loss": loss}


# -- model files ---------------------------------------------------------------------------------
def save_model(path: Path, net, meta: dict) -> None:
    """``net``'s weights as ``.weights.h5`` with ``meta`` (JSON) in the file's ``artforge``
    attribute, written atomically."""
    import h5py

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".weights.h5", dir=path.parent)
    os.close(fd)
    try:
        net.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs["artforge"] = json.dumps(meta, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_meta(path: Path) -> dict:
    """The ``artforge`` metadata of a model file: ``.weights.h5`` (this backend) or
    ``.safetensors`` (the torch backend)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            return json.loads((fh.metadata() or {}).get("artforge", "{}"))
    import h5py

    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get("artforge", "{}"))
