"""Training of super-resolution networks in Keras, as the PyTorch backend trains them.

Pixel loss (L1 or MSE) with Adam, the learning rate annealed along a cosine to 1% of its
start (``keras.optimizers.schedules.CosineDecay(alpha=0.01)``, the same curve as
``CosineAnnealingLR(eta_min=lr/100)``), and an exponential moving average of the weights as
the final model (the optimiser's ``use_ema``: ``fit`` writes the averages into the network
when it ends). Optional perceptual loss on VGG19 conv5_4 features when ImageNet weights are
found. ``SRModel`` is a ``keras.Model`` whose ``train_step`` is compiled by ``tf.function``;
batches come from a ``PyDataset`` in which batch ``i`` is a pure function of (seed, i).

The training state (network, Adam with its averages, the step) is saved to ``state_path``
as ``.weights.h5`` every ``save_every`` seconds, so an interrupted step resumes where it
stopped.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artforge.api import DataError, Diverged
from artforge.sr_baselines import random_pair

from ..backend import keras_module

keras = keras_module()
ops = keras.ops


class PairSampler:
    """Random aligned (low, high) uint8 patch batches of a list of images, degraded on the fly
    (``artforge.sr_baselines.random_pair``: blur, bicubic downscale, noise, JPEG, dihedral
    augmentation), drawn one batch after the other from ``default_rng(seed)`` exactly as the
    PyTorch backend's sampler draws them (the same seed gives the same batches)."""

    def __init__(
        self,
        images: list[np.ndarray],
        scale: int,
        patch: int,
        seed: int,
        *,
        blur: float = 0.0,
        noise: float = 0.0,
        jpeg: int | None = None,
        weights: list[float] | None = None,
        what: str = "training images",
    ):
        if not images:
            raise DataError(f"no {what} to train on")
        images = [np.repeat(i[..., None], 3, -1) if i.ndim == 2 else i[..., :3] for i in images]
        smallest = min(min(i.shape[:2]) for i in images)
        patch = min(patch, smallest)
        patch -= patch % scale
        if patch < 2 * scale:
            raise DataError(
                f"{what}: the smallest image is {smallest} pixels, too small for x{scale} "
                "training patches",
                hint="use larger training images or a smaller scale",
            )
        self.images, self.scale, self.patch, self.seed = images, scale, patch, seed
        self.kw = {"blur": blur, "noise": noise, "jpeg": jpeg}
        area = np.array(
            weights if weights is not None else [i.shape[0] * i.shape[1] for i in images],
            dtype=np.float64,
        )
        self.p = area / area.sum()
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The next batch: (low N x h x w x 3, high N x h*s x w*s x 3), uint8."""
        lows, highs = [], []
        for k in self.rng.choice(len(self.images), size=size, p=self.p):
            lo, hi = random_pair(self.images[k], self.scale, self.patch, self.rng, **self.kw)
            lows.append(lo)
            highs.append(hi)
        return np.stack(lows), np.stack(highs)


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


def zero_shot_fathers(
    image: np.ndarray, scale: int, min_size: int, factors: int = 6
) -> tuple[list[np.ndarray], list[float]]:
    """The test image and smaller copies (factors 1, 0.9, ... 0.5) whose shorter side is at
    least ``min_size``, weighted by area (the "HR fathers" of ZSSR, Shocher et al. 2018)."""
    from artforge.api import resize

    h, w = image.shape[:2]
    fathers, weights = [], []
    for k in range(factors):
        f = 1.0 - 0.1 * k
        size = (max(1, round(w * f)), max(1, round(h * f)))
        if min(size) < min_size:
            break
        fathers.append(image if k == 0 else resize(image, size, "bicubic"))
        weights.append(f * f)
    if not fathers:
        raise DataError(
            f"zero-shot SR: a {w}x{h} image is too small to learn x{scale} from itself",
            hint="give a training set with `train:` or use a larger image",
        )
    return fathers, weights


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


@dataclass
class TrainResult:
    steps: int
    seconds: float
    final_loss: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from: int = 0


def _save_state(path: Path, model: SRModel, state: dict) -> None:
    from ..training.checkpoint import save_checkpoint

    save_checkpoint(path, model, state)


def _load_state(path: Path | None, model: SRModel) -> dict | None:
    """The saved state, or None if there is none or it is damaged (training restarts)."""
    from artforge.api import StepError

    from ..training.checkpoint import load_checkpoint

    if path is None or not Path(path).is_file():
        return None
    try:
        return load_checkpoint(path, model)
    except StepError:
        return None


def train_sr(
    net,
    sampler: PairSampler,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    loss: str = "l1",
    seed: int = 0,
    record: Callable[[str, float, float], None] | None = None,
    progress=None,
    max_seconds: float | None = None,
    state_path: Path | None = None,
    save_every: float = 30.0,
    perceptual=None,
    perceptual_weight: float = 0.0,
    log_every: int = 10,
    prefix: str = "",
    ema_decay: float | None = 0.999,
    jit_compile: bool = False,
) -> TrainResult:
    """Train ``net`` (low -> high resolution, [0, 1] pixels) on batches from ``sampler``;
    at the end ``net`` holds the averaged weights (with ``ema_decay``)."""
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps), alpha=0.01)
    decay = min(ema_decay, 1.0 - 10.0 / max(steps, 20)) if ema_decay else None
    opt = keras.optimizers.Adam(
        schedule, epsilon=1e-8, use_ema=bool(decay), ema_momentum=decay or 0.99
    )
    model = SRModel(net)
    model.compile(
        optimizer=opt,
        pixel_loss=loss,
        perceptual=perceptual,
        perceptual_weight=perceptual_weight,
        jit_compile=jit_compile,
    )
    start = 0
    state = _load_state(state_path, model)
    if state and state.get("steps") == steps:
        start = int(state["step"])
    else:
        state = None
    sampler.reseed(seed + start)
    t0 = time.perf_counter()
    out = {"ema": None, "losses": [], "stopped": False, "done": start, "diverged": None}

    class Log(keras.callbacks.Callback):
        last_save = t0

        def on_train_batch_end(self, batch, logs=None):
            step = start + batch + 1
            value = float(logs["step_loss"])
            out["done"] = step
            if not math.isfinite(value):
                out["diverged"] = (step, value)
                self.model.stop_training = True
                return
            ema = out["ema"]
            out["ema"] = ema = value if ema is None else 0.95 * ema + 0.05 * value
            if step % log_every == 0 or step == steps:
                out["losses"].append((step, ema))
                if record is not None:
                    record(f"{prefix}loss", step, ema)
            if progress is not None:
                progress.update(1, loss=ema)
            now = time.perf_counter()
            if state_path is not None and now - self.last_save > save_every and step < steps:
                _save_state(state_path, model, {"step": step, "steps": steps})
                self.last_save = now
            if max_seconds is not None and now - t0 > max_seconds:
                out["stopped"] = step < steps
                self.model.stop_training = True

    if steps > start:
        model.fit(
            sequential_batches(lambda: sampler(batch_size), steps - start),
            epochs=1,
            callbacks=[Log()],
            verbose=0,
            shuffle=False,
        )
    if out["diverged"]:
        step, value = out["diverged"]
        raise Diverged(
            f"super-resolution training diverged at step {step}: the loss is {value}",
            hint="lower lr, or use loss: l1",
        )
    return TrainResult(
        steps=out["done"],
        seconds=time.perf_counter() - t0,
        final_loss=float(out["ema"]) if out["ema"] is not None else float("nan"),
        losses=out["losses"],
        stopped_early=out["stopped"],
        resumed_from=start,
    )


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
