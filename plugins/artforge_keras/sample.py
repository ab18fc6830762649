"""The ``sample`` step of the Keras backend (same name, parameters and outputs as the PyTorch
backend's): images from a trained dcgan/cdcgan generator, Keras weights or a PyTorch
backend's safetensors (converted layer by layer). The pictures, the latent walk and the
scores are backend-free (:func:`artforge.sampling.run_sample`) and the noise comes from the
same NumPy seeds, so a generator gives the same images on both backends (to float rounding).
The standard FID (``inception_weights``) needs the PyTorch Inception helper: skipped here
with a warning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from artforge.api import StepError
from artforge.gan_steps import noise_to_image
from artforge.sampling import run_sample

from .backend import keras_module
from .gan_steps import build_generator

SAMPLES = "a dcgan/cdcgan generator, or one a plugin registers that draws from noise"


def generator_fn(net, rt: Any, batch_size: int):
    """``fn(z, y) -> uint8 images (N, S, S, 3)`` in inference mode, batched."""
    import tensorflow as tf

    from .data import to_uint8_images

    conditional = bool(getattr(net, "n_classes", 0))
    nz = net.nz
    if conditional:
        signature = [tf.TensorSpec([None, nz], tf.float32), tf.TensorSpec([None], tf.int32)]

        @tf.function(input_signature=signature)
        def run(z, y):
            return tf.cast(net([z, y], training=False), tf.float32)

    else:

        @tf.function(input_signature=[tf.TensorSpec([None, nz], tf.float32)])
        def run(z):
            return tf.cast(net(z, training=False), tf.float32)

    def fn(z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        out = []
        with rt.scope():
            for i in range(0, len(z), batch_size):
                zb = tf.constant(z[i : i + batch_size], tf.float32)
                if conditional:
                    res = run(zb, tf.constant(np.asarray(y[i : i + batch_size]), tf.int32))
                else:
                    res = run(zb)
                out.append(to_uint8_images(res.numpy()))
        return np.concatenate(out)

    return fn


def sample(ctx: Any, p: Any) -> dict[str, Any]:
    from .backend import fresh_session, runtime

    keras_module()
    if p.generator is not None:
        # a registered generator for this backend; the error names the backend that has it
        ctx.component("generator", p.generator)
        raise StepError(
            f"step '{ctx.step_id}': sampling registered generators with random weights is done "
            "by the torch backend",
            hint="set backend: torch on this step",
        )
    art = ctx.model_input(p.model)
    rt = runtime(ctx.device, "off")
    fresh_session(ctx.seed)
    rt.apply_policy()
    noise_to_image(ctx, art.meta)
    with rt.scope():  # the generator registered under the model's arch (dcgan, or a plugin's)
        net = build_generator(art.meta, art.path, "AtoB", ctx.registry, SAMPLES)
    ctx.info.update(rt.describe())
    ctx.info["model_sha256"] = art.meta.get("sha256")
    if art.meta.get("backend") == "torch":
        ctx.info["weights"] = "trained by the torch backend, converted layer by layer"
    if p.inception_weights:
        ctx.warn(
            "inception_weights: the standard FID needs the PyTorch Inception helper; skipped on "
            "the keras backend (run this step with backend: torch for it)"
        )
    return run_sample(ctx, p, art.meta, generator_fn(net, rt, p.batch_size), None)
