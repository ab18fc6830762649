"""Pixel sorting: within each row (or column), runs of pixels whose brightness lies between
two thresholds are sorted by brightness, hue or saturation. numpy only, fully vectorised."""

from __future__ import annotations

import numpy as np


def brightness(img: np.ndarray) -> np.ndarray:
    """Luma in [0, 1] (ITU-R BT.601 weights) of a uint8 H x W x 3 image."""
    return img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0


def hue_saturation(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HSV hue and saturation in [0, 1] of a uint8 H x W x 3 image."""
    rgb = img.astype(np.float32) / 255.0
    mx, mn = rgb.max(-1), rgb.min(-1)
    delta = mx - mn
    sat = np.where(mx > 0, delta / np.maximum(mx, 1e-12), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    d = np.maximum(delta, 1e-12)
    hue = np.select(
        [delta == 0, mx == r, mx == g],
        [0.0, ((g - b) / d) % 6.0, (b - r) / d + 2.0],
        (r - g) / d + 4.0,
    )
    return hue / 6.0, sat


def sort_key(img: np.ndarray, key: str) -> np.ndarray:
    if key == "brightness":
        return brightness(img)
    hue, sat = hue_saturation(img)
    return hue if key == "hue" else sat


def pixel_sort(
    img: np.ndarray,
    *,
    low: float = 0.25,
    high: float = 0.8,
    direction: str = "rows",
    key: str = "brightness",
    reverse: bool = False,
    max_run: int | None = None,
) -> np.ndarray:
    """Sort runs of pixels with ``low <= brightness <= high`` along rows or columns.

    Pixels outside the thresholds stay where they are and split the runs; ``max_run`` also
    splits runs longer than that many pixels. Returns a new uint8 image of the same shape.
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {img.shape}")
    if direction == "columns":
        return pixel_sort(
            img.transpose(1, 0, 2),
            low=low,
            high=high,
            key=key,
            reverse=reverse,
            max_run=max_run,
        ).transpose(1, 0, 2)
    h, w = img.shape[:2]
    flat = np.ascontiguousarray(img).reshape(-1, 3)
    inside = ((brightness(img) >= low) & (brightness(img) <= high)).reshape(-1)
    n = flat.shape[0]
    index = np.arange(n)
    row_start = index % w == 0
    previous_inside = np.concatenate([[False], inside[:-1]])
    new_run = row_start | ~inside | ~previous_inside  # each pixel outside is a run of its own
    if max_run:
        run_start = np.maximum.accumulate(np.where(new_run, index, 0))
        new_run |= (index - run_start) % max_run == 0
    run_id = np.cumsum(new_run)
    k = sort_key(img, key).reshape(-1)
    order = np.lexsort((-k if reverse else k, run_id))  # stable: runs stay in place
    return flat[order].reshape(h, w, 3)


def run(ctx, p):
    """The ``pixel-sort`` step."""
    src = ctx.images(p.images)
    out = ctx.image_writer("images")
    progress = ctx.progress(len(src), "pixel sorting")
    moved = []
    for i, name in enumerate(src.names):
        img = src.load(i)
        result = pixel_sort(
            img,
            low=p.low,
            high=p.high,
            direction=p.direction,
            key=p.key,
            reverse=p.reverse,
            max_run=p.max_run,
        )
        moved.append(float(np.mean(np.any(result != img, axis=-1))))
        out.add(result, name=name)  # the same name: the gallery pairs input and output
        progress.update()
    progress.close()
    ctx.metrics["images"] = len(src)
    ctx.metrics["pixels_moved"] = round(float(np.mean(moved)), 4) if moved else 0.0
    if moved and max(moved) == 0.0:
        ctx.warn(f"no pixel moved: no run of pixels has a brightness between {p.low} and {p.high}")
    return {"images": out.finish(effect="pixel-sort")}
