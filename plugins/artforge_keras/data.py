"""Training data for the Keras GANs: images decoded once into one uint8 array, augmented per
batch in NumPy and served to ``Model.fit`` by a ``keras.utils.PyDataset``.

Sources as in the PyTorch backend: two image sets whose file names pair up, a folder in the
pix2pix aligned format (A|B side by side), or a folder with ``A/`` and ``B/`` sub-folders.
Augmentation as in pix2pix: resize to ``load_size``, a random ``image_size`` crop and a random
horizontal flip, the same for both sides of a pair.

Batches are a pure function of (seed, epoch, batch index): the order of an epoch and every
crop and flip come from generators seeded with ``derive_seed(seed, "epoch", epoch)``, so a
resumed run sees exactly the batches an uninterrupted one would, whatever Keras prefetches.
Batches stay uint8 (N, S, S, 6) until the compiled train step converts them to [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artforge.api import DataError, ImageSet, derive_seed, load_image, resize, resize_crop
from artforge.images import list_images

from .backend import keras_module


def _square(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h == w == size:
        return img
    if h == w:
        return resize(img, (size, size), "bicubic")
    return resize_crop(img, size)


def paired_from_sets(
    src: ImageSet, tgt: ImageSet
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Pairs of images with the same file name in two image sets."""
    tgt_index = {name: i for i, name in enumerate(tgt.names)}
    names, a, b = [], [], []
    for i, name in enumerate(src.names):
        j = tgt_index.get(name)
        if j is None:
            continue
        names.append(name)
        a.append(src.load(i))
        b.append(tgt.load(j))
    if not names:
        raise DataError(
            "no pairs: the source and target image sets share no file names",
            hint="paired training needs images with the same names on both sides",
        )
    return names, a, b


def paired_from_folder(
    folder: Path, direction: str = "AtoB"
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """An aligned folder (A|B side by side) or a folder with A/ and B/ sub-folders."""
    if not folder.is_dir():
        raise DataError(f"training folder not found: {folder}")
    names, a, b = [], [], []
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        b_files = {p.stem: p for p in list_images(folder / "B")}
        for p in list_images(folder / "A"):
            if p.stem in b_files:
                names.append(p.stem)
                a.append(load_image(p))
                b.append(load_image(b_files[p.stem]))
        if not names:
            raise DataError(f"no matching file names in {folder / 'A'} and {folder / 'B'}")
    else:
        files = list_images(folder)
        if not files:
            raise DataError(
                f"no images in {folder}",
                hint="expected aligned A|B images or A/ and B/ sub-folders",
            )
        for p in files:
            img = load_image(p)
            w = img.shape[1]
            if w % 2:
                raise DataError(
                    f"{p} is not an aligned pair: its width {w} is odd",
                    hint="the aligned format puts A and B side by side, each half the width",
                )
            names.append(p.stem)
            a.append(img[:, : w // 2])
            b.append(img[:, w // 2 :])
    if direction == "BtoA":
        a, b = b, a
    return names, a, b


class PairedData:
    """Paired images as one uint8 array (N, L, L, 6); batches are cropped and flipped."""

    def __init__(
        self,
        sources: list[np.ndarray],
        targets: list[np.ndarray],
        image_size: int,
        load_size: int,
        flip: bool,
        seed: int = 0,
    ):
        self.image_size = image_size
        self.load_size = load_size
        self.flip = flip
        self.seed = seed
        self.data = np.stack(
            [
                np.concatenate([_square(a, load_size), _square(b, load_size)], axis=2)
                for a, b in zip(sources, targets)
            ]
        )

    def __len__(self) -> int:
        return len(self.data)

    def batches_per_epoch(self, batch_size: int) -> int:
        return max(1, len(self) // batch_size)

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(derive_seed(self.seed, "epoch", epoch)).permutation(len(self))

    def batch(self, epoch: int, index: int, batch_size: int, order: np.ndarray | None = None):
        """Batch ``index`` of ``epoch``: uint8 (B, S, S, 6), drop_last, cropped and flipped."""
        order = self.order(epoch) if order is None else order
        idx = order[index * batch_size : (index + 1) * batch_size]
        if len(idx) == 0:
            idx = order
        rng = np.random.default_rng(derive_seed(self.seed, "epoch", epoch, "batch", index))
        s, ls = self.image_size, self.load_size
        out = np.empty((len(idx), s, s, self.data.shape[-1]), np.uint8)
        offs = (
            rng.integers(0, ls - s + 1, (len(idx), 2)) if ls > s else np.zeros((len(idx), 2), int)
        )
        flips = rng.random(len(idx)) < 0.5 if self.flip else np.zeros(len(idx), bool)
        for k, (i, (y, x), f) in enumerate(zip(idx, offs, flips)):
            crop = self.data[i, y : y + s, x : x + s]
            out[k] = crop[:, ::-1] if f else crop
        return out

    def fixed(self, count: int) -> np.ndarray:
        """The first ``count`` pairs, centre-cropped: the fixed input of the sample grids."""
        s, ls = self.image_size, self.load_size
        o = (ls - s) // 2
        return self.data[:count, o : o + s, o : o + s]


def epoch_dataset(data: PairedData, batch_size: int):
    """A ``keras.utils.PyDataset`` over ``data`` whose current epoch is set by the trainer
    (``.epoch``) before each epoch starts; item ``i`` is batch ``i`` of that epoch."""
    keras = keras_module()

    class EpochBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self._order = (None, None)

        def __len__(self):
            return data.batches_per_epoch(batch_size)

        def __getitem__(self, index):
            if self._order[0] != self.epoch:
                self._order = (self.epoch, data.order(self.epoch))
            return data.batch(self.epoch, index, batch_size, self._order[1])

    return EpochBatches()


def to_uint8_images(x) -> np.ndarray:
    """(N, H, W, 3) in [-1, 1] -> uint8."""
    x = np.asarray(x, np.float32)
    return np.round((np.clip(x, -1, 1) + 1.0) * 127.5).astype(np.uint8)


def to_float(images) -> np.ndarray:
    """uint8 images (N, H, W, C) -> float32 in [-1, 1]."""
    return np.asarray(images, np.float32) / 127.5 - 1.0
