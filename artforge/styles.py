"""Procedural style images, so that style transfer needs no downloads.

``render_style(name, size, seed)`` paints a square style target with strong, distinctive
texture statistics (what the Gram matrices of Gatys et al. see):

* ``brush``: short, thick brush strokes with dark edges that follow a swirling flow field, in
  a van-Gogh palette of blues and yellows;
* ``mosaic``: stained glass, Voronoi cells of saturated, mottled glass with dark leading;
* ``ink``: ink wash, soft grey-blue blotches with darker rims and splatter on fibrous paper;
* ``pointillism``: dots of pure colour, Seurat-like, over a pale canvas.

numpy and Pillow only; deterministic by seed; any size from 16 to 8192 pixels (a 512-pixel
image takes a fraction of a second on one core). Shapes are defined relative to the image, so
one seed gives the same composition at every size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

STYLES = {
    "brush": "thick brush strokes along a swirling flow field, van-Gogh blues and yellows",
    "mosaic": "stained glass: Voronoi cells of mottled coloured glass with dark leading",
    "ink": "ink wash: soft grey-blue blotches with darker rims and splatter on fibrous paper",
    "pointillism": "Seurat-like dots of pure colour on a pale canvas",
}

TAU = 2 * np.pi


def render_style(name: str, size: int = 256, seed: int = 0) -> np.ndarray:
    """The style image ``name`` as uint8 (size, size, 3)."""
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}; valid styles: {', '.join(sorted(STYLES))}")
    if not 16 <= size <= 8192:
        raise ValueError(f"size must be between 16 and 8192, got {size}")
    rng = np.random.default_rng([seed, list(STYLES).index(name)])
    img = _RENDER[name](rng, int(size))
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


# --- helpers ------------------------------------------------------------------------------------


def _noise(rng, size: int, cells: int, octaves: int = 1, aspect: float = 1.0) -> np.ndarray:
    """Smooth value noise in about [0, 1]: random grids upsampled bicubically, summed over
    octaves of halving amplitude. ``aspect`` > 1 stretches the features horizontally."""
    out = np.zeros((size, size), np.float32)
    total = 0.0
    for o in range(octaves):
        ny = cells * 2**o + 3
        nx = max(2, int(ny / aspect))
        grid = Image.fromarray(rng.random((ny, nx), dtype=np.float32))
        out += np.asarray(grid.resize((size, size), Image.BICUBIC)) * 0.5**o
        total += 0.5**o
    return out / total


def _stretch(a: np.ndarray) -> np.ndarray:
    """Rescale to [0, 1] by the 1st and 99th percentile (noise sums cluster round 0.5)."""
    lo, hi = np.percentile(a, [1, 99])
    return np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)


def _gradient(palette, t: np.ndarray) -> np.ndarray:
    """Map t in [0, 1] through the colours of ``palette`` (linear between them)."""
    pal = np.asarray(palette, np.float32)
    x = np.clip(t, 0, 1) * (len(pal) - 1)
    i = np.minimum(x.astype(int), len(pal) - 2)
    f = (x - i)[..., None]
    return pal[i] * (1 - f) + pal[i + 1] * f


def _canvas(size: int, background) -> tuple[Image.Image, int]:
    """An RGB canvas supersampled 2x for smooth (anti-aliased) Pillow drawing."""
    ss = 2 if size <= 1024 else 1
    bg = tuple(int(v * 255) for v in background)
    return Image.new("RGB", (size * ss, size * ss), bg), ss


def _finish(img: Image.Image, size: int) -> np.ndarray:
    if img.size[0] != size:
        img = img.resize((size, size), Image.BOX)
    return np.asarray(img, np.float32) / 255


def _rgb(c: np.ndarray) -> list[tuple[int, int, int]]:
    """Colours (N, 3) in [0, 1] as Pillow fill tuples."""
    return [tuple(v) for v in np.clip(np.asarray(c) * 255 + 0.5, 0, 255).astype(int).tolist()]


# --- brush --------------------------------------------------------------------------------------

VAN_GOGH = [(0.05, 0.1, 0.3), (0.1, 0.22, 0.55), (0.25, 0.45, 0.78), (0.55, 0.72, 0.88),
            (0.95, 0.92, 0.72), (0.98, 0.82, 0.3), (0.85, 0.55, 0.12)]  # fmt: skip


def _flow(rng, size: int) -> np.ndarray:
    """Angle field: smooth noise plus a few vortices (the swirls)."""
    theta = _noise(rng, size, 2, 2) * TAU * 1.5
    y, x = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    for _ in range(rng.integers(2, 5)):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.25)
        d2 = ((x - cx) ** 2 + (y - cy) ** 2) / r**2
        swirl = np.arctan2(y - cy, x - cx) + np.pi / 2 * rng.choice([-1, 1])
        w = np.exp(-d2)
        # Blend angles through their vectors so the swirl takes over near its centre.
        vx = (1 - w) * np.cos(theta) + w * np.cos(swirl)
        vy = (1 - w) * np.sin(theta) + w * np.sin(swirl)
        theta = np.arctan2(vy, vx)
    return theta


def _stroke_outlines(pts: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Polygons (S, 2L, 2) of strokes along polylines ``pts`` (S, L, 2), tapered at both ends."""
    tangent = np.gradient(pts, axis=1)
    tangent /= np.linalg.norm(tangent, axis=-1, keepdims=True) + 1e-9
    normal = np.stack([-tangent[..., 1], tangent[..., 0]], -1)
    t = np.linspace(0, 1, pts.shape[1])
    half = width[:, None, None] / 2 * (0.35 + 0.65 * np.sin(np.pi * t) ** 0.4)[None, :, None]
    return np.concatenate([pts + normal * half, (pts - normal * half)[:, ::-1]], 1)


