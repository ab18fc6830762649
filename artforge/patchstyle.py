"""Patch-based style transfer after Elad & Milanfar (2017), "Style transfer via texture
synthesis" (IEEE TIP 26(5)): weight-free, offline, numpy only, the same on every backend.

The result is synthesised from the style image's own patches, so its strokes are the style's
strokes. Coarse to fine (``scales`` levels, each twice the size of the previous), and at each
level for each patch size (largest first), ``iterations`` times:

1. **patch matching**: every ``n x n`` patch of the estimate on a grid of step ``gap`` is
   replaced by its nearest style patch (L2, in a PCA subspace of the style's patches, which
   include the style rotated by 90, 180 and 270 degrees);
2. **robust aggregation**: the overlapping patches are blended by iteratively reweighted
   least squares on ``sum ||R_ij X - z_ij||^r`` (a patch that fits badly counts less, so
   patches do not average into blur; the paper's ``r = 0.8`` still blurs strokes here, the
   default ``r = -1`` lets the best-fitting patch nearly win each pixel);
3. **content fusion**: ``X <- (X + W C) / (1 + W)``, with ``W`` the content weight, larger on
   the content's edges (so the subject stays readable) than on flat areas, and ``C`` the
   content slightly blurred (its layout stays, its own fine texture gives way to the style's);
4. **colour transfer**: ``X`` takes the style's colour mean and covariance.

The first level starts from the content image, colour-transferred to the style, plus strong
noise; each finer level starts from the previous result, upsampled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .stylescore import colour_transfer


class PatchOptions(BaseModel):
    """Settings of ``method: patch`` (the ``stylize`` step's ``options:``)."""

    model_config = ConfigDict(extra="forbid")

    patch_sizes: list[int] = Field(
        [33, 21, 13],
        min_length=1,
        description="patch edges in pixels at the full size, largest first (smaller ones at "
        "the coarse levels: a patch never spans more than half a level)",
    )
    gap_fraction: float = Field(
        0.6, gt=0, le=1, description="step of the patch grid as a fraction of the patch edge"
    )
    scales: int = Field(3, ge=1, le=5, description="coarse-to-fine levels")
    iterations: int = Field(3, ge=1, le=20, description="match-aggregate rounds per patch size")
    irls_steps: int = Field(5, ge=1, le=50, description="reweighting steps of the aggregation")
    robust: float = Field(
        -1.0,
        ge=-10,
        le=2,
        description="r of the robust aggregation: each patch counts with weight "
        "residual^(r-2); 2 is a plain mean, the paper's 0.8 blends, below 0 the best-fitting "
        "patch nearly wins each pixel (crisper strokes)",
    )
    content_weight: float = Field(
        0.2, ge=0, description="W of the content fusion on flat areas (0: style only)"
    )
    edge_weight: float = Field(
        1.2, ge=0, description="added to W on the content's edges (keeps the subject readable)"
    )
    fuse_last: bool = Field(True, description="fuse with the content in the very last round")
    content_blur: float = Field(
        1.0,
        ge=0,
        description="Gaussian blur (pixels at the full size) of the content the estimate is "
        "fused with: its layout and colours stay, its own fine texture gives way to the style's",
    )
    noise: float = Field(0.2, ge=0, le=1, description="noise std added at the start ([0, 1])")
    rotations: bool = Field(True, description="add the style rotated by 90, 180 and 270 degrees")
    pca_dims: int = Field(32, ge=2, le=512, description="PCA dimensions of the patch matching")
    max_style_patches: int = Field(
        10_000, ge=100, description="at most this many style patches per level (subsampled)"
    )


def parse_options(options: dict) -> PatchOptions:
    """``PatchOptions`` from a recipe's ``options:``, or ValueError with one line per problem."""
    try:
        return PatchOptions.model_validate(options or {})
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"]) or "options"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                from .errors import suggest

                hint = suggest(str(err["loc"][-1]), list(PatchOptions.model_fields))
                msg = "unknown option" + (f"; {hint}" if hint else "")
            lines.append(f"options.{key}: {msg}")
        raise ValueError("; ".join(lines)) from None


@dataclass
class PatchResult:
    image: np.ndarray  # uint8 (H, W, 3)
    seconds: float
    levels: list[tuple[int, int]]


def _resize(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Float (H, W, C) image resized to ``hw`` (bicubic up, box down)."""
    h, w = hw
    if x.shape[:2] == (h, w):
        return x
    method = Image.BICUBIC if h > x.shape[0] else Image.BOX
    chans = [
        np.asarray(Image.fromarray(x[..., c]).resize((w, h), method)) for c in range(x.shape[2])
    ]
    return np.stack(chans, -1).astype(np.float32)


def _positions(size: int, n: int, gap: int) -> np.ndarray:
    pos = list(range(0, size - n + 1, gap))
    if pos[-1] != size - n:
        pos.append(size - n)
    return np.asarray(pos)


def _patches(x: np.ndarray, n: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(len(ys) * len(xs), n * n * C) patches with top-left corners on the grid ys x xs."""
    win = np.lib.stride_tricks.sliding_window_view(x, (n, n), axis=(0, 1))  # H', W', C, n, n
    return win[ys][:, xs].reshape(len(ys) * len(xs), -1)


def _fold(z: np.ndarray, w: np.ndarray, shape, n: int, ys, xs) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the weighted patches ``w * z`` at their places, and the sum of the weights."""
    h, wd, c = shape
    z = (z * w[:, None]).reshape(len(ys), len(xs), c, n, n)
    wg = w.reshape(len(ys), len(xs))
    acc = np.zeros((h, wd, c), np.float32)
    cnt = np.zeros((h, wd), np.float32)
    iy, ix = np.ix_(ys, xs)
    for dy in range(n):
        for dx in range(n):
            acc[iy + dy, ix + dx] += z[:, :, :, dy, dx]
            cnt[iy + dy, ix + dx] += wg
    return acc, cnt


def _pca_basis(x: np.ndarray, dims: int, rng) -> np.ndarray:
    """The leading ``dims`` principal directions of the rows of ``x`` (centred), by a
    randomised SVD (Halko et al. 2011) of a sample of at most 4000 rows."""
    sample = x[rng.choice(len(x), min(len(x), 4000), replace=False)]
    k = min(dims, *sample.shape)
    omega = rng.standard_normal((sample.shape[1], min(k + 10, sample.shape[1])))
    q, _ = np.linalg.qr(sample @ omega.astype(np.float32))
    q, _ = np.linalg.qr(sample @ (sample.T @ q))  # one power iteration
    _, _, vt = np.linalg.svd(q.T @ sample, full_matrices=False)
    return vt[:k].T.astype(np.float32)


class _StylePatches:
    """The style's n x n patches at one level, with a PCA basis for fast matching."""

    def __init__(self, styles: list[np.ndarray], n: int, dims: int, limit: int, rng) -> None:
        rows = []
        for s in styles:
            step = 1
            while ((s.shape[0] - n) // step + 1) * ((s.shape[1] - n) // step + 1) * len(
                styles
            ) > limit:
                step += 1
            rows.append(
                _patches(s, n, _positions(s.shape[0], n, step), _positions(s.shape[1], n, step))
            )
        self.raw = np.concatenate(rows).astype(np.float32)
        self.mean = self.raw.mean(0)
        centred = self.raw - self.mean
        self.basis = _pca_basis(centred, dims, rng)  # (D, k)
        self.proj = centred @ self.basis
        self.sq = (self.proj**2).sum(1)

    def nearest(self, q: np.ndarray) -> np.ndarray:
        """The raw style patch nearest to each row of ``q``."""
        qp = (q - self.mean) @ self.basis
        idx = np.empty(len(q), np.int64)
        for i in range(0, len(q), 1024):
            block = qp[i : i + 1024]
            d = self.sq[None, :] - 2 * block @ self.proj.T
            idx[i : i + 1024] = d.argmin(1)
        return self.raw[idx]


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a float (H, W, C) image, reflected borders."""
    r = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-r, r + 1, dtype=np.float32)
    k = np.exp(-(t**2) / (2 * sigma**2))
    k /= k.sum()
    mode = "reflect" if min(x.shape[:2]) > r else "edge"
    p = np.pad(x, ((r, r), (0, 0), (0, 0)), mode=mode)
    x = sum(w * p[i : i + x.shape[0]] for i, w in enumerate(k))
    p = np.pad(x, ((0, 0), (r, r), (0, 0)), mode=mode)
    return sum(w * p[:, i : i + x.shape[1]] for i, w in enumerate(k)).astype(np.float32)


def _edges(c: np.ndarray) -> np.ndarray:
    """Edge strength of a float image in [0, 1] (gradient magnitude, smoothed, normalised)."""
    y = c @ np.array([0.299, 0.587, 0.114], np.float32)
    gy, gx = np.gradient(y)
    m = np.sqrt(gx * gx + gy * gy)
    img = Image.fromarray(m.astype(np.float32))
    small = img.resize((max(1, m.shape[1] // 4), max(1, m.shape[0] // 4)), Image.BOX)
    m = np.asarray(small.resize(img.size, Image.BILINEAR), np.float32)
    return np.clip(m / max(float(np.percentile(m, 95)), 1e-6), 0, 1)


def patch_style_transfer(
    content: np.ndarray, style: np.ndarray, opts: PatchOptions | None = None, seed: int = 0
) -> PatchResult:
    """Stylize ``content`` with ``style`` (uint8 (H, W, 3) each); uint8 result of the content's
    size."""
    opts = opts or PatchOptions()
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    content_f = colour_transfer(content, style).astype(np.float32) / 255
    style_f = np.asarray(style)[..., :3].astype(np.float32) / 255
    h, w = content_f.shape[:2]
    levels = [(max(8, round(h / 2**k)), max(8, round(w / 2**k))) for k in range(opts.scales)][::-1]
    x = None
    for hw in levels:
        f = hw[0] / h  # this level's scale
        c = _resize(content_f, hw)
        sh = (max(8, round(style_f.shape[0] * f)), max(8, round(style_f.shape[1] * f)))
        s = _resize(style_f, sh)
        styles = [s] + ([np.rot90(s, k).copy() for k in (1, 2, 3)] if opts.rotations else [])
        if opts.content_blur * f >= 0.3:  # fuse the content's layout, not its fine texture
            c = _gaussian(c, opts.content_blur * f)
        weight = (opts.content_weight + opts.edge_weight * _edges(c))[..., None]
        if x is None:
            x = c + rng.normal(0, opts.noise, c.shape).astype(np.float32)
        else:
            x = _resize(x, hw)
        limit = min(min(hw), min(sh)) // 2
        sizes = [max(3, round(n * f)) | 1 for n in opts.patch_sizes]
        sizes = [n for n in dict.fromkeys(sizes) if n <= max(limit, 3)] or [3]
        for n in sizes:
            gap = max(1, round(n * opts.gap_fraction))
            ys, xs = _positions(hw[0], n, gap), _positions(hw[1], n, gap)
            bank = _StylePatches(styles, n, opts.pca_dims, opts.max_style_patches, rng)
            for _ in range(opts.iterations):
                z = bank.nearest(_patches(x, n, ys, xs))
                for _ in range(opts.irls_steps):
                    res = np.sqrt(((_patches(x, n, ys, xs) - z) ** 2).sum(1)) + 1e-3
                    acc, cnt = _fold(z, res ** (opts.robust - 2), x.shape, n, ys, xs)
                    x = acc / np.maximum(cnt, 1e-12)[..., None]
                if opts.fuse_last or n != sizes[-1] or hw != levels[-1]:
                    x = (x + weight * c) / (1 + weight)
                x = colour_transfer(np.clip(x, 0, 1), style_f).astype(np.float32) / 255
    out = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    return PatchResult(out, time.perf_counter() - t0, levels)


class PatchStyle:
    """The ``patch`` style optimiser of the ``stylize`` step (any backend): ``options:`` are
    :class:`PatchOptions`."""

    def __init__(self, ctx, params) -> None:
        from .errors import StepError

        try:
            self.opts = parse_options(params.options)
        except ValueError as e:
            raise StepError(
                f"step '{ctx.step_id}': method patch: {e}",
                hint="options of method patch: " + ", ".join(PatchOptions.model_fields),
            ) from None
        self.seed = ctx.seed
        ctx.info["patch_options"] = self.opts.model_dump()

    def stylize(self, content: np.ndarray, style: np.ndarray) -> np.ndarray:
        return patch_style_transfer(content, style, self.opts, self.seed).image
