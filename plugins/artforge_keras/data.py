"""The Keras GANs' training data: :mod:`artforge.training_data`.

The datasets (paired, unpaired, images with or without labels), their order, crops, flips
and shards are the core's: the same step seed gives the same batches as on the PyTorch
backend. Batches stay uint8 NHWC until the compiled train step converts them to [-1, 1].
The trainer (``GANTrainer.epoch_batches``) assembles batch ``i + 1`` of an epoch on a thread
while step ``i`` runs; a batch is a pure function of (seed, epoch, index), so a resumed run sees
exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from artforge.training_data import (  # noqa: F401 - re-exported: the Keras backend's data
    ImageData,
    PairedData,
    UnpairedData,
    paired_from_folder,
    paired_from_sets,
)


def keras_batch(batch: Any) -> Any:
    """A core batch as the compiled train step takes it: images alone, or (images, int32 labels)."""
    if isinstance(batch, tuple):
        x, y = batch
        return x if y is None else (x, y.astype(np.int32))
    return batch


def to_uint8_images(x) -> np.ndarray:
    """(N, H, W, 3) in [-1, 1] -> uint8."""
    x = np.asarray(x, np.float32)
    return np.round((np.clip(x, -1, 1) + 1.0) * 127.5).astype(np.uint8)


def to_float(images) -> np.ndarray:
    """uint8 images (N, H, W, C) -> float32 in [-1, 1]."""
    return np.asarray(images, np.float32) / 127.5 - 1.0