def _brush(rng, size: int) -> np.ndarray:
    theta = _flow(rng, size)
    colour_t = _stretch(_noise(rng, size, 3, 3))
    img, ss = _canvas(size, VAN_GOGH[1])
    draw = ImageDraw.Draw(img)
    cos, sin = np.cos(theta), np.sin(theta)
    pal = np.asarray(VAN_GOGH, np.float32)
    for width, count, steps in ((0.034, 350, 7), (0.022, 700, 6), (0.014, 1000, 6)):
        p = rng.random((count, 2)) * size  # (x, y) in pixels
        ix = np.clip(p.astype(int), 0, size - 1)
        base = _gradient(pal, colour_t[ix[:, 1], ix[:, 0]] + rng.normal(0, 0.08, count))
        base *= rng.uniform(0.85, 1.15, (count, 1))
        accent = rng.random(count) < 0.08  # a few strokes of a contrasting palette colour
        base[accent] = pal[rng.integers(len(pal), size=int(accent.sum()))]
        step = width * size * 0.8
        pts = [p]
        for _ in range(steps):
            ix = np.clip(p.astype(int), 0, size - 1)
            p = p + step * np.stack([cos[ix[:, 1], ix[:, 0]], sin[ix[:, 1], ix[:, 0]]], 1)
            pts.append(p)
        pts = np.stack(pts, 1) * ss  # (count, steps + 1, 2) in canvas pixels
        w = width * size * ss * rng.uniform(0.8, 1.2, count)
        edge = _stroke_outlines(pts, w + max(1.5, 0.25 * w.mean()))
        body = _stroke_outlines(pts, w)
        ridge = _stroke_outlines(pts - w[:, None, None] * 0.15, w * 0.22)  # impasto highlight
        dark, light = base * 0.45, np.minimum(base * 1.15 + 0.1, 1)
        polygons = zip(
            edge.reshape(count, -1).tolist(), _rgb(dark),
            body.reshape(count, -1).tolist(), _rgb(base),
            ridge.reshape(count, -1).tolist(), _rgb(light),
        )  # fmt: skip
        for e, e_col, b, b_col, r, r_col in polygons:
            draw.polygon(e, fill=e_col)
            draw.polygon(b, fill=b_col)
            draw.polygon(r, fill=r_col)
    return _finish(img, size)


# --- mosaic -------------------------------------------------------------------------------------

GLASS = [(0.62, 0.05, 0.1), (0.08, 0.2, 0.62), (0.95, 0.65, 0.1), (0.05, 0.5, 0.25),
         (0.42, 0.12, 0.55), (0.1, 0.6, 0.7), (0.9, 0.85, 0.55), (0.8, 0.3, 0.05)]  # fmt: skip


