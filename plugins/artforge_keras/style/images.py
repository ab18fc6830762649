"""Image batches of the Keras style code: NHWC float32 in [0, 1]."""

from __future__ import annotations

import numpy as np


def resize_to(x: np.ndarray, size, clamp: bool = True) -> np.ndarray:
    """Bicubic resize of an NHWC batch (antialiased when shrinking), clamped to [0, 1]."""
    import tensorflow as tf

    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[1:3]) == size:
        return x
    shrinking = size[0] < x.shape[1]
    y = tf.image.resize(x, size, method="bicubic", antialias=shrinking).numpy()
    return np.clip(y, 0, 1) if clamp else y


def to_array(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (1, H, W, 3) in [0, 1]."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    return (a[..., :3].astype(np.float32) / 255.0)[None]


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(x, np.float32)[0], 0, 1) * 255.0).astype(np.uint8)
