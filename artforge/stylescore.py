"""A style score that colour cannot satisfy, and the colour-only baseline it is read against.

``texture_distance(image, style)`` compares the *texture* of two images. The luminance of each
is normalised to zero mean and unit variance (a global colour, brightness or contrast change
moves nothing), and filtered at each level of a three-level pyramid by a fixed, hand-built
bank of oriented Gaussian-derivative filters (edges and ridges at four orientations, and a
centre-surround blob filter), half-wave rectified; each level's responses are scaled to unit
mean square. The distance is the sliced Wasserstein-1 distance between the image's and the
style's response distributions (64 fixed random directions), relative to the style's spread
and averaged over the levels. The filters are weight-free and offline, numpy only, and part of
no loss network a style method optimises, so every method and both backends are scored alike.

``colour_transfer(image, style)`` is the colour-only baseline: a global affine map of the
photo's pixels that gives them the style's colour mean and covariance (no optimisation, no
texture). A stylization is worth its name only if its texture distance beats the baseline's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LEVELS = 3  # pyramid levels: the image, then halved twice
SIGMA = 1.2  # of the Gaussian derivative filters, in pixels of each level
_ANGLES = np.arange(4) * np.pi / 4
PROJECTIONS = 64  # random directions of the sliced distance (fixed: the score is a yardstick)
QUANTILES = np.linspace(0.005, 0.995, 100)
_DIRECTIONS = np.random.default_rng(20170101).standard_normal((18, PROJECTIONS))
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=0)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _float(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)[..., :3]
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255
    return a.astype(np.float32)


def colour_transfer(image: np.ndarray, style: np.ndarray, *, eps: float = 1e-4) -> np.ndarray:
    """``image`` with the colour mean and covariance of ``style`` (both (H, W, 3), uint8 or
    floats in [0, 1]); uint8 out. The map is x -> S^(1/2) C^(-1/2) (x - mean_c) + mean_s with
    symmetric matrix square roots (the "global colour-covariance transfer")."""
    x = _float(image).reshape(-1, 3).astype(np.float64)
    s = _float(style).reshape(-1, 3).astype(np.float64)
    mx, ms = x.mean(0), s.mean(0)
    cx = np.cov(x, rowvar=False) + eps * np.eye(3)
    cs = np.cov(s, rowvar=False) + eps * np.eye(3)
    a = _sqrtm(cs) @ np.linalg.inv(_sqrtm(cx))
    out = (x - mx) @ a.T + ms
    out = out.reshape(np.asarray(image).shape[:2] + (3,))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _sqrtm(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def luminance(img: np.ndarray) -> np.ndarray:
    """Luminance (Rec. 601 weights) normalised to zero mean and unit standard deviation."""
    y = _float(img) @ _LUMA
    return (y - y.mean()) / max(float(y.std()), 1e-6)


def _kernels(sigma: float) -> dict[str, np.ndarray]:
    r = int(np.ceil(3 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float32)
    g = np.exp(-(t**2) / (2 * sigma**2))
    g /= g.sum()
    d1 = -t / sigma**2 * g
    d2 = (t**2 / sigma**4 - 1 / sigma**2) * g
    return {"g": g, "d1": d1, "d2": d2}


def _sep(img: np.ndarray, ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation with reflected borders, output the size of ``img``."""
    r = len(ky) // 2
    p = np.pad(img, r, mode="reflect")
    h, w = img.shape
    tmp = sum(k * p[i : i + h, :] for i, k in enumerate(ky))
    return sum(k * tmp[:, i : i + w] for i, k in enumerate(kx))