def _voronoi(points: np.ndarray, grid: int, size: int):
    """Nearest and second nearest of jittered grid points for every pixel.

    ``points`` (grid, grid, 2) holds one point per grid cell, so each pixel only looks at the
    3x3 cells around its own. Returns the nearest cell's (row, col) and the distance to the
    bisector between the two nearest points (the cell edge), in units of the image size.
    """
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    pad = np.pad(points, ((1, 1), (1, 1), (0, 0)), mode="edge")
    pad[0, :, 1] -= 1 / grid
    pad[-1, :, 1] += 1 / grid
    pad[:, 0, 0] -= 1 / grid
    pad[:, -1, 0] += 1 / grid
    out_cell = np.empty((size, size, 2), np.int32)
    out_edge = np.empty((size, size), np.float32)
    gx = np.minimum((c * grid).astype(int), grid - 1)
    for r0 in range(0, size, 256):  # rows in chunks to bound memory
        ys = c[r0 : r0 + 256]
        gy = gx[r0 : r0 + 256]
        cand_r = gy[:, None, None] + np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])[None, None, :]
        cand_c = gx[None, :, None] + np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])[None, None, :]
        cand_r, cand_c = np.broadcast_arrays(cand_r, cand_c)
        p = pad[cand_r, cand_c]  # (rows, size, 9, 2)
        d2 = (p[..., 0] - c[None, :, None]) ** 2 + (p[..., 1] - ys[:, None, None]) ** 2
        order = np.argsort(d2, axis=-1)[..., :2]
        p1 = np.take_along_axis(p, order[..., :1, None], 2)[..., 0, :]
        p2 = np.take_along_axis(p, order[..., 1:2, None], 2)[..., 0, :]
        d1 = np.take_along_axis(d2, order[..., :1], 2)[..., 0]
        dd2 = np.take_along_axis(d2, order[..., 1:2], 2)[..., 0]
        out_edge[r0 : r0 + 256] = (dd2 - d1) / (2 * np.linalg.norm(p2 - p1, axis=-1) + 1e-9)
        out_cell[r0 : r0 + 256, :, 0] = np.take_along_axis(cand_r, order[..., :1], 2)[..., 0] - 1
        out_cell[r0 : r0 + 256, :, 1] = np.take_along_axis(cand_c, order[..., :1], 2)[..., 0] - 1
    return np.clip(out_cell, 0, grid - 1), out_edge


def _mosaic(rng, size: int) -> np.ndarray:
    grid = int(rng.integers(9, 14))
    jitter = rng.uniform(0.15, 0.85, (grid, grid, 2))
    ar = np.arange(grid)
    points = ((np.stack(np.meshgrid(ar, ar), -1) + jitter) / grid).astype(np.float32)  # (x, y)
    cell, edge = _voronoi(points, grid, size)
    # Cell colours: a slow noise picks neighbouring hues (motifs), with random accents.
    motif = _stretch(_noise(rng, grid, 2, 1))
    pal = np.asarray(GLASS, np.float32)
    pick = (motif * (len(pal) - 0.01)).astype(int)
    accent = rng.random((grid, grid)) < 0.3
    pick[accent] = rng.integers(len(pal), size=int(accent.sum()))
    colours = pal[pick] * rng.uniform(0.75, 1.15, (grid, grid, 1))
    glass = colours[cell[..., 0], cell[..., 1]]
    # Light through the glass: brighter in the middle of each cell, mottled and streaky.
    centre = np.clip(edge * grid * 2.2, 0, 1)[..., None]
    mottle = _noise(rng, size, 24, 3)[..., None]
    streak = _noise(rng, size, 60, 1, aspect=6)[..., None]
    glass = glass * (0.55 + 0.5 * centre) * (0.75 + 0.5 * mottle) * (0.9 + 0.2 * streak)
    glass += 0.25 * np.clip(mottle - 0.62, 0, 1)  # bright spots where light shines through
    # Leading: dark lines along the cell edges, anti-aliased, with a faint highlight.
    lead = 0.006
    px = 1 / size
    a = np.clip((lead - edge) / px + 0.5, 0, 1)[..., None]
    hi = np.exp(-(((edge - lead * 0.4) / (lead * 0.35)) ** 2))[..., None] * 0.12
    out = glass * (1 - a) + (np.float32(0.07) + hi) * a
    return np.clip(out, 0, 1)


# --- ink ----------------------------------------------------------------------------------------


