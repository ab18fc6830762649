"""Shared helpers for the GAN tests of both backends: a step context outside a run, a small
labelled image set (two classes of stripes), a small learnable paired set, two small
unpaired domains and tiny training parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from artforge.artifacts import ImageSet
from artforge.context import StepContext
from artforge.images import save_png


def step_context(
    tmp_path: Path,
    backend: str,
    resolve: Callable[[str], Any] = lambda ref: None,
    *,
    step_id: str = "train",
    uses: str | None = None,
    seed: int = 0,
) -> StepContext:
    """A quiet CPU ``StepContext`` for ``backend`` in folders under ``tmp_path``; ``uses``
    defaults to train-gan for a ``train`` step and to ``step_id`` otherwise."""
    for d in ("step", "work", "run"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    return StepContext(
        step_id=step_id,
        uses=uses or ("train-gan" if step_id == "train" else step_id),
        seed=seed,
        backend=backend,
        device="cpu",
        dir=tmp_path / "step",
        work_dir=tmp_path / "work",
        run_dir=tmp_path / "run",
        recipe_dir=tmp_path,
        resolve=resolve,
        log=lambda m: None,
        quiet=True,
    )


def labelled_set(root: Path, n: int = 24, size: int = 32) -> ImageSet:
    """Two classes: dark horizontal stripes (0) and bright vertical stripes (1)."""
    rng = np.random.default_rng(0)
    files, labels = [], []
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        c = i % 2
        phase = rng.integers(0, 4)
        stripes = ((yy if c == 0 else xx) + phase) // 4 % 2
        img = np.stack([stripes * (80 + 120 * c)] * 3, -1).astype(np.uint8)
        save_png(root / f"img{i:02d}.png", img)
        files.append(f"img{i:02d}.png")
        labels.append(c)
    return ImageSet(root, files, labels, {"classes": ["horizontal", "vertical"]})


def _smooth(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random image: 4x4 random blocks upsampled to ``size``."""
    blocks = rng.integers(0, 255, (4, 4, 3))
    return np.kron(blocks, np.ones((size // 4, size // 4, 1))).astype(np.uint8)


def block_pairs(n: int = 8, size: int = 16) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` smooth random images (4x4 blocks upsampled) and their negatives: a learnable
    mapping for paired training."""
    rng = np.random.default_rng(0)
    a = [_smooth(rng, size) for _ in range(n)]
    return a, [255 - x for x in a]


def unpaired_domains(
    n_a: int = 6, n_b: int = 4, size: int = 16
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Smooth random images (A) and the negatives of other ones (B): unpaired domains."""
    rng = np.random.default_rng(0)
    return [_smooth(rng, size) for _ in range(n_a)], [255 - _smooth(rng, size) for _ in range(n_b)]


def dcgan_params(**kw: Any):
    """Tiny cdcgan ``TrainGanParams`` on ``${d.images}`` (32 px, batch 4, 2 epochs, nz 16,
    8-wide nets, no flips)."""
    from artforge.schemas.gan import TrainGanParams

    base: dict[str, Any] = dict(
        model="cdcgan",
        data="${d.images}",
        image_size=32,
        batch_size=4,
        epochs=2,
        nz=16,
        ngf=8,
        ndf=8,
        flip=False,
    )
    base.update(kw)
    return TrainGanParams(**base)


def pix2pix_params(**kw: Any):
    """Tiny pix2pix ``TrainGanParams`` (16 px, batch 4, 2 epochs, 8-wide nets)."""
    from artforge.schemas.gan import TrainGanParams

    base: dict[str, Any] = dict(
        source="${s.a}",
        target="${s.b}",
        image_size=16,
        batch_size=4,
        epochs=2,
        ngf=8,
        ndf=8,
        n_layers_d=2,
    )
    base.update(kw)
    return TrainGanParams(**base)


def cyclegan_params(**kw: Any):
    """Tiny cyclegan ``TrainGanParams``: :func:`pix2pix_params` at batch 2 with 2 ResNet
    blocks and 3-image history pools."""
    base: dict[str, Any] = dict(model="cyclegan", batch_size=2, n_blocks=2, pool_size=3)
    base.update(kw)
    return pix2pix_params(**base)