def filter_responses(y: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """The filter bank on one luminance level: (H, W, 18), the half-wave rectified (positive
    and negative parts of) edge filters at four orientations, ridge filters at four
    orientations and a Laplacian-of-Gaussian, all steered from five separable filters."""
    k = _kernels(sigma)
    gx, gy = _sep(y, k["g"], k["d1"]), _sep(y, k["d1"], k["g"])
    gxx, gyy, gxy = _sep(y, k["g"], k["d2"]), _sep(y, k["d2"], k["g"]), _sep(y, k["d1"], k["d1"])
    bank = []
    for a in _ANGLES:
        c, s = np.cos(a), np.sin(a)
        bank.append(c * gx + s * gy)
        bank.append(c * c * gxx + 2 * c * s * gxy + s * s * gyy)
    bank.append(gxx + gyy)
    r = np.stack(bank, -1) * sigma  # scale-normalised
    return np.concatenate([np.maximum(r, 0), np.maximum(-r, 0)], -1)


def _down(y: np.ndarray) -> np.ndarray:
    """Blur and halve (a Gaussian pyramid level)."""
    g = _kernels(1.0)["g"]
    return _sep(y, g, g)[::2, ::2]


def level_features(img: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """Per pyramid level, the filter responses (pixels x 18) scaled to unit mean square:
    each level says how the image's structure at that scale is shaped (sparse strokes with
    crisp edges, smooth shading, fine fur), not how much of it there is, which the layout of
    light and dark areas a stylization keeps from the photograph would dominate."""
    y = luminance(img)
    out = []
    for lvl in range(levels):
        if lvl:
            y = _down(y)
        f = filter_responses(y).reshape(-1, 18).astype(np.float64)
        out.append(f / max(float(np.sqrt((f * f).mean())), 1e-9))
    return out


def levels_for(*images: np.ndarray) -> int:
    """Pyramid levels that keep the coarsest at least 16 pixels on the smallest image."""
    side = min(min(np.asarray(i).shape[:2]) for i in images)
    return int(max(1, min(LEVELS, np.floor(np.log2(max(side, 16) / 16)) + 1)))


def texture_stats(img: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """Per pyramid level, the quantiles (``len(QUANTILES)`` x ``PROJECTIONS``) of the filter
    responses projected on fixed random directions: the sliced distribution of the texture
    (Heeger & Bergen 1995 match marginals of the same kind of filter bank; Heitz et al. 2021
    use sliced Wasserstein distances as a texture loss)."""
    out = []
    for f in level_features(img, levels):
        proj = np.sort(f @ _DIRECTIONS, axis=0)
        out.append(proj[np.rint(QUANTILES * (len(proj) - 1)).astype(int)])
    return out


def texture_distance(img: np.ndarray, style: Any, levels: int = LEVELS) -> float:
    """Texture distance of ``img`` to ``style`` (an image, or its :func:`texture_stats`): the
    sliced Wasserstein-1 distance of the two images' filter-response distributions, relative
    to the spread of the style's, averaged over directions and pyramid levels. 0 for the same
    distribution; another rendering of a procedural style scores about 0.04, a photograph
    0.15 to 0.4. Lower is closer; colour and global brightness or contrast do not enter."""
    ref = style if isinstance(style, list) else texture_stats(style, levels)
    mine = texture_stats(img, len(ref))
    d = [np.abs(a - b).mean() / np.abs(b - b.mean(0)).mean() for a, b in zip(mine, ref)]
    return float(np.mean(d))


def record_style_score(ctx: Any, content: Any, results: Any, style: np.ndarray, fit: Any) -> Any:
    """Score a ``stylize`` step's ``results`` (an ImageSet) against the colour-only baseline:
    writes the baseline images (the ``baseline`` output, returned), the metrics
    ``texture_distance`` (mean over the images; lower is closer to the style),
    ``texture_distance_colour_baseline``, ``texture_distance_photo`` and
    ``texture_beats_colour_baseline`` (how many results are closer to the style's texture
    than their baseline), per image too, and a warning when a result does not beat its
    baseline. ``fit(image)`` gives a content image the size the method was given."""
    from .images import resize

    writer = ctx.image_writer("baseline", method="colour transfer (global mean and covariance)")
    levels = levels_for(style, *(results.load(i) for i in range(len(results))))
    ref = texture_stats(style, levels)
    rows = {}
    for i, name in enumerate(results.names):
        res = results.load(i)
        img = fit(content.load(i))
        if img.shape[:2] != res.shape[:2]:
            img = resize(img, (res.shape[1], res.shape[0]))
        base = colour_transfer(img, style)
        writer.add(base, name=name)
        rows[name] = {
            "result": texture_distance(res, ref),
            "colour_baseline": texture_distance(base, ref),
            "photo": texture_distance(img, ref),
        }
    m = ctx.metrics
    for key, col in (
        ("texture_distance", "result"),
        ("texture_distance_colour_baseline", "colour_baseline"),
        ("texture_distance_photo", "photo"),
    ):
        m[key] = round(float(np.mean([r[col] for r in rows.values()])), 4)
    beats = [n for n, r in rows.items() if r["result"] < r["colour_baseline"]]
    m["texture_beats_colour_baseline"] = len(beats)
    if len(rows) <= 8:
        m["texture_per_image"] = {
            n: {k: round(v, 4) for k, v in r.items()} for n, r in rows.items()
        }
    ctx.info["texture_distance"] = (
        "sliced Wasserstein distance of luminance texture (a fixed oriented filter bank, "
        "3 scales, each scaled to unit energy) to the style image's, relative to its spread; "
        "colour does not enter. colour_baseline: the photo given the style's colour mean and "
        "covariance, no optimisation"
    )
    if len(beats) < len(rows):
        lost = [n for n in rows if n not in beats]
        ctx.warn(
            f"{len(lost)} of {len(rows)} stylized image(s) (e.g. {lost[0]}) are no closer to the "
            "style's texture than a colour-only transfer of the photo: raise the style's "
            "weight, or try method: patch"
        )
    return writer.finish()
