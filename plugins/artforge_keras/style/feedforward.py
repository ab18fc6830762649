"""Fast (feed-forward) style transfer (Johnson, Alahi & Fei-Fei 2016) in Keras.

The image-transformation network (``artforge_keras.nets.transformer.TransformerNet``) is
trained for one style as a ``keras.Model`` whose ``train_step`` computes the perceptual
losses of :mod:`.loss_net` (content targets from the batch itself, fixed Gram targets of the
style) on random crops of the content images; it then stylizes any image in one pass.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from artforge.api import StepError
from artforge.style.training import ARCH, CropSampler, TrainOptions, TrainStats

from ..backend import keras_module
from .loss_net import RANGE_WEIGHT, LossNetwork, range_penalty

keras = keras_module()
ops = keras.ops

__all__ = ["ARCH", "CropSampler", "StyleNetModel", "TrainStats", "train_transformer"]


def build_transformer(config: dict[str, Any] | None = None):
    from ..nets.transformer import TransformerNet

    return TransformerNet(**(config or {}))


class StyleNetModel(keras.Model):
    """The transformation network with its perceptual-loss training step (uint8 batches)."""

    def __init__(self, net, loss_net: LossNetwork, style_targets: dict, weights: tuple):
        super().__init__(name="style_model")
        self.net = net
        self.loss_net = loss_net
        self.style_t = {k: ops.convert_to_tensor(v) for k, v in style_targets.items()}
        self.cw, self.sw, self.tw = weights
        self.trackers = [keras.metrics.Mean(name=n) for n in ("content", "style", "tv")]
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers)

    def call(self, x, training=False):
        return self.net(x, training=training)

    def train_step(self, data):
        import tensorflow as tf

        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.cast(x, "float32") / 255.0
        content_t = self.loss_net.content_targets(x)
        with tf.GradientTape() as tape:
            y = ops.cast(self.net(x, training=True), "float32")
            # losses of the clipped output (what is written), plus a pull back into range
            lc, ls, ltv = self.loss_net.losses(ops.clip(y, 0.0, 1.0), content_t, self.style_t)
            total = self.cw * lc + self.sw * ls + self.tw * ltv
            total = total + RANGE_WEIGHT * range_penalty(y)
            scaled = self.optimizer.scale_loss(total)  # inside the tape (mixed_float16)
        variables = self.net.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        out = {}
        for tracker, v in zip(self.trackers, (lc, ls, ltv)):
            tracker.update_state(v)
            out[tracker.name] = tracker.result()
            out[f"step_{tracker.name}"] = v
        return out


def train_transformer(
    loss_net: LossNetwork,
    style: np.ndarray,
    images: list[np.ndarray],
    *,
    seed: int = 0,
    state_path: Path | None = None,
    **options: Any,
) -> tuple[Any, TrainStats]:
    """Train a transformation network for ``style`` (1 x h x w x 3 in [0, 1]) on random crops
    of ``images``; ``options`` are :class:`artforge.style.training.TrainOptions`."""
    o = TrainOptions(**options)
    log, steps = o.log, o.steps
    from ..backend import set_seed
    from ..nets.torch_random import torch_default_init
    from ..sr.train import sequential_batches
    from ..training.checkpoint import load_checkpoint, save_checkpoint

    set_seed(seed)
    net = torch_default_init(build_transformer(o.config), seed)  # as torch.manual_seed(seed)
    weights = (o.content_weight, o.style_weight, o.tv_weight)
    model = StyleNetModel(net, loss_net, loss_net.style_targets(style), weights)
    model.compile(optimizer=keras.optimizers.Adam(o.lr, epsilon=1e-8))
    model.optimizer.build(net.trainable_variables)
    sampler = CropSampler(images, o.size, seed)
    start = 0
    if state_path is not None and Path(state_path).is_file():
        try:
            state = load_checkpoint(state_path, model)
            if state.get("steps") == steps:
                start = int(state["step"])
        except StepError:
            start = 0
    sampler.reseed(seed + start)
    log.begin(start)
    diverged = []

    class Log(keras.callbacks.Callback):
        last_save = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step = start + batch + 1
            vals = [float(logs[f"step_{k}"]) for k in ("content", "style", "tv")]
            if not log.finite(*vals):
                diverged.append(step)
                self.model.stop_training = True
                return
            log.step(step, *vals)
            now = time.perf_counter()
            if state_path is not None and now - self.last_save > o.save_every and step < steps:
                save_checkpoint(state_path, model, {"step": step, "steps": steps})
                self.last_save = now

    if steps > start:
        batches = sequential_batches(lambda: np.stack(sampler(o.batch_size)), steps - start)
        model.fit(batches, epochs=1, callbacks=[Log()], verbose=0, shuffle=False)
    if diverged:
        raise log.diverged(diverged[0])
    return net, log.stats()


def load_transformer(path: Path, what: str):
    """A saved network: Keras ``.weights.h5`` or the torch backend's ``.safetensors``."""
    from ..sr.train import read_meta

    path = Path(path)
    if not path.is_file():
        raise StepError(f"checkpoint not found: {path}")
    try:
        meta = read_meta(path)
    except Exception as exc:
        raise StepError(
            f"cannot read checkpoint {path}: {exc}",
            hint="expected a .weights.h5 (keras) or .safetensors (torch) file written by a "
            "stylize step",
        ) from None
    if meta.get("arch") != ARCH:
        raise StepError(
            f"{what} is not a feed-forward style network (it holds "
            f"{meta.get('arch') or 'no artforge metadata'})",
            hint="give the model output of a stylize step with method: feed-forward",
        )
    net = build_transformer(meta.get("config"))
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            from ..nets.convert import load_torch_state

            load_torch_state(net, load_file(str(path)))
        else:
            net.load_weights(str(path))
    except Exception as exc:
        raise StepError(f"{what} does not fit the transformation network: {exc}") from None
    return net, meta


def stylize_fn(net, rt):
    """One forward pass, uint8 (H, W, 3) in, uint8 out of the same size."""
    from ..gan_steps import inference_fn

    fn = inference_fn(net, rt)

    def stylize(img: np.ndarray) -> np.ndarray:
        x = np.asarray(img, np.float32)[None, ..., :3] / 255.0
        y = fn(x)
        return np.round(np.clip(y[0], 0, 1) * 255.0).astype(np.uint8)

    return stylize
