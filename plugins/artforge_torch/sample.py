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

from artforge.sampling import run_sample

from .data import to_uint8_images
from .dcgan import load_generator


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
                out.append(to_uint8_images(net(zb, yb)))
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


def sample(ctx: Any, p: Any) -> dict[str, Any]:
    from .training.device import runtime

    art = ctx.model_input(p.model)
    rt = runtime(ctx.device, "auto", False)
    net = load_generator(art.meta, art.path).to(rt.device)
    ctx.info.update(rt.describe())
    ctx.info["model_sha256"] = art.meta.get("sha256")
    fid = fid_fn(ctx.resolve_path(p.inception_weights), rt) if p.inception_weights else None
    return run_sample(ctx, p, art.meta, generator_fn(net, rt, p.batch_size), fid)
