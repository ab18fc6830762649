"""The ``sample`` step of the PyTorch backend: images from a trained dcgan/cdcgan generator.

The pictures, the latent walk and the scores are backend-free (:func:`artforge.sampling.
run_sample`); this module loads the generator (the EMA weights when the model was trained
with ``ema``: that is what ``train-gan`` exports), runs it under ``torch.inference_mode`` and
offers the standard FID through ``artforge_torch.nets.inception`` when ``inception_weights``
is given. The noise comes from NumPy seeds, so the Keras backend draws the same z.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from artforge.api import StepError
from artforge.sampling import run_sample

from .data import to_uint8_images

SAMPLES = "a dcgan/cdcgan generator, or one a plugin registers that draws from noise"


def generator_fn(net: torch.nn.Module, rt: Any, batch_size: int):
    """``fn(z, y) -> uint8 images (N, S, S, 3)`` in inference mode, batched."""

    def fn(z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        out = []
        with torch.inference_mode(), rt.autocast():
            for i in range(0, len(z), batch_size):
                zb = torch.from_numpy(np.ascontiguousarray(z[i : i + batch_size])).to(rt.device)
                yb = (
                    None
                    if y is None
                    else torch.from_numpy(np.asarray(y[i : i + batch_size], np.int64)).to(rt.device)
                )
                img = net(zb) if yb is None else net(zb, yb)
                if img.shape[1] == 1:  # a grey generator: stored as RGB
                    img = img.expand(-1, 3, -1, -1)
                out.append(to_uint8_images(img))
        return np.concatenate(out)

    return fn


def fid_fn(path: Any, rt: Any):
    """``fn(images_a, images_b) -> float``: FID with the Inception network at ``path``."""

    def fn(a: np.ndarray, b: np.ndarray) -> float:
        from .nets.inception import fid, load_inception

        net = load_inception(path, rt.device)
        with torch.inference_mode():
            return float(fid(a, b, net))

    return fn


def registered_generator(ctx: Any, p: Any) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A generator a plugin registered (``register_models``), built with ``p.options`` and
    random weights drawn from the step's seed. It follows the DCGAN generator's convention:
    attributes ``nz`` and ``image_size``, ``forward(z (N, nz)) -> (N, 3 or 1, S, S)`` in
    [-1, 1] (the CPPN of artforge-glitch does)."""
    from artforge.api import derive_seed

    factory = ctx.component("generator", p.generator)
    torch.manual_seed(derive_seed(ctx.seed, "weights"))
    try:
        net = factory(**p.options)
    except (TypeError, ValueError) as exc:
        raise StepError(
            f"step '{ctx.step_id}': generator '{p.generator}' does not accept options "
            f"{p.options}: {exc}",
            hint="see the generator's documentation (`artforge plugins` names its plugin)",
        ) from None
    missing = [a for a in ("nz", "image_size") if not isinstance(getattr(net, a, None), int)]
    if not isinstance(net, torch.nn.Module) or missing:
        raise StepError(
            f"step '{ctx.step_id}': generator '{p.generator}' cannot be sampled: it must be a "
            "torch module with integer attributes nz and image_size"
            + (f" (missing: {', '.join(missing)})" if missing else ""),
            hint="a samplable generator maps z (N, nz) to images (N, 3, S, S) in [-1, 1]",
        )
    meta = {
        "model": p.generator,
        "arch": p.generator,
        "nz": net.nz,
        "image_size": net.image_size,
        "n_classes": 0,
        "weights": f"random (seed {derive_seed(ctx.seed, 'weights')})",
    }
    return net.eval(), meta


def sample(ctx: Any, p: Any) -> dict[str, Any]:
    from .training.device import runtime

    rt = runtime(ctx.device, "auto", False)
    if p.generator is not None:
        net, meta = registered_generator(ctx, p)
        ctx.info["generator"] = f"{p.generator} (registered, random weights)"
    else:
        from artforge.gan_steps import noise_to_image

        from .gan_steps import build_generator

        art = ctx.model_input(p.model)
        noise_to_image(ctx, art.meta)
        # the generator registered under the model's arch (dcgan, or a plugin's)
        net, meta = build_generator(art.meta, art.path, "AtoB", ctx.registry, SAMPLES), art.meta
        ctx.info["model_sha256"] = art.meta.get("sha256")
    net = net.to(rt.device)
    ctx.info.update(rt.describe())
    fid = fid_fn(ctx.resolve_path(p.inception_weights), rt) if p.inception_weights else None
    return run_sample(ctx, p, meta, generator_fn(net, rt, p.batch_size), fid)
