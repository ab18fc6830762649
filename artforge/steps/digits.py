"""The ``digits`` step: scikit-learn's bundled handwritten digits, upscaled, labelled and split.

``sklearn.datasets.load_digits()`` ships 1797 8x8 digits (values 0..16, about 180 of each
class; the UCI "optical recognition of handwritten digits" set) inside the package, so
nothing is downloaded. Each digit gets a black border of ``pad`` source pixels, is scaled
to 0..255 and upscaled bicubically (in floating point) to ``size``, then lightly blurred so
the strokes are smooth rather than blocky; white on black unless ``invert``.

The train/holdout split is stratified: each class is shuffled by its own generator seeded
by ``(seed, digit)`` and a ``holdout`` fraction of it held out, so a digit's split does not
depend on which other classes are chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artforge.errors import StepError

SOURCE = "scikit-learn load_digits (UCI optical recognition of handwritten digits, 8x8)"


def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits: images (1797, 8, 8) float in 0..16 and their digits (1797,)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise StepError(
            "the `digits` step needs scikit-learn", hint='pip install "artforge[data]"'
        ) from None
    data = load_digits()
    return np.asarray(data.images, np.float64), np.asarray(data.target, np.int64)


def render_digits(
    raw: np.ndarray, size: int = 32, *, blur: float = 0.25, pad: int = 1, invert: bool = False
) -> np.ndarray:
    """8x8 digits (N, 8, 8) in 0..16 as uint8 RGB images (N, size, size, 3).

    ``pad``: black border in source pixels added first; ``blur``: Gaussian sigma in source
    pixels (one source pixel is ``size / (8 + 2 pad)`` output pixels)."""
    from PIL import Image

    raw = np.asarray(raw, np.float64)
    if raw.ndim != 3:
        raise ValueError(f"expected (N, h, w) digits, got shape {raw.shape}")
    src = np.pad(raw * (255.0 / 16.0), ((0, 0), (pad, pad), (pad, pad))).astype(np.float32)
    up = np.empty((len(src), size, size), np.float32)
    for i, img in enumerate(src):
        up[i] = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))
    if blur > 0 and len(up):
        from scipy.ndimage import gaussian_filter

        sigma = blur * size / src.shape[-1]
        up = gaussian_filter(up, sigma=(0, sigma, sigma), mode="constant")
    out = np.rint(np.clip(up, 0, 255)).astype(np.uint8)
    if invert:
        out = 255 - out
    return np.repeat(out[..., None], 3, axis=-1)


def select(
    digits: np.ndarray,
    classes: Sequence[int],
    holdout: float,
    seed: int,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, holdout) into ``digits``, each sorted: only ``classes``; at most
    ``limit`` in all (as even a share of each class as their counts allow); a ``holdout``
    fraction of each class held out (at least one image when holdout > 0 and the class has
    two or more, and always at least one for training)."""
    per_class = []
    for d in classes:
        idx = np.flatnonzero(digits == d)
        per_class.append(np.random.default_rng([int(seed), int(d)]).permutation(idx))
    if limit is not None:
        quota = _quotas([len(p) for p in per_class], limit)
        per_class = [p[:q] for p, q in zip(per_class, quota)]
    train, held = [], []
    for p in per_class:
        k = round(holdout * len(p))
        if holdout > 0 and len(p) >= 2:
            k = max(k, 1)
        k = min(k, len(p) - 1)
        held.append(p[:k])
        train.append(p[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _quotas(counts: list[int], limit: int) -> list[int]:
    """Split ``limit`` as evenly as possible over classes with ``counts`` available."""
    quota = [0] * len(counts)
    left = min(limit, sum(counts))
    while left > 0:
        open_ = [i for i, (q, c) in enumerate(zip(quota, counts)) if q < c]
        share = max(1, left // len(open_))
        for i in open_:
            take = min(share, counts[i] - quota[i], left)
            quota[i] += take
            left -= take
            if left == 0:
                break
    return quota


def run(ctx, p):
    raw, digits = raw_digits()
    classes = list(p.classes) if p.classes is not None else list(range(10))
    seed = ctx.seed if p.split_seed is None else p.split_seed
    train_idx, hold_idx = select(digits, classes, p.holdout, seed, p.limit)
    label_of = {d: k for k, d in enumerate(classes)}
    names = [str(d) for d in classes]
    meta = {"classes": names, "size": p.size, "source": "sklearn-digits", "invert": p.invert}
    outputs = {}
    progress = ctx.progress(len(train_idx) + len(hold_idx), "rendering digits")
    for output, idx in (("train", train_idx), ("holdout", hold_idx)):
        writer = ctx.image_writer(output)
        images = render_digits(raw[idx], p.size, blur=p.blur, pad=p.pad, invert=p.invert)
        for i, img in zip(idx, images):
            d = int(digits[i])
            writer.add(img, name=f"d{int(i):04d}_{d}", label=label_of[d])
            progress.update()
        outputs[output] = writer.finish(**meta)
    progress.close()
    ctx.metrics["train"] = len(train_idx)
    ctx.metrics["holdout"] = len(hold_idx)
    ctx.metrics["classes"] = len(classes)
    ctx.info["source"] = SOURCE
    ctx.info["split_seed"] = int(seed)
    return outputs
