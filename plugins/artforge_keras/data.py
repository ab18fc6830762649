"""The Keras GANs' training data: :mod:`artforge.training_data`, served to ``Model.fit``.

The datasets (paired, unpaired, images with or without labels), their order, crops, flips
and shards are the core's: the same step seed gives the same batches as on the PyTorch
backend. Batches stay uint8 NHWC until the compiled train step converts them to [-1, 1];
:func:`epoch_dataset` serves them to ``fit`` as a ``keras.utils.PyDataset`` whose item ``i``
is batch ``i`` of the epoch the trainer sets (``.epoch``), a pure function of (seed, epoch,
index), so a resumed run sees exactly the batches of an uninterrupted one whatever Keras
fetches ahead (``fit`` on TensorFlow prefetches from it on a background thread).
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

from .backend import keras_module


def keras_batch(batch: Any) -> Any:
    """A core batch as ``fit`` takes it: images alone, or (images, int32 labels)."""
    if isinstance(batch, tuple):
        x, y = batch
        return x if y is None else (x, y.astype(np.int32))
    return batch


def epoch_dataset(data: Any, batch_size: int):
    """A ``keras.utils.PyDataset`` over ``data`` whose current epoch is set by the trainer
    (``.epoch``) before each epoch starts; item ``i`` is batch ``i`` of that epoch."""
    keras = keras_module()

    class EpochBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self._order: tuple[int | None, Any] = (None, None)

        def __len__(self):
            return data.batches_per_epoch(batch_size)

        def __getitem__(self, index):
            seed = data.epoch_seed(self.epoch)
            if self._order[0] != seed:
                self._order = (seed, data.order(seed, batch_size))
            return keras_batch(data.batch(seed, index, batch_size, order=self._order[1]))

    return EpochBatches()


def to_uint8_images(x) -> np.ndarray:
    """(N, H, W, 3) in [-1, 1] -> uint8."""
    x = np.asarray(x, np.float32)
    return np.round((np.clip(x, -1, 1) + 1.0) * 127.5).astype(np.uint8)


def to_float(images) -> np.ndarray:
    """uint8 images (N, H, W, C) -> float32 in [-1, 1]."""
    return np.asarray(images, np.float32) / 127.5 - 1.0
