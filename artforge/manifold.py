"""Sample metrics that catch mode collapse and memorisation (numpy only).

The Frechet distance, class accuracy and coverage entropy of :mod:`artforge.quality` cannot
tell a generator that draws fifty copies of each class's mean image from a good one (the
means are recognisable and balanced; only the Frechet distance moves, and by an amount that
is hard to read without a yardstick). These metrics work on the same classifier features
and are read against the same numbers for held-out real images:

- ``precision`` and ``recall`` (Kynkaanniemi et al. 2019, "Improved precision and recall
  metric for assessing generative models"): each set's manifold is the union of balls around
  its points reaching their k-th nearest neighbour; precision is the fraction of samples
  inside the real manifold (fidelity), recall the fraction of real images inside the
  samples' manifold (variety). Copies of a few images have balls of radius zero: recall 0.
- ``density`` and ``coverage`` (Naeem et al. 2020, "Reliable fidelity and diversity metrics
  for generative models"): density counts how many real balls hold each sample (about 1 for
  real images), coverage is the fraction of real images whose ball holds at least one sample.
- ``diversity``: the mean pairwise feature distance within each class (the requested class,
  else the predicted one), over the same for the real images of that class, averaged over
  classes: 1 for real images, 0 for one image per class.
- ``novelty``: the median distance of a sample to its nearest training image, over the same
  median for held-out real images (which the generator never saw): about 1 for a generator
  that has not memorised, 0 for copies. ``copies``: the fraction of samples nearer to a
  training image than all but ``COPY_QUANTILE`` of the held-out real images are (about that
  quantile for real images, 1 for copies).

:func:`flags` reads the scores against the real baseline (``real_*`` keys) and names what
looks wrong; :data:`THRESHOLDS` holds its limits. The manifold metrics depend on the number
of samples (more samples, larger manifolds), so compare samples and real images at the same
count.
"""

from __future__ import annotations

import numpy as np

K_PR = 3  # neighbours of the precision/recall manifolds (Kynkaanniemi et al.)
K_DC = 5  # neighbours of density/coverage (Naeem et al.)
COPY_QUANTILE = 0.05
# a sample set is flagged when a score falls below (or copies rises above) these limits; all
# but novelty and copies are relative to the same score of held-out real images
THRESHOLDS = {
    "recall": 0.5,  # recall < 0.5 x real recall
    "coverage": 0.5,  # coverage < 0.5 x real coverage
    "precision": 0.5,  # precision < 0.5 x real precision
    "diversity": 0.5,  # within-class diversity < 0.5 x real (diversity is already a ratio)
    "novelty": 0.5,  # median distance to the training set < 0.5 x real held-out's
    "copies": 0.25,  # more than a quarter of the samples nearer to a training image than 95%
    #                  of real held-out images are
}
HIGHER_IS_BETTER = ("precision", "recall", "density", "coverage", "diversity", "novelty")


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (N, M) between the rows of ``a`` (N, d) and ``b`` (M, d)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(d2, 0.0, None))


