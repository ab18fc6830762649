"""Kaleidoscope: fold the image's polar angle into one mirrored wedge, giving an n-fold
rotational and mirror symmetry around the centre. numpy only."""

from __future__ import annotations

import math

import numpy as np


def kaleidoscope(
    img: np.ndarray,
    *,
    segments: int = 6,
    rotation: float = 0.0,
    zoom: float = 1.0,
    center: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """An image of the same size with ``segments``-fold dihedral symmetry about its centre.

    Each output pixel at polar (r, theta) shows the source at (r * zoom, theta') where theta'
    is theta folded into [0, pi / segments]: rotated by 360 / segments degrees, or mirrored
    across the horizontal axis, the output is unchanged. ``rotation`` (degrees) turns the
    wedge within the source and ``center`` (fractions of width and height) moves it.
    Samples outside the source are mirrored back inside (bilinear interpolation).
    """
    if segments < 1:
        raise ValueError("segments must be at least 1")
    h, w = img.shape[:2]
    cy_out, cx_out = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx, dy = xx - cx_out, yy - cy_out
    r = np.hypot(dx, dy) * zoom
    wedge = 2.0 * math.pi / segments
    theta = np.mod(np.arctan2(dy, dx), wedge)
    theta = np.minimum(theta, wedge - theta)  # mirror the second half of the wedge
    theta = theta + math.radians(rotation)
    sx = center[0] * (w - 1) + r * np.cos(theta)
    sy = center[1] * (h - 1) + r * np.sin(theta)
    return _bilinear(img, _reflect(sx, w - 1), _reflect(sy, h - 1))


def _reflect(v: np.ndarray, top: float) -> np.ndarray:
    """Mirror coordinates into [0, top] (a triangle wave)."""
    if top <= 0:
        return np.zeros_like(v)
    period = 2.0 * top
    v = np.mod(v, period)
    return np.where(v > top, period - v, v)


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    x0 = np.clip(np.floor(x).astype(np.int64), 0, w - 1)
    y0 = np.clip(np.floor(y).astype(np.int64), 0, h - 1)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    src = img.astype(np.float32)
    top = src[y0, x0] * (1 - fx) + src[y0, x1] * fx
    bottom = src[y1, x0] * (1 - fx) + src[y1, x1] * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def run(ctx, p):
    """The ``kaleidoscope`` step."""
    src = ctx.images(p.images)
    out = ctx.image_writer("images")
    for i, name in enumerate(src.names):
        result = kaleidoscope(
            src.load(i),
            segments=p.segments,
            rotation=p.rotation,
            zoom=p.zoom,
            center=(p.center_x, p.center_y),
        )
        out.add(result, name=name)
    ctx.metrics["images"] = len(src)
    return {"images": out.finish(effect="kaleidoscope", segments=p.segments)}
