"""Training data for the GANs: decoded once into uint8 tensors, augmented per batch.

Sources: two image sets whose file names pair up (e.g. ``synthetic-scenes`` night/day), a
folder in the pix2pix aligned format (A and B side by side in one image), or a folder with
sub-folders ``A/`` and ``B/`` of matching file names. Augmentation as in pix2pix: resize to
``load_size`` then a random ``image_size`` crop, and random horizontal flips, applied
identically to both sides of a pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from artforge.api import DataError, ImageSet, load_image, resize, resize_crop
from artforge.images import list_images


def _square(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h == w == size:
        return img
    if h == w:
        return resize(img, (size, size), "bicubic")
    return resize_crop(img, size)


def paired_from_sets(src: ImageSet, tgt: ImageSet) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
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


def paired_from_folder(folder: Path, direction: str = "AtoB") -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """An aligned folder (A|B side by side) or a folder with A/ and B/ sub-folders."""
    if not folder.is_dir():
        raise DataError(f"training folder not found: {folder}")
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        b_files = {p.stem: p for p in list_images(folder / "B")}
        names, a, b = [], [], []
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
            raise DataError(f"no images in {folder}", hint="expected aligned A|B images or A/ and B/ sub-folders")
        names, a, b = [], [], []
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
    """Paired images as one uint8 tensor (N, 6, L, L); batches are cropped and flipped."""

    def __init__(self, sources: list[np.ndarray], targets: list[np.ndarray], image_size: int, load_size: int, flip: bool):
        self.image_size = image_size
        self.load_size = load_size
        self.flip = flip
        arr = np.stack(
            [np.concatenate([_square(a, load_size), _square(b, load_size)], axis=2) for a, b in zip(sources, targets)]
        )
        self.data = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()  # N, 6, L, L (uint8)

    def __len__(self) -> int:
        return len(self.data)

    def batches_per_epoch(self, batch_size: int) -> int:
        return max(1, len(self) // batch_size)

    def epoch(
        self, batch_size: int, generator: torch.Generator, shard: tuple[int, int] = (0, 1)
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled batches (drop_last) for one epoch; the generator fixes order and jitter.

        ``shard=(rank, world_size)``: only this process's slice of every batch. The order, crops
        and flips are still drawn for the whole batch, so the slices of all processes together
        are exactly the batch of one process (and only the slice is cropped and converted)."""
        rank, world = shard
        order = torch.randperm(len(self), generator=generator)
        n = self.batches_per_epoch(batch_size)
        s, ls = self.image_size, self.load_size
        for k in range(n):
            idx = order[k * batch_size : (k + 1) * batch_size] if len(self) >= batch_size else order
            offs = torch.randint(0, ls - s + 1, (len(idx), 2), generator=generator) if ls > s else None
            flips = torch.rand(len(idx), generator=generator) < 0.5 if self.flip else None
            if world > 1:
                part = slice(len(idx) * rank // world, len(idx) * (rank + 1) // world)
                idx = idx[part]
                offs = offs[part] if offs is not None else None
                flips = flips[part] if flips is not None else None
            batch = self.data[idx]
            if offs is not None:
                batch = torch.stack([b[:, y : y + s, x : x + s] for b, (y, x) in zip(batch, offs.tolist())])
            if flips is not None and flips.any():
                batch = batch.clone()
                batch[flips] = batch[flips].flip(-1)
            x = batch.float().div_(127.5).sub_(1.0)
            yield x[:, :3], x[:, 3:]

    def fixed(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``count`` pairs, centre-cropped: the fixed input of the sample grids."""
        s, ls = self.image_size, self.load_size
        o = (ls - s) // 2
        x = self.data[:count, :, o : o + s, o : o + s].float().div(127.5).sub(1.0)
        return x[:, :3], x[:, 3:]


def to_uint8_images(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) images of one size -> (N, 3, H, W) in [-1, 1]."""
    arr = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    return arr.float().div(127.5).sub(1.0)
