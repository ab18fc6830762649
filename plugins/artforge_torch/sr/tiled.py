"""Receptive fields of the PyTorch SR networks: how much context tiled inference needs.

The tiling itself is the core's (:func:`artforge.sr_learned.tiled_to_image`): once a tile's
``overlap`` covers the network's receptive-field radius, the padding at the tile edges cannot
reach the kept area and tiled results equal whole-image results.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def conv_radius(net: torch.nn.Module) -> int:
    """An upper bound of the receptive-field radius in input pixels of a network whose
    convolutions are registered in the order they run (ESPCN, SRResNet): each convolution
    adds ``dilation * (kernel // 2)`` pixels at its resolution, and a PixelShuffle divides
    the later ones by its factor. Residual branches never reach further than the main path."""
    radius, factor = 0.0, 1
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            radius += m.dilation[0] * (m.kernel_size[0] // 2) / factor
        elif isinstance(m, torch.nn.PixelShuffle):
            factor *= m.upscale_factor
    return int(math.ceil(radius)) + 1


def receptive_radius(
    net: Callable[[torch.Tensor], torch.Tensor], channels: int = 3, size: int = 64, scale: int = 1
) -> int:
    """The network's receptive-field radius in input pixels, measured by perturbing one
    input pixel and finding the farthest output pixel that changes (for a ``size`` input)."""
    with torch.no_grad():
        x = torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0))
        base = net(x)
        c = size // 2
        x2 = x.clone()
        x2[:, :, c, c] += 1.0
        diff = (net(x2) - base).abs().amax(dim=(0, 1)) > 0
        ys, xs = torch.nonzero(diff, as_tuple=True)
        if len(ys) == 0:
            return 0
        dy = max(abs(int(ys.min()) // scale - c), abs(int(ys.max()) // scale - c))
        dx = max(abs(int(xs.min()) // scale - c), abs(int(xs.max()) // scale - c))
        return max(dy, dx)
