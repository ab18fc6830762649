"""Simple yardsticks for image-to-image translation (numpy only), fitted on training pairs.

Every learned translator is scored beside four baselines fitted by least squares on the same
training pairs (values scaled to [0, 1]):

- ``mean_image``: the mean training target, whatever the input (it ignores the input);
- ``affine``: a per-channel affine colour map ``t_c = a_c * s_c + b_c``;
- ``colour_matrix``: a 3x3 colour matrix and a bias, ``t = M s + b``, one for the image;
- ``pixel_ridge``: a 3x3 matrix and a bias *per pixel position*, fitted by ridge regression
  (the bias is not penalised; the strength is chosen on a fifth of the training pairs held
  back, then the map is refitted on all of them). It knows where the sky is.

The fits stream: one pass over the pairs accumulates the normal equations, so memory does not
grow with the number of pairs. ``mean_image`` and ``pixel_ridge`` apply only to images of the
training size (:meth:`Baseline.applies`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

BASELINES = ("mean_image", "affine", "colour_matrix", "pixel_ridge")
DESCRIPTIONS = {
    "mean_image": "the mean training target (ignores the input)",
    "affine": "per-channel affine colour map, least squares",
    "colour_matrix": "3x3 colour matrix + bias, least squares",
    "pixel_ridge": "3x3 colour matrix + bias per pixel position, ridge regression",
}
RIDGE_ALPHAS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # penalty per training pair, values in [0, 1]


def _design(img: np.ndarray) -> np.ndarray:
    """(H, W, 4): the RGB values in [0, 1] and a constant 1."""
    x = np.asarray(img, np.float64) / 255.0
    return np.concatenate([x, np.ones(x.shape[:2] + (1,))], axis=2)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


@dataclass
class Baseline:
    """A fitted baseline: ``apply(image)`` -> uint8 image of the same shape."""

    name: str
    description: str
    shape: tuple[int, ...] | None = None  # the only input shape it applies to (None: any)
    weights: np.ndarray | None = None  # (4, 3) or (H, W, 4, 3): [R, G, B, 1] -> RGB
    mean: np.ndarray | None = None  # mean_image: (H, W, 3) in [0, 1]
    info: dict = field(default_factory=dict)

    def applies(self, shape: tuple[int, ...]) -> bool:
        return self.shape is None or tuple(shape) == self.shape

    def apply(self, img: np.ndarray) -> np.ndarray:
        if not self.applies(img.shape):
            raise ValueError(f"{self.name} applies to {self.shape} images, not {img.shape}")
        if self.mean is not None:
            return _to_uint8(self.mean)
        x = _design(img)
        if self.weights.ndim == 2:
            return _to_uint8(x @ self.weights)
        return _to_uint8(np.einsum("hwi,hwij->hwj", x, self.weights))


class _Stats:
    """Sufficient statistics of a least-squares fit ``y ~ x W``: sums of x x^T, x y^T, y y^T
    and the count, per pixel position or over every pixel."""

    def __init__(self) -> None:
        self.xx = self.xy = self.yy = None
        self.n = 0

    def add(self, xx: np.ndarray, xy: np.ndarray, yy: np.ndarray) -> None:
        if self.xx is None:
            self.xx, self.xy, self.yy = xx.copy(), xy.copy(), yy.copy()
        else:
            self.xx += xx
            self.xy += xy
            self.yy += yy
        self.n += 1

    def __add__(self, other: _Stats) -> _Stats:
        s = _Stats()
        s.xx, s.xy, s.yy, s.n = (
            self.xx + other.xx,
            self.xy + other.xy,
            self.yy + other.yy,
            self.n + other.n,
        )
        return s


def _solve(stats: _Stats, penalty: float) -> np.ndarray:
    """Ridge solution (bias unpenalised) of the (batched) normal equations."""
    reg = np.diag([penalty, penalty, penalty, 0.0])
    # a tiny jitter keeps constant-colour positions (zero variance) solvable
    reg = reg + np.eye(4) * 1e-9 * max(stats.n, 1)
    return np.linalg.solve(stats.xx + reg, stats.xy)


def _sse(stats: _Stats, w: np.ndarray) -> float:
    """Sum of squared errors of ``x W`` on the pairs summarised by ``stats``."""
    wxxw = np.einsum("...ij,...ik,...kl->...jl", w, stats.xx, w)
    wxy = np.einsum("...ij,...ik->...jk", w, stats.xy)
    return float(np.trace(wxxw - 2 * wxy + stats.yy, axis1=-2, axis2=-1).sum())


def fit_baselines(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], names: Iterable[str] = BASELINES
) -> dict[str, Baseline]:
    """Fit the named baselines on ``(source, target)`` uint8 pairs in one pass. The
    position-dependent ones (``mean_image``, ``pixel_ridge``) need every pair at one size;
    with mixed sizes they are left out (the others are fitted on every pair)."""
    names = list(names)
    unknown = set(names) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}; choose from {list(BASELINES)}")
    glob = _Stats()
    folds = (_Stats(), _Stats())  # pixel statistics: [fit fold, check fold]
    mean_sum, shape, mixed, count = None, None, False, 0
    for k, (src, tgt) in enumerate(pairs):
        if src.shape != tgt.shape:
            raise ValueError(f"pair {k}: source {src.shape} and target {tgt.shape} differ")
        x, y = _design(src), np.asarray(tgt, np.float64) / 255.0
        xf, yf = x.reshape(-1, 4), y.reshape(-1, 3)
        glob.add(xf.T @ xf, xf.T @ yf, yf.T @ yf)
        count += 1
        if shape is None:
            shape = src.shape
        if src.shape != shape:
            mixed = True
        if mixed:
            continue
        mean_sum = y.copy() if mean_sum is None else mean_sum + y
        if "pixel_ridge" in names:
            folds[k % 5 == 4].add(
                np.einsum("hwi,hwj->hwij", x, x),
                np.einsum("hwi,hwj->hwij", x, y),
                np.einsum("hwi,hwj->hwij", y, y),
            )
    if count == 0:
        raise ValueError("no training pairs to fit the baselines on")
    out: dict[str, Baseline] = {}
    for name in names:
        desc = DESCRIPTIONS[name]
        if name == "mean_image" and not mixed:
            out[name] = Baseline(name, desc, shape=shape, mean=mean_sum / count)
        elif name == "affine":
            w = np.zeros((4, 3))
            for c in range(3):  # t_c = a_c s_c + b_c: the (c, bias) block of the normal equations
                idx = [c, 3]
                a, b = np.linalg.solve(
                    glob.xx[np.ix_(idx, idx)] + np.eye(2) * 1e-12, glob.xy[idx, c]
                )
                w[c, c], w[3, c] = a, b
            out[name] = Baseline(name, desc, weights=w)
        elif name == "colour_matrix":
            out[name] = Baseline(name, desc, weights=_solve(glob, 0.0))
        elif name == "pixel_ridge" and not mixed:
            alpha = RIDGE_ALPHAS[len(RIDGE_ALPHAS) // 2]
            if folds[0].n and folds[1].n:
                errors = [_sse(folds[1], _solve(folds[0], a * folds[0].n)) for a in RIDGE_ALPHAS]
                alpha = RIDGE_ALPHAS[int(np.argmin(errors))]
            total = folds[0] + folds[1] if folds[1].n else folds[0]
            w = _solve(total, alpha * total.n)
            out[name] = Baseline(name, desc, shape=shape, weights=w, info={"alpha": alpha})
    return out


def strongest(scores: dict[str, dict[str, float]]) -> str:
    """The name of the baseline with the highest mean PSNR in ``{name: {"psnr": ...}}``."""
    return max(scores, key=lambda n: scores[n]["psnr"])
