"""The ``super-resolve`` step (PyTorch backend).

mode upscale: enlarge each input image ``scale`` times; mode evaluate: downscale each input
(the ground truth) by ``scale``, restore it and score it. Learned methods get their network
from ``model``, ``checkpoint``, training on ``train``, or zero-shot training on each image.
Bicubic interpolation of the same low-resolution image is always written beside the result
and scored the same way, as the yardstick.
"""

from __future__ import annotations

from artforge.sr_step import run_super_resolve

MODEL_FILE = "sr.safetensors"


def run(ctx, p):
    """The ``super-resolve`` step on the PyTorch backend (see :mod:`artforge.sr_step`)."""

    def make_upscaler():
        from .learned import Upscaler

        return Upscaler(ctx, p)

    return run_super_resolve(ctx, p, make_upscaler)
