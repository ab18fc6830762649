"""Training pairs for super-resolution, degraded on the fly.

* :class:`PairSampler` over an image set: random patches of the high-resolution images,
  each degraded (optional blur, bicubic downscale, optional noise and JPEG) into its
  low-resolution partner, with random flips and 90-degree rotations.
* :func:`zero_shot_fathers`: the "HR fathers" of zero-shot SR (Shocher et al. 2018): the test
  image itself and smaller versions of it; their degraded versions are the "LR sons", so the
  network learns the image's own internal recurrence across scales.
"""

from __future__ import annotations

import numpy as np

from artforge.api import DataError, resize
from artforge.sr_baselines import random_pair


class PairSampler:
    """Random aligned (low, high) patch batches from a list of uint8 images."""

    def __init__(
        self,
        images: list[np.ndarray],
        scale: int,
        patch: int,
        seed: int,
        *,
        blur: float = 0.0,
        noise: float = 0.0,
        jpeg: int | None = None,
        weights: list[float] | None = None,
        what: str = "training images",
    ):
        if not images:
            raise DataError(f"no {what} to train on")
        images = [np.repeat(i[..., None], 3, -1) if i.ndim == 2 else i[..., :3] for i in images]
        smallest = min(min(i.shape[:2]) for i in images)
        patch = min(patch, smallest)
        patch -= patch % scale
        if patch < 2 * scale:
            raise DataError(
                f"{what}: the smallest image is {smallest} pixels, too small for x{scale} "
                "training patches",
                hint="use larger training images or a smaller scale",
            )
        self.images = images
        self.scale = scale
        self.patch = patch
        self.kw = {"blur": blur, "noise": noise, "jpeg": jpeg}
        area = np.array(
            weights if weights is not None else [i.shape[0] * i.shape[1] for i in images],
            dtype=np.float64,
        )
        self.p = area / area.sum()
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(low N x h x w x 3, high N x h*s x w*s x 3), uint8."""
        lows, highs = [], []
        for k in self.rng.choice(len(self.images), size=batch, p=self.p):
            lo, hi = random_pair(self.images[k], self.scale, self.patch, self.rng, **self.kw)
            lows.append(lo)
            highs.append(hi)
        return np.stack(lows), np.stack(highs)


def zero_shot_fathers(
    image: np.ndarray, scale: int, min_size: int, factors: int = 6
) -> tuple[list[np.ndarray], list[float]]:
    """The test image and down-scaled copies of it (factors 1, 0.9, ... down to 0.5),
    keeping those whose shorter side is at least ``min_size``; sampling weights favour the
    larger fathers, which resemble the test image's own scale most (as in ZSSR)."""
    h, w = image.shape[:2]
    fathers, weights = [], []
    for k in range(factors):
        f = 1.0 - 0.1 * k
        size = (max(1, round(w * f)), max(1, round(h * f)))
        if min(size) < min_size:
            break
        fathers.append(image if k == 0 else resize(image, size, "bicubic"))
        weights.append(f * f)
    if not fathers:
        raise DataError(
            f"zero-shot SR: a {w}x{h} image is too small to learn x{scale} from itself",
            hint="give a training set with `train:` or use a larger image",
        )
    return fathers, weights
