"""Colour preservation by luminance-only transfer (Gatys, Bethge, Hertzmann & Shechtman 2016,
section 2.2), on NHWC arrays: match the style's luminance to the content's (mean and std),
transfer on luminance alone (grey, three channels), recombine with the content's
chrominance in YIQ."""

from __future__ import annotations

import numpy as np

from .images import resize_to

RGB2YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    np.float32,
)
YIQ2RGB = np.linalg.inv(RGB2YIQ.astype(np.float64)).astype(np.float32)


def rgb_to_yiq(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32) @ RGB2YIQ.T


def yiq_to_rgb(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32) @ YIQ2RGB.T


def luminance(x: np.ndarray) -> np.ndarray:
    """(N, H, W, 1) luminance (Y of YIQ) of an RGB batch."""
    return rgb_to_yiq(x)[..., :1]


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    ms, ss = style_y.mean(), max(float(style_y.std(ddof=1)), 1e-6)
    mc, sc = content_y.mean(), float(content_y.std(ddof=1))
    return np.clip((style_y - ms) * (sc / ss) + mc, 0, 1).astype(np.float32)


def gray3(y: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(y, 3, axis=-1))


def combine(result_y: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The stylized luminance with the content's chrominance (I and Q), back in RGB."""
    yiq = rgb_to_yiq(content_rgb)
    if yiq.shape[1:3] != result_y.shape[1:3]:
        yiq = resize_to(yiq, result_y.shape[1:3], clamp=False)
    return np.clip(yiq_to_rgb(np.concatenate([result_y[..., :1], yiq[..., 1:]], -1)), 0, 1)
