"""``glitch-transfer``: a style optimiser for the ``stylize`` step (numpy only, any backend).

The content image takes the style image's palette, then glitches: each channel gets the
style's histogram (histogram specification: the content's pixels keep their order of values,
and take the style's values of the same rank), and the red and blue channels are then
shifted apart horizontally by ``shift`` pixels (chromatic aberration), wrapping around.

Options (``stylize`` ``options:``): ``shift`` (pixels, default 3; 0: a plain palette
transfer).
"""

from __future__ import annotations

import numpy as np

from artforge.api import StepError


def match_channel(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``src``'s values replaced by ``ref``'s values of the same rank (both 2-D uint8)."""
    flat, ref_sorted = src.ravel(), np.sort(ref.ravel())
    ranks = np.empty(flat.size)
    ranks[np.argsort(flat, kind="stable")] = np.arange(flat.size)
    positions = ranks * (ref_sorted.size - 1) / max(flat.size - 1, 1)
    matched = np.interp(positions, np.arange(ref_sorted.size), ref_sorted)
    return np.rint(matched).astype(np.uint8).reshape(src.shape)


def glitch_transfer(content: np.ndarray, style: np.ndarray, params) -> np.ndarray:
    """``stylize(content, style, params)``: uint8 (H, W, 3) in, uint8 (H, W, 3) out."""
    shift = params.options.get("shift", 3)
    if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift <= 256:
        raise StepError(
            f"glitch-transfer: options.shift must be a whole number of pixels from 0 to 256, "
            f"got {shift!r}"
        )
    out = np.stack([match_channel(content[..., c], style[..., c]) for c in range(3)], axis=-1)
    if shift:
        out[..., 0] = np.roll(out[..., 0], shift, axis=1)
        out[..., 2] = np.roll(out[..., 2], -shift, axis=1)
    return out