def _paper(rng, size: int) -> np.ndarray:
    fibres = _noise(rng, size, max(8, size // 6), 1, aspect=5)
    grain = _noise(rng, size, max(8, size // 2), 1)
    cloud = _noise(rng, size, 4, 3)
    tone = 0.93 + 0.05 * (cloud - 0.5) + 0.05 * (fibres - 0.5) + 0.04 * (grain - 0.5)
    return tone[..., None] * np.array([1.0, 0.97, 0.9], np.float32)


INKS = [(0.3, 0.38, 0.52), (0.14, 0.18, 0.3), (0.38, 0.37, 0.36), (0.45, 0.52, 0.6)]


def _ink(rng, size: int) -> np.ndarray:
    out = _paper(rng, size)
    # Washes, light ones first: wet-in-wet ones fade out softly, dried ones have a dark rim
    # where the pigment gathered at the edge.
    for k in range(int(rng.integers(4, 7))):
        field = _noise(rng, size, int(rng.integers(2, 5)), 4)
        thr = np.percentile(field, rng.uniform(65, 88))
        soft = rng.uniform(0.02, 0.1)
        wash = np.clip((field - thr) / soft, 0, 1) ** 0.7
        depth = 0.25 + 0.15 * k + rng.uniform(0, 0.2)
        density = wash * depth * (0.7 + 0.6 * _noise(rng, size, 20, 2))
        if soft < 0.05:
            density += 0.5 * depth * np.exp(-(((field - thr - 0.4 * soft) / (0.5 * soft)) ** 2))
        colour = np.asarray(INKS[rng.integers(len(INKS))], np.float32)
        out *= colour ** density[..., None]  # each layer of pigment absorbs some light
    # Calligraphic strokes (tapered, with dry-brush gaps) and splatter, as a mask.
    img, ss = _canvas(size, (0, 0, 0))
    draw = ImageDraw.Draw(img)
    S = size * ss
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(12, 24))
        turn = np.cumsum(rng.normal(rng.uniform(-0.15, 0.15), 0.1, n)) + rng.uniform(0, TAU)
        pts = (
            rng.uniform(0.15, 0.85, 2)
            + np.cumsum(np.stack([np.cos(turn), np.sin(turn)], 1), 0) * 0.035
        )
        poly = _stroke_outlines(pts[None] * S, np.array([rng.uniform(0.02, 0.05) * S]))[0]
        draw.polygon(poly.ravel().tolist(), fill=(255, 0, 0))
    for _ in range(int(rng.integers(30, 80))):
        c = rng.uniform(0, 1, 2) * S
        r = max(0.5, rng.pareto(2.5) * 0.003 * S)
        draw.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=(255, 0, 0))
    mask = _finish(img, size)[..., 0]
    dry = np.clip((_noise(rng, size, max(8, size // 5), 1) - 0.15) * 3, 0, 1)
    stroke = (mask * (0.65 + 0.3 * dry))[..., None]
    out = out * (1 - stroke) + np.array([0.06, 0.07, 0.1], np.float32) * stroke
    return np.clip(out, 0, 1)


# --- pointillism --------------------------------------------------------------------------------

SEURAT = [(0.12, 0.3, 0.6), (0.3, 0.55, 0.85), (0.2, 0.55, 0.3), (0.55, 0.75, 0.3),
          (0.95, 0.8, 0.25), (0.95, 0.55, 0.2), (0.85, 0.3, 0.35), (0.6, 0.4, 0.7)]  # fmt: skip


def _pointillism(rng, size: int) -> np.ndarray:
    img, ss = _canvas(size, (0.95, 0.93, 0.86))
    draw = ImageDraw.Draw(img)
    pal = np.asarray(SEURAT, np.float32)
    field = _stretch(_noise(rng, size, 3, 3))
    # Composition: palette bands following a slow noise (the "scene" the dots describe).
    r = 0.008
    count = int(2.4 / (np.pi * r * r))
    p = rng.random((count, 2))
    ix = np.minimum((p * size).astype(int), size - 1)
    t = field[ix[:, 1], ix[:, 0]]
    colour = _gradient(pal, t + rng.normal(0, 0.07, count))
    # Optical mixing: a share of the dots are a neighbouring or complementary pure colour.
    k = np.minimum((t * (len(pal) - 1)).astype(int), len(pal) - 1)
    swap = rng.random(count)
    colour[swap < 0.2] = pal[(k[swap < 0.2] + 1) % len(pal)]
    colour[swap > 0.93] = pal[(k[swap > 0.93] + len(pal) // 2) % len(pal)]
    colour *= rng.uniform(0.85, 1.15, (count, 1))
    radius = r * size * ss * rng.uniform(0.7, 1.3, count)
    xy = p * size * ss
    bounds = np.concatenate([xy - radius[:, None], xy + radius[:, None]], 1)
    for box, col in zip(bounds.tolist(), _rgb(colour)):
        draw.ellipse(box, fill=col)
    return _finish(img, size)


_RENDER = {"brush": _brush, "mosaic": _mosaic, "ink": _ink, "pointillism": _pointillism}
