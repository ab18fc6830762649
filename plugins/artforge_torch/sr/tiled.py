"""Tiled inference: run a super-resolution network tile by tile so memory stays bounded.

Each low-resolution tile is cut with ``overlap`` pixels of context on every side (less at
the image border), run through the network, and only the output of the tile's own area is
kept. Every output pixel therefore comes from exactly one tile; once ``overlap`` covers the
network's receptive-field radius, the padding at the tile edges cannot reach the kept area
and the result equals whole-image inference.

:func:`tiled_to_image` (what the ``super-resolve`` step runs) converts each tile to float on
its own and stores its output as uint8 straight away, so its float memory is one tile's,
whatever the image size; :func:`tiled_forward` returns the full float result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch

from artforge.images import check_tile, scaled_tiles


def tiled_pieces(
    net: Callable[[torch.Tensor], torch.Tensor],
    cut: Callable[[int, int, int, int], torch.Tensor],
    h: int,
    w: int,
    scale: int,
    tile: int,
    overlap: int,
) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """The output tile by tile: ``(rows, cols, piece)`` with ``piece`` the network's output
    for the output area ``[rows, cols]``, the input cut by ``cut(ya, yb, xa, xb)`` (an
    ``N x C x (yb - ya) x (xb - xa)`` tensor). Only one tile is alive at a time, so a caller
    that stores each piece (as uint8, say) needs no full-size float buffer."""
    for ya, yb, xa, xb, rows, cols, keep_rows, keep_cols in scaled_tiles(
        h, w, tile, overlap, scale
    ):
        piece = net(cut(ya, yb, xa, xb))
        check_tile(piece.shape[-2:], (yb - ya, xb - xa), scale)
        yield rows, cols, piece[:, :, keep_rows, keep_cols]


def tiled_forward(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tile: int | None,
    overlap: int,
) -> torch.Tensor:
    """``net(x)`` for an ``N x C x H x W`` input, computed in ``tile``-sized pieces (a
    full-size float result; :func:`tiled_to_image` writes uint8 tile by tile instead)."""
    n, _, h, w = x.shape
    if tile is None or (h <= tile and w <= tile):
        return net(x)
    out: torch.Tensor | None = None

    def cut(ya: int, yb: int, xa: int, xb: int) -> torch.Tensor:
        return x[:, :, ya:yb, xa:xb]

    for rows, cols, piece in tiled_pieces(net, cut, h, w, scale, tile, overlap):
        if out is None:
            out = piece.new_empty(n, piece.shape[1], h * scale, w * scale)
        out[:, :, rows, cols] = piece
    assert out is not None
    return out


def tiled_to_image(
    net: Callable[[torch.Tensor], torch.Tensor],
    img: np.ndarray,
    scale: int,
    tile: int | None,
    overlap: int,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """One uint8 ``H x W x 3`` image through ``net`` in ``tile``-sized pieces, into a
    preallocated uint8 ``(H * scale) x (W * scale) x 3`` result: each tile is converted to
    float on its own and its output stored as uint8 at once, so the float memory is that of
    one tile, whatever the image size. Equal to ``to_image(tiled_forward(net,
    to_tensor(img), ...))``: the same per-pixel conversions, the same tiles."""
    from ..style.util import to_image, to_tensor

    a = np.asarray(img)
    h, w = a.shape[:2]
    if tile is None or (h <= tile and w <= tile):
        return to_image(net(to_tensor(a, device)))
    out = np.empty((h * scale, w * scale, 3), np.uint8)

    def cut(ya: int, yb: int, xa: int, xb: int) -> torch.Tensor:
        return to_tensor(a[ya:yb, xa:xb], device)

    for rows, cols, piece in tiled_pieces(net, cut, h, w, scale, tile, overlap):
        out[rows, cols] = to_image(piece)
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
