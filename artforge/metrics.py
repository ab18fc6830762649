"""Image-quality measures (numpy only): PSNR, SSIM and the per-channel affine colour baseline.

SSIM follows Wang et al. 2004: Gaussian window (sigma 1.5, 11 taps), K1 = 0.01, K2 = 0.03,
computed per channel and averaged; it matches ``skimage.metrics.structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB between two images of the same shape."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _gaussian_kernel(sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _filter(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of a 2-D array with the 1-D kernel k."""
    from numpy.lib.stride_tricks import sliding_window_view

    rows = sliding_window_view(img, len(k), axis=1) @ k
    return sliding_window_view(rows, len(k), axis=0) @ k


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Structural similarity (Wang et al. 2004), mean over channels; images at least 11x11."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    k = _gaussian_kernel()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    scores = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = _filter(x, k), _filter(y, k)
        sxx = _filter(x * x, k) - mx * mx
        syy = _filter(y * y, k) - my * my
        sxy = _filter(x * y, k) - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        scores.append(s.mean())
    return float(np.mean(scores))


def mean_scores(preds: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean PSNR and SSIM over pairs of images."""
    if len(preds) != len(targets) or not preds:
        raise ValueError("need the same, non-zero number of predictions and targets")
    p = [psnr(x, y) for x, y in zip(preds, targets)]
    s = [ssim(x, y) for x, y in zip(preds, targets)]
    return {"psnr": float(np.mean(p)), "ssim": float(np.mean(s))}


def fit_affine_colour(sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> np.ndarray:
    """Least-squares per-channel affine map target_c = a_c * source_c + b_c; returns (3, 2)."""
    x = np.concatenate([np.asarray(s, np.float64).reshape(-1, 3) for s in sources])
    y = np.concatenate([np.asarray(t, np.float64).reshape(-1, 3) for t in targets])
    coef = np.empty((3, 2))
    for c in range(3):
        design = np.stack([x[:, c], np.ones(len(x))], 1)
        coef[c], *_ = np.linalg.lstsq(design, y[:, c], rcond=None)
    return coef


def apply_affine_colour(img: np.ndarray, coef: np.ndarray) -> np.ndarray:
    out = np.asarray(img, np.float64) * coef[:, 0] + coef[:, 1]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
