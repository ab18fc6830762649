"""Tiled inference: run a super-resolution network tile by tile so memory stays bounded.

Each low-resolution tile is cut with ``overlap`` pixels of context on every side (less at
the image border), run through the network, and only the output of the tile's own area is
kept. Every output pixel therefore comes from exactly one tile; once ``overlap`` covers the
network's receptive-field radius, the padding at the tile edges cannot reach the kept area
and the result equals whole-image inference.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def tiled_forward(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tile: int | None,
    overlap: int,
) -> torch.Tensor:
    """``net(x)`` for an ``N x C x H x W`` input, computed in ``tile``-sized pieces."""
    n, _, h, w = x.shape
    if tile is None or (h <= tile and w <= tile):
        return net(x)
    out: torch.Tensor | None = None
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        ya, yb = max(y0 - overlap, 0), min(y1 + overlap, h)
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            xa, xb = max(x0 - overlap, 0), min(x1 + overlap, w)
            piece = net(x[:, :, ya:yb, xa:xb])
            if piece.shape[-2:] != ((yb - ya) * scale, (xb - xa) * scale):
                raise ValueError(
                    f"the network turned a {xb - xa}x{yb - ya} tile into "
                    f"{piece.shape[-1]}x{piece.shape[-2]}, expected x{scale}"
                )
            if out is None:
                out = piece.new_empty(n, piece.shape[1], h * scale, w * scale)
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = piece[
                :,
                :,
                (y0 - ya) * scale : (y1 - ya) * scale,
                (x0 - xa) * scale : (x1 - xa) * scale,
            ]
    assert out is not None
    return out


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
