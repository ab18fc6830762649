"""The GANs' training data as torch tensors: :mod:`artforge.training_data` plus conversion.

The datasets, their order, crops, flips and shards are the core's (numpy, the same batches on
every backend for the same seed); this module only turns its uint8 NHWC batches into float
NCHW tensors in [-1, 1], on the prefetch thread. ``epoch(batch_size, generator, shard)``
takes the epoch's seed from the trainer's per-epoch ``torch.Generator`` (its
``initial_seed()``, which the trainer sets to ``epoch_seed(step seed, epoch)``) or an int.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from artforge import training_data as core
from artforge.training_data import paired_from_folder, paired_from_sets  # noqa: F401 - re-exported


def to_float(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1] (contiguous)."""
    n, h, w, c = x.shape
    t = torch.empty((n, c, h, w), dtype=torch.float32)
    t.copy_(torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2))  # one pass
    return t.div_(127.5).sub_(1.0)


def _pair(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    t = to_float(x)
    return t[:, :3], t[:, 3:]


def _labelled(batch: tuple[np.ndarray, np.ndarray | None]) -> tuple[torch.Tensor, Any]:
    x, y = batch
    return to_float(x), None if y is None else torch.from_numpy(y)


def _seed(generator: torch.Generator | int) -> int:
    return generator.initial_seed() if isinstance(generator, torch.Generator) else int(generator)


class PairedData(core.PairedData):
    """Batches ``(a, b)``: float (B, 3, S, S) each, the same crop and flip on both."""

    def epoch(self, batch_size: int, generator: Any, shard=(0, 1), **kw: Any) -> Iterator:
        return super().epoch(batch_size, _seed(generator), shard, convert=_pair, **kw)

    def fixed(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _pair(super().fixed(count))


class UnpairedData(core.UnpairedData):
    """Batches ``(a, b)``: float (B, 3, S, S) of each domain."""

    def epoch(self, batch_size: int, generator: Any, shard=(0, 1), **kw: Any) -> Iterator:
        return super().epoch(batch_size, _seed(generator), shard, convert=_pair, **kw)

    def fixed(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = super().fixed(count)
        return to_float(a), to_float(b)


class ImageData(core.ImageData):
    """Batches ``(x, y)``: float (B, 3, S, S) and int64 labels (B,), or None."""

    def epoch(self, batch_size: int, generator: Any, shard=(0, 1), **kw: Any) -> Iterator:
        return super().epoch(batch_size, _seed(generator), shard, convert=_labelled, **kw)


def to_uint8_images(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) images of one size -> (N, 3, H, W) in [-1, 1]."""
    return to_float(np.stack(images))