def knn_radii(feats: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (duplicates count: radius 0)."""
    n = len(feats)
    if n < 2:
        raise ValueError("a k-NN manifold needs at least two points")
    k = min(k, n - 1)
    d = pairwise_distances(feats, feats)
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K_PR) -> tuple[float, float]:
    """(precision, recall) of ``fake`` features against ``real`` (Kynkaanniemi et al. 2019)."""
    d = pairwise_distances(fake, real)  # (fake, real)
    precision = float(np.mean((d <= knn_radii(real, k)[None, :]).any(axis=1)))
    recall = float(np.mean((d <= knn_radii(fake, k)[:, None]).any(axis=0)))
    return precision, recall


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = K_DC) -> tuple[float, float]:
    """(density, coverage) of ``fake`` features against ``real`` (Naeem et al. 2020)."""
    radii = knn_radii(real, k)
    inside = pairwise_distances(fake, real) <= radii[None, :]  # (fake, real)
    density = float(inside.sum() / (min(k, len(real) - 1) * len(fake)))
    coverage = float(np.mean(inside.any(axis=0)))
    return density, coverage


def class_spread(feats: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Mean pairwise distance between different images of each class (classes with at least
    two images)."""
    out = {}
    for c in np.unique(labels):
        f = feats[labels == c]
        if len(f) >= 2:
            d = pairwise_distances(f, f)
            out[int(c)] = float(d.sum() / (len(f) * (len(f) - 1)))
    return out


def diversity(
    feats: np.ndarray, labels: np.ndarray, real_feats: np.ndarray, real_labels: np.ndarray
) -> float:
    """Within-class diversity of ``feats`` over that of the real images, averaged over the
    classes both have (1: as varied as real images of the class; 0: one image per class)."""
    mine = class_spread(np.asarray(feats), np.asarray(labels))
    real = class_spread(np.asarray(real_feats), np.asarray(real_labels))
    ratios = [mine[c] / real[c] for c in mine if c in real and real[c] > 0]
    return float(np.mean(ratios)) if ratios else float("nan")


def nearest_distances(feats: np.ndarray, train: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Distance of each row of ``feats`` to its nearest row of ``train``."""
    return np.concatenate(
        [
            pairwise_distances(feats[i : i + chunk], train).min(axis=1)
            for i in range(0, len(feats), chunk)
        ]
        or [np.zeros(0)]
    )


def novelty(feats: np.ndarray, held: np.ndarray, train: np.ndarray) -> tuple[float, float]:
    """(novelty, copies) of sample features ``feats`` against the ``train`` features, with
    held-out real features ``held`` as the yardstick (see the module docstring)."""
    ref = nearest_distances(held, train)
    mine = nearest_distances(feats, train)
    scale = float(np.median(ref))
    ratio = float(np.median(mine) / scale) if scale > 0 else float("nan")
    copies = float(np.mean(mine < np.quantile(ref, COPY_QUANTILE)))
    return ratio, copies


def manifold_scores(
    feats: np.ndarray,
    labels: np.ndarray,
    real_feats: np.ndarray,
    real_labels: np.ndarray,
) -> dict[str, float]:
    """precision, recall, density, coverage and diversity of sample features (``labels``:
    their requested or predicted classes) against real features and labels."""
    p, r = precision_recall(real_feats, feats)
    dens, cov = density_coverage(real_feats, feats)
    return {
        "precision": p,
        "recall": r,
        "density": dens,
        "coverage": cov,
        "diversity": diversity(feats, labels, real_feats, real_labels),
    }


def flags(scores: dict[str, float]) -> list[str]:
    """What looks wrong in ``scores`` (keys of :func:`manifold_scores`, ``novelty``,
    ``copies``, and the real baseline's ``real_*``), one sentence each; empty when nothing."""
    out = []

    def value(key: str) -> float | None:
        v = scores.get(key)
        return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else None

    for key, what in (
        ("recall", "mode collapse: the samples' manifold misses most real images"),
        ("coverage", "mode dropping: few real images have a sample nearby"),
        ("precision", "low fidelity: most samples lie off the real images' manifold"),
    ):
        v, real = value(key), value(f"real_{key}")
        if v is not None and real is not None and v < THRESHOLDS[key] * real:
            out.append(f"{key} {v:.3f} < {THRESHOLDS[key]} x real {real:.3f}: {what}")
    v = value("diversity")
    if v is not None and v < THRESHOLDS["diversity"]:
        out.append(
            f"diversity {v:.3f} < {THRESHOLDS['diversity']}: samples of a class are far more "
            "alike than real images of it"
        )
    v = value("novelty")
    if v is not None and v < THRESHOLDS["novelty"]:
        out.append(
            f"novelty {v:.3f} < {THRESHOLDS['novelty']}: samples sit much nearer to training "
            "images than held-out real images do (memorisation)"
        )
    v = value("copies")
    if v is not None and v > THRESHOLDS["copies"]:
        out.append(
            f"copies {v:.3f} > {THRESHOLDS['copies']}: that fraction of the samples is nearer "
            f"to a training image than {1 - COPY_QUANTILE:.0%} of held-out real images are "
            "(memorisation)"
        )
    return out


__all__ = [
    "density_coverage",
    "diversity",
    "flags",
    "knn_radii",
    "manifold_scores",
    "nearest_distances",
    "novelty",
    "pairwise_distances",
    "precision_recall",
]
