"""The ``digits`` step: scikit-learn's bundled handwritten digits, upscaled, labelled and split.

``sklearn.datasets.load_digits()`` ships 1797 8x8 digits (values 0..16, about 180 of each
class; the UCI "optical recognition of handwritten digits" set) inside the package, so
nothing is downloaded. Each digit gets a black border of ``pad`` source pixels, is scaled
to 0..255 and upscaled bicubically (in floating point) to ``size``, then lightly blurred so
the strokes are smooth rather than blocky; white on black unless ``invert``.

The train / validation / test split is stratified: each class is shuffled by its own
generator seeded by ``(seed, digit)``; the first ``holdout`` fraction of it is the test split
(also output as ``holdout``, its older name), the next ``validation`` fraction the validation
split, the rest is for training. A digit's split does not depend on which other classes are
chosen, and the test split does not depend on ``validation``. Make choices (epochs, losses,
the training-time scores' classifier) on validation and report on test.
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
    validation: float = 0.0,
) -> tuple[np.ndarray, ...]:
    """Indices (train, holdout) into ``digits``, each sorted, or (train, holdout, validation)
    when ``validation`` > 0: only ``classes``; at most ``limit`` in all (as even a share of
    each class as their counts allow); a ``holdout`` fraction of each class held out (at
    least one image when holdout > 0 and the class has two or more), then a ``validation``
    fraction of it (likewise), always leaving at least one for training."""
    per_class = []
    for d in classes:
        idx = np.flatnonzero(digits == d)
        per_class.append(np.random.default_rng([int(seed), int(d)]).permutation(idx))
    if limit is not None:
        quota = _quotas([len(p) for p in per_class], limit)
        per_class = [p[:q] for p, q in zip(per_class, quota)]
    train, held, val = [], [], []
    for p in per_class:
        k = _share(holdout, len(p), len(p) - 1)
        v = _share(validation, len(p), len(p) - 1 - k)
        held.append(p[:k])
        val.append(p[k : k + v])
        train.append(p[k + v :])
    out = (np.sort(np.concatenate(train)), np.sort(np.concatenate(held)))
    return out + (np.sort(np.concatenate(val)),) if validation > 0 else out


def _share(fraction: float, n: int, most: int) -> int:
    """round(fraction * n), at least one when fraction > 0 and n >= 2, at most ``most``."""
    k = round(fraction * n)
    if fraction > 0 and n >= 2:
        k = max(k, 1)
    return max(0, min(k, most))


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
    train_idx, test_idx, *rest = select(
        digits, classes, p.holdout, seed, p.limit, validation=p.validation
    )
    val_idx = rest[0] if rest else np.zeros(0, np.int64)
    label_of = {d: k for k, d in enumerate(classes)}
    names = [str(d) for d in classes]
    meta = {"classes": names, "size": p.size, "source": "sklearn-digits", "invert": p.invert}
    outputs = {}
    splits = (("train", train_idx), ("validation", val_idx), ("test", test_idx))
    progress = ctx.progress(sum(len(idx) for _, idx in splits), "rendering digits")
    for output, idx in splits:
        writer = ctx.image_writer(output)
        images = render_digits(raw[idx], p.size, blur=p.blur, pad=p.pad, invert=p.invert)
        for i, img in zip(idx, images):
            d = int(digits[i])
            writer.add(img, name=f"d{int(i):04d}_{d}", label=label_of[d])
            progress.update()
        outputs[output] = writer.finish(**meta, split=output)
        if output == "test":  # the same images under the test split's older name
            writer = ctx.image_writer("holdout")
            for i, img in zip(idx, images):
                writer.add(
                    img, name=f"d{int(i):04d}_{int(digits[i])}", label=label_of[int(digits[i])]
                )
            outputs["holdout"] = writer.finish(**meta, split="test")
    progress.close()
    ctx.metrics["train"] = len(train_idx)
    ctx.metrics["validation"] = len(val_idx)
    ctx.metrics["test"] = len(test_idx)
    ctx.metrics["classes"] = len(classes)
    ctx.info["source"] = SOURCE
    ctx.info["split_seed"] = int(seed)
    return outputs
