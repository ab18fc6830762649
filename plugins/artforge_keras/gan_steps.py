"""The ``train-gan`` and ``translate`` steps of the Keras backend (same parameters, outputs,
metrics and curves as the PyTorch backend's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from artforge.api import StepError
from artforge.gan_steps import image_to_image, translate_images


def train_gan(ctx: Any, p: Any) -> dict[str, Any]:
    """``train-gan``: the trainer registered as ``p.model`` for this backend (the built-in
    pix2pix, cyclegan, dcgan and cdcgan are registered like any plugin's:
    :mod:`artforge_keras.features.gan`), with the training data of its kind."""
    from artforge.components import run_gan_trainer

    from .registered import build_data

    return run_gan_trainer(ctx, p, build_data, "artforge_keras.training.trainer.GANTrainer")


def train_dcgan(ctx: Any, p: Any) -> dict[str, Any]:
    """The train-gan step for model dcgan / cdcgan (:func:`artforge.gan_steps.train_image_gan`
    with this backend's data and trainer, as the torch backend's)."""
    from artforge.gan_steps import train_image_gan

    from .dcgan import DCGANTrainer, ImageData

    return train_image_gan(
        ctx,
        p,
        lambda images, labels: ImageData(images, labels, p.image_size, p.flip, seed=ctx.seed),
        DCGANTrainer,
        " (keras)",
    )


# -- translate ------------------------------------------------------------------------------
def build_generator(
    meta: dict[str, Any], path: Any, direction: str = "AtoB", registry: Any = None, expect: str = ""
):
    """Rebuild a trained generator from a model artifact's meta and weights: the generator
    registered under ``meta["arch"]`` for this backend
    (:func:`artforge.components.trained_generator`: its ``loader``, or ``factory(**kwargs)``
    with Keras' ``.weights.h5`` or a PyTorch backend's ``.safetensors``, converted layer by
    layer)."""
    from artforge.components import trained_generator

    from .backend import keras_module

    keras_module()
    return trained_generator(registry, "keras", meta, path, direction, load_default, expect)


def load_default(factory: Any, meta: dict[str, Any], path: Any):
    """``factory(**meta["kwargs"])`` with the weights at ``path`` loaded (either backend's)."""
    net = factory(**meta["kwargs"])
    load_weights_any(net, path, meta)
    return net


def load_weights_any(net, path: Any, meta: dict[str, Any]) -> None:
    """Keras weights (``.weights.h5``) or PyTorch weights (``.safetensors``) into ``net``."""
    path = Path(path)
    backend = meta.get("backend")
    try:
        if path.suffix == ".safetensors" or backend == "torch":
            from safetensors.numpy import load_file

            from .nets.convert import load_torch_state

            load_torch_state(net, load_file(str(path)))
        else:
            net.load_weights(str(path))
    except Exception as exc:
        raise StepError(
            f"cannot load the weights {path} into the {meta.get('arch')} network: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from None


def _pad_to(x: np.ndarray, multiple: int) -> tuple[np.ndarray, int, int]:
    h, w = x.shape[1:3]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "edge"
        x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    return x, h, w


def run_whole(fn, x: np.ndarray, multiple: int) -> np.ndarray:
    """``fn`` on ``x`` (N, H, W, C) padded to a multiple of ``multiple``, cropped back."""
    xp, h, w = _pad_to(x, multiple)
    return np.asarray(fn(xp), np.float32)[:, :h, :w]


def _tile_starts(size: int, tile: int, step: int) -> list[int]:
    starts = list(range(0, max(size - tile, 0) + 1, step)) or [0]
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def tiled_rows(fn, cut, n: int, h: int, w: int, tile: int, overlap: int, multiple: int):
    """Overlapping tiles blended with linear ramps, one row of tiles at a time: yields
    ``(r0, r1, rows)``, the finished output rows ``r0:r1`` (float (n, r1 - r0, w, 3)), top to
    bottom; ``cut(y0, y1, x0, x1)`` gives ``fn``'s input for that area. The blend accumulates
    in a strip buffer one tile tall (the rows the next tile row overlaps move up in it), so
    the float memory is O(tile x w) whatever ``h``, with the same sums as a full-size buffer."""
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap, tile // 2)
    step = tile - overlap
    ramp = np.ones(tile, np.float32)
    if overlap:
        edge = np.linspace(0, 1, overlap + 2, dtype=np.float32)[1:-1]
        ramp[:overlap] = edge
        ramp[-overlap:] = edge[::-1]
    win = ramp[:, None] * ramp[None, :]
    ys, xs = _tile_starts(h, tile, step), _tile_starts(w, tile, step)
    rows = min(tile, h)
    acc = np.zeros((n, rows, w, 3), np.float32)  # image rows y0 : y0 + rows
    weight = np.zeros((1, rows, w, 1), np.float32)
    for k, y0 in enumerate(ys):
        for x0 in xs:
            pred = run_whole(fn, cut(y0, y0 + tile, x0, x0 + tile), multiple)
            th, tw = pred.shape[1:3]
            wv = win[:th, :tw, None]
            acc[:, :th, x0 : x0 + tw] += pred * wv
            weight[:, :th, x0 : x0 + tw] += wv
        last = k + 1 == len(ys)
        done = (h if last else ys[k + 1]) - y0  # no later tile reaches these rows
        yield y0, y0 + done, acc[:, :done] / np.maximum(weight[:, :done], 1e-8)
        if not last:
            keep = rows - done
            acc[:, :keep] = acc[:, done:].copy()
            weight[:, :keep] = weight[:, done:].copy()
            acc[:, keep:] = 0
            weight[:, keep:] = 0


def run_tiled(fn, x: np.ndarray, tile: int, overlap: int, multiple: int) -> np.ndarray:
    """Overlapping tiles blended with linear ramps (:func:`tiled_rows`) into a full-size
    float result; :func:`translate_tiled` stores uint8 row by row instead."""
    n, h, w, _ = x.shape
    out = np.empty((n, h, w, 3), np.float32)

    def cut(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return x[:, y0:y1, x0:x1]

    for r0, r1, rows in tiled_rows(fn, cut, n, h, w, tile, overlap, multiple):
        out[:, r0:r1] = rows
    return out


def translate_tiled(fn, images: np.ndarray, tile: int, overlap: int, multiple: int) -> np.ndarray:
    """uint8 (N, H, W, 3) images translated in tiles into a preallocated uint8 result: each
    tile goes to float in [-1, 1] on its own, each finished row of tiles is normalised and
    stored as uint8, so the float memory is O(tile x W); equal to
    ``to_uint8_images(run_tiled(fn, to_float(images), ...))``."""
    from .data import to_float, to_uint8_images

    n, h, w = images.shape[:3]

    def cut(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return to_float(images[:, y0:y1, x0:x1])

    out = np.empty((n, h, w, 3), np.uint8)
    for r0, r1, rows in tiled_rows(fn, cut, n, h, w, tile, overlap, multiple):
        out[:, r0:r1] = to_uint8_images(rows)
    return out


def inference_fn(net, rt):
    """``net`` in inference mode as a ``tf.function`` traced once for any image size."""
    import tensorflow as tf

    channels = net.inputs[0].shape[-1]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)])
    def fn(x):
        return tf.cast(net(x, training=False), tf.float32)

    def call(x):
        with rt.scope():
            return fn(tf.constant(x, tf.float32)).numpy()

    return call


def translate(ctx: Any, p: Any) -> dict[str, Any]:
    from .backend import runtime
    from .data import to_float, to_uint8_images

    art = ctx.model_input(p.model)
    if len(ctx.images(p.images)) == 0:
        raise StepError(f"step '{ctx.step_id}': no images to translate")
    image_to_image(ctx, art.meta)
    rt = runtime(ctx.device, "auto")
    with rt.scope():
        net = build_generator(art.meta, art.path, p.direction, ctx.registry)
    fn = inference_fn(net, rt)
    multiple = int(art.meta.get("multiple", 4))
    ctx.info.update(rt.describe())
    ctx.info["model_sha256"] = art.meta.get("sha256")
    if art.meta.get("backend") == "torch":
        ctx.info["weights"] = "trained by the torch backend, converted layer by layer"

    def predict(x: np.ndarray, tiled: bool) -> np.ndarray:
        if tiled:
            return translate_tiled(fn, x, p.tile or 512, p.overlap, multiple)
        return to_uint8_images(run_whole(fn, to_float(x), multiple))

    return translate_images(ctx, p, predict)
