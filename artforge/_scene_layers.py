"""Drawing layers for :mod:`artforge.scenes`: analytic, anti-aliased, on a day/night pair.

Everything draws into a :class:`Canvas`, a float32 array ``(2, n, n, 3)`` holding the day
(index 0) and the night (index 1) image of one scene, with geometry in normalised [0, 1]
coordinates (x to the right, y downwards). Coverage is computed analytically per pixel
(box-filtered spans, whose products cover boxes exactly, and signed distances to profiles and
discs), so edges are anti-aliased at every size without supersampling, and the cost of a shape
follows the pixels of its bounding box; the many boxes of a street (walls, windows) are painted
in one batch (two matrix products). Colours are pairs shaped ``(2, 1, 1, 3)`` (see :func:`pair`), so one operation
paints the day and the night image with their own colours through the same coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

F32 = np.float32
WARM = np.array([1.0, 0.78, 0.42], F32)  # lamp light


def clip(a, lo=0.0, hi=1.0):
    """np.clip without its Python-level overhead (it matters for thousands of small arrays)."""
    return np.minimum(np.maximum(a, lo), hi)


def pair(day, night) -> np.ndarray:
    """A day/night colour pair shaped (2, 1, 1, 3) to broadcast over (2, rows, cols, 3)."""
    return np.array([day, night], F32).reshape(2, 1, 1, 3)


def paint(view: np.ndarray, cov: np.ndarray, colour) -> None:
    """Alpha-blend ``colour`` into ``view`` (in place) with per-pixel coverage ``cov``."""
    view += cov[..., None] * (colour - view)


class Canvas:
    """The day/night pair at n x n pixels: pixel centres ``c`` and edges ``e`` in [0, 1]."""

    def __init__(self, n: int):
        self.n = n
        self.c = (np.arange(n, dtype=F32) + 0.5) / n
        self.e = np.arange(n + 1, dtype=F32) / n
        self.img = np.empty((2, n, n, 3), F32)

    def rows(self, lo: float, hi: float) -> slice:
        """The pixels (rows or columns) that touch [lo, hi]."""
        n = self.n
        return slice(min(max(math.floor(lo * n), 0), n), max(min(math.ceil(hi * n), n), 0))

    def span(self, lo: float, hi: float) -> tuple[slice, np.ndarray]:
        """The pixels touching [lo, hi] and the fraction of each that the interval covers."""
        s = self.rows(lo, hi)
        cov = np.minimum(self.e[s.start + 1 : s.stop + 1], hi) - np.maximum(self.e[s], lo)
        return s, clip(cov * self.n, 0, 1)

    def box(self, x0: float, x1: float, y0: float, y1: float, colour) -> None:
        sy, cy = self.span(y0, y1)
        sx, cx = self.span(x0, x1)
        paint(self.img[:, sy, sx], cy[:, None] * cx[None, :], colour)

    def around(self, x: float, y: float, r: float):
        """Slices of the square of half-side r around (x, y) and squared distances to it."""
        sy, sx = self.rows(y - r, y + r), self.rows(x - r, x + r)
        return sy, sx, (self.c[sx][None, :] - x) ** 2 + (self.c[sy][:, None] - y) ** 2

    def glow(self, which: int, x: float, y: float, sigma: float, colour, reach: float = 3.0):
        """Add a Gaussian glow (light, not paint) to the day (0) or night (1) image."""
        sy, sx, d2 = self.around(x, y, reach * sigma)
        self.img[which, sy, sx] += np.exp(d2 * (-1 / sigma**2))[..., None] * colour

    def disc(self, which, x: float, y: float, r: float, colour) -> np.ndarray:
        """Paint an anti-aliased disc (which: 0, 1 or slice(None) for both); returns coverage."""
        sy, sx, d2 = self.around(x, y, r + 1 / self.n)
        cov = clip((r - np.sqrt(d2)) * self.n + 0.5, 0, 1)
        paint(self.img[which, sy, sx], cov, colour)
        return cov


def profile_coverage(cv: Canvas, h: np.ndarray, rows: slice) -> np.ndarray:
    """Coverage (rows, n) of the region below the height profile h (one height per column).

    The signed vertical distance is divided by the slope's norm, so steep edges (trees, roofs)
    are anti-aliased like flat ones.
    """
    d = np.abs(np.diff(h)) * cv.n
    slope = np.empty_like(h)
    slope[1:-1] = np.minimum(d[:-1], d[1:])  # the gentler side: ignores jumps (tree edges)
    slope[0], slope[-1] = d[0], d[-1]
    inv = cv.n / np.sqrt(1 + slope * slope)
    return clip((cv.c[rows, None] - h[None, :]) * inv[None, :] + 0.5, 0, 1)


def fill_below(cv: Canvas, h, y_end: float, top, bottom=None, shade=None, cut=None) -> None:
    """Fill under profile ``h`` down to ``y_end`` with a vertical gradient top -> bottom.

    ``shade`` (2, 1, n, 3), optional, is added per column (sunlit and shadowed slopes);
    ``cut``, a second profile, stops the fill above it (snow caps above the snow line).
    """
    bottom = top if bottom is None else bottom
    hmin = float(h.min())
    rows = cv.rows(hmin, y_end if cut is None else min(y_end, float(cut.max())))
    if rows.stop <= rows.start:
        return
    y = cv.c[rows]
    t = clip((y - hmin) / max(y_end - hmin, 1e-3), 0, 1)[None, :, None, None]
    colour = top + t * (bottom - top)
    if shade is not None:
        colour = colour + shade * (1 - t)
    cov = profile_coverage(cv, h, rows)
    if cut is not None:
        cov *= clip((cut[None, :] - y[:, None]) * cv.n + 0.5, 0, 1)
    paint(cv.img[:, rows], cov, colour)


def stars(cv: Canvas, xy: np.ndarray, brightness: np.ndarray) -> None:
    """Splat point stars bilinearly (anti-aliased at every size) into the night sky.

    A star is smaller than a pixel; at low resolution a pixel averages it with more sky, so
    stars dim below 128 pixels (less than a box filter would: they should stay visible).
    """
    n = cv.n
    brightness = brightness * min(1.0, (n / 128) ** 0.75)
    fx, fy = xy[:, 0] * n - 0.5, xy[:, 1] * n - 0.5
    ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
    gx, gy = fx - ix, fy - iy
    idx, weight = [], []
    for dy, wy in ((0, 1 - gy), (1, gy)):
        for dx, wx in ((0, 1 - gx), (1, gx)):
            idx.append((np.clip(iy + dy, -1, n) + 1) * (n + 2) + np.clip(ix + dx, -1, n) + 1)
            weight.append(wy * wx * brightness)
    acc = np.bincount(np.concatenate(idx), np.concatenate(weight), (n + 2) * (n + 2))
    light = acc.reshape(n + 2, n + 2)[1:-1, 1:-1]
    cv.img[1] += np.minimum(light, 1).astype(F32)[..., None] * np.array([0.95, 0.95, 1.0], F32)


def cloud(cv: Canvas, puffs: np.ndarray, base: float, day, night, moon=None) -> np.ndarray:
    """A cumulus cloud: a union of elliptical puffs cut flat at ``base``.

    ``day``/``night`` are (lit, shadowed) colour pairs; each puff is lit from above, which
    shows its roundness. ``moon`` (x, y) silvers the night cloud near the moon. Returns its
    coverage at the moon position (for the moon's reflection in water).
    """
    cx, cy, rx, ry = (puffs[:, k, None, None] for k in range(4))
    x0, x1 = float((puffs[:, 0] - puffs[:, 2]).min()), float((puffs[:, 0] + puffs[:, 2]).max())
    y0 = float((puffs[:, 1] - puffs[:, 3]).min())
    sy, sx = cv.rows(y0, base), cv.rows(x0, x1)
    x, y = cv.c[sx][None, None, :], cv.c[sy][None, :, None]
    dy = (y - cy) / ry
    q = np.sqrt(((x - cx) / rx) ** 2 + dy**2)
    each = clip((1 - q) * np.sqrt(rx * ry) * cv.n + 0.5, 0, 1)
    cov = each.max(0) * clip((base - y[0]) * cv.n + 0.5, 0, 1)
    lit = (each * clip(0.75 - 0.45 * dy, 0, 1)).max(0)[None, ..., None]
    lit_c, shadow_c = pair(day[0], night[0]), pair(day[1], night[1])
    colour = shadow_c + lit * (lit_c - shadow_c)
    if moon is not None:
        d2 = (x[0] - moon[0]) ** 2 + (y[0] - moon[1]) ** 2
        colour[1] += (np.exp(-d2 / 0.02) * 0.22)[..., None] * lit[0] * np.array([0.8, 0.85, 1.0])
    paint(cv.img[:, sy, sx], cov * 0.97, colour)
    if moon is None:
        return 0.0
    mq = np.sqrt(
        ((moon[0] - puffs[:, 0]) / puffs[:, 2]) ** 2 + ((moon[1] - puffs[:, 1]) / puffs[:, 3]) ** 2
    )
    return float((mq < 1.05).any() and moon[1] < base)


def boxes(cv: Canvas, box: np.ndarray, colours: np.ndarray) -> None:
    """Paint many axis-aligned boxes at once; they must not overlap one another.

    ``box`` is (B, 4): x0, x1, y0, y1; ``colours`` (B, 2, 3): day and night colour of each.
    A box's coverage is the product of its row and column spans, so the coverage of all of
    them, and the coverage-weighted colours, are two matrix products.
    """
    if len(box) == 0:
        return
    # Split a large batch into runs side by side (sorted by x), each within its own bounding
    # box: that keeps the products small (cheap, and below the size at which BLAS starts
    # threads, which only slows the many small products down when the cores are busy).
    lo, hi = box.min(0), box.max(0)
    work = (hi[1] - lo[0]) * (hi[3] - lo[2]) * cv.n**2 * len(box) * 6
    parts = min(len(box), math.ceil(math.sqrt(work / 150_000)))
    if parts <= 1:
        _boxes(cv, box, colours)
        return
    order = np.argsort(box[:, 0])
    for part in np.array_split(order, parts):
        _boxes(cv, box[part], colours[part])


def _boxes(cv: Canvas, box: np.ndarray, colours: np.ndarray) -> None:
    x0, x1, y0, y1 = (box[:, k, None] for k in range(4))
    sy, sx = cv.rows(float(y0.min()), float(y1.max())), cv.rows(float(x0.min()), float(x1.max()))
    if sy.stop <= sy.start or sx.stop <= sx.start:
        return
    e, n = cv.e, cv.n
    cy = clip((np.minimum(e[sy.start + 1 : sy.stop + 1], y1) - np.maximum(e[sy], y0)) * n)
    cx = clip((np.minimum(e[sx.start + 1 : sx.stop + 1], x1) - np.maximum(e[sx], x0)) * n)
    cy, cx = cy.astype(F32), cx.astype(F32)
    rows, cols = cy.shape[1], cx.shape[1]
    cov = cy.T @ cx
    weighted = cx[:, None, :, None] * colours.astype(F32)[:, :, None, :]  # (B, 2, cols, 3)
    col = (cy.T @ weighted.reshape(len(box), -1)).reshape(rows, 2, cols, 3)
    view = cv.img[:, sy, sx]
    view *= (1 - cov)[..., None]
    view += col.transpose(1, 0, 2, 3)


@dataclass
class Street:
    """A row of houses, drawn in three batches: roofs, walls, then windows and doors.

    ``roofs`` (R, 5): centre x, half width, eaves y, height, colour index into ``roof_colours``
    (R, 2, 3); ``walls`` and ``details`` are (B, 4) boxes with (B, 2, 3) colours (see
    :func:`boxes`); lit windows are details whose night colour is a warm light.
    """

    roofs: np.ndarray
    roof_colours: np.ndarray
    walls: np.ndarray
    wall_colours: np.ndarray
    details: np.ndarray
    detail_colours: np.ndarray


def street(cv: Canvas, s: Street) -> None:
    if len(s.roofs):
        xm, hw, eaves, height = (s.roofs[:, k, None] for k in range(4))
        dx = np.abs(cv.c[None, :] - xm)
        h = np.where(dx < hw, eaves - height * (1 - dx / hw), 2.0)
        which = h.argmin(0)
        cols = np.arange(cv.n)
        top = s.roof_colours[s.roofs[which, 4].astype(int)].transpose(1, 0, 2)[:, None]
        fill_below(cv, h[which, cols], 1.0, top, cut=s.roofs[which, 2] + 0.004)
    boxes(cv, s.walls, s.wall_colours)
    boxes(cv, s.details, s.detail_colours)


def lamp(cv: Canvas, x: float, base: float, top: float, water: float | None) -> None:
    """A street lamp: pole and lantern; at night a glow and a pool of light on the ground."""
    cv.box(x - 0.0035, x + 0.0035, top, base, pair((0.18, 0.18, 0.2), (0.03, 0.03, 0.035)))
    cv.box(x - 0.009, x + 0.009, top - 0.004, top + 0.003, pair((0.15, 0.15, 0.17), (0.03,) * 3))
    cv.disc(slice(None), x, top + 0.011, 0.008, pair((0.82, 0.84, 0.8), (1.0, 0.95, 0.78)))
    cv.glow(1, x, top + 0.011, 0.03, WARM * 0.7)
    cv.glow(1, x, top + 0.011, 0.09, WARM * 0.16)
    # Pool of light on the ground below (not on water: the water mirrors the lamp instead).
    if water is None or base < water - 0.01:
        sy, sx = cv.rows(base - 0.01, base + 0.06), cv.rows(x - 0.15, x + 0.15)
        dx = (cv.c[sx][None, :] - x) / 0.08
        dy = (cv.c[sy][:, None] - base - 0.012) / 0.02
        cv.img[1, sy, sx] += (np.exp(-(dx**2) - dy**2) * 0.3)[..., None] * WARM


def water(cv: Canvas, w: float, ripple, tints, body) -> None:
    """Water below the line ``w``: the scene above mirrored, rippled and tinted.

    ``ripple`` is (amplitude, frequency, phase) of the horizontal wobble, ``tints`` the
    water colour pair, ``body`` (x, visibility by day, visibility by night) draws the glitter
    path of sun and moon. Reflections of lights are stretched vertically, as on real water.
    """
    n = cv.n
    rows = cv.rows(w, 1.0)
    if rows.stop <= rows.start:
        return
    y = cv.c[rows]
    d = np.maximum(y - w, 0)
    depth = d / max(1 - w, 1e-3)
    amp, freq, phase = ripple
    wob = amp * (0.3 + depth) * np.sin(freq * np.sqrt(d) * 10 + phase)
    # Mirror: source row 2w - y (linear between rows), shifted sideways by the wobble.
    src = clip((2 * w - y) * n - 0.5, 0, n - 1.001)
    i0 = src.astype(int)
    f = (src - i0)[None, :, None, None].astype(F32)
    sx = clip(np.arange(n, dtype=F32)[None, :] + wob[:, None] * n, 0, n - 1.001)
    j0 = sx.astype(int)
    g = (sx - j0)[None, ..., None].astype(F32)
    rows_src = cv.img[:, i0]
    rows_src += f * (cv.img[:, i0 + 1] - rows_src)
    j0 = j0[None, ..., None]
    left = np.take_along_axis(rows_src, j0, 2)
    refl = left + g * (np.take_along_axis(rows_src, j0 + 1, 2) - left)
    # Stretch lights downwards: box-average each row with the rows above it in the mirror.
    k = max(1, round(0.012 * n))
    cs = np.cumsum(refl, axis=1)
    refl[:, k:] = (cs[:, k:] - cs[:, :-k]) / k
    # Ripples: darker and lighter bands that get denser towards the horizon.
    x = cv.c[None, :]
    band = np.sin(40 * np.sqrt(d)[:, None] * 6 + 3 * np.sin(x * 23 + d[:, None] * 70))
    keep = (0.82 - 0.25 * depth)[None, :, None, None]
    colour = refl * keep + tints * (1 - keep)
    colour *= (1 + 0.06 * band)[None, ..., None]
    # Glitter path of the sun (day) and moon (night): short horizontal dashes, pseudo-random
    # per cell of the water plane (cells shrink in perspective towards the horizon).
    bx, vis_day, vis_night = body
    if vis_day > 0 or vis_night > 0:
        sx = cv.rows(bx - 0.3, bx + 0.3)
        x = cv.c[None, sx]
        v = np.floor(np.sqrt(d) * 160)[:, None]
        u = np.floor((x - bx) / (0.004 + 0.02 * depth[:, None]) + 7 * np.sin(v))
        sparkle = clip(np.sin(u * 12.9898 + v * 78.233) * 43758.5453 % 1.0 * 2.5 - 1.5)
        path = (np.exp(-(((x - bx) / (0.015 + 0.07 * depth[:, None])) ** 2)) * sparkle)[..., None]
        colour[0, :, sx] += path * (0.5 * vis_day) * np.array([1.0, 0.97, 0.85], F32)
        colour[1, :, sx] += path * (0.6 * vis_night) * np.array([0.85, 0.88, 0.95], F32)
    cov = clip((cv.e[rows.start + 1 : rows.stop + 1] - w) * n, 0, 1)[:, None]
    paint(cv.img[:, rows], np.broadcast_to(cov, (len(y), n)), colour)
    # A bright line where the water meets the shore.
    cv.box(0, 1, w - 0.001, w + 0.002, pair((0.85, 0.88, 0.9), (0.1, 0.11, 0.15)) * 0.8)


# --- houses: rows of boxes built from a few random numbers ---------------------------------------

GLASS = np.array([0.3, 0.4, 0.52])
DARK_GLASS = np.array([0.025, 0.03, 0.05])
LIGHTS = np.array([[1.0, 0.88, 0.55], [1.0, 0.68, 0.32]])  # warm window light, two tints
ROOFS = ((0.58, 0.26, 0.18), (0.3, 0.32, 0.38), (0.42, 0.28, 0.22))


def jitter(rng, base, j):
    """A colour randomly varied by up to j per channel."""
    return clip(np.asarray(base, np.float64) + rng.uniform(-j, j, 3))


def night_colour(day, k=0.12):
    """A darkened, moonlit-blue version of a day colour."""
    return np.asarray(day) * k * np.array([0.85, 1.0, 1.45]) + np.array([0.01, 0.014, 0.034])


def houses(rng, n, x0, w, base, h, *, palette, roof_p=0.0, door_p=0.0, fade=0.0) -> np.ndarray:
    """``n`` houses as rows of (x0, width, base, height, wall r, g, b, gable roof?, door?)."""
    wall = clip(
        np.asarray(palette)[rng.integers(len(palette), size=n)] + rng.uniform(-0.06, 0.06, (n, 3))
    )
    wall = wall * (1 - fade) + np.array([0.7, 0.8, 0.92]) * fade
    gable, door = rng.random(n) < roof_p, rng.random(n) < door_p
    return np.column_stack([x0, w, base, h, wall, gable, door])


def row_of_houses(rng, x, x_end, base, *, w, h, gap, **kw) -> np.ndarray:
    """A row of houses side by side from x to x_end."""
    n = int((x_end - x) / w[0]) + 1
    widths, gaps = rng.uniform(*w, n), rng.uniform(0, gap, n)
    x0 = x + np.concatenate([[0], np.cumsum(widths + gaps)[:-1]])
    n = int((x0 < x_end).sum())
    return houses(rng, n, x0[:n], widths[:n], np.full(n, base), rng.uniform(*h, n), **kw)


def non_overlapping(houses: np.ndarray) -> list[np.ndarray]:
    """Split houses (sorted back to front) into runs in which none overlaps another."""
    out, start = [], 0
    for i in range(1, len(houses) + 1):
        if i == len(houses) or any(
            houses[i, 0] < houses[j, 0] + houses[j, 1] + 0.02
            and houses[j, 0] < houses[i, 0] + houses[i, 1] + 0.02
            for j in range(start, i)
        ):
            out.append(houses[start:i])
            start = i
    return out


def make_street(rng, houses: np.ndarray, lit_p: float) -> Street:
    """Roofs, walls, windows and doors of non-overlapping houses; a random subset of windows
    (each with ``lit_p``) is lit at night, in slightly different warm tints."""
    n = len(houses)
    x0, w, base, h = houses[:, :4].T
    wall, gable, door = houses[:, 4:7], houses[:, 7] > 0, houses[:, 8] > 0
    x1, top, night = x0 + w, base - h, night_colour(wall, 0.1)
    split = x1 - 0.18 * w  # the right side of each house is in shadow
    walls = np.concatenate(
        [np.stack([x0, split, top, base], 1), np.stack([split, x1, top, base], 1)]
    )
    wall_c = np.concatenate([np.stack([wall, night], 1), np.stack([wall * 0.8, night * 0.7], 1)])
    roof = clip(
        np.array(ROOFS)[rng.integers(len(ROOFS), size=n)] + rng.uniform(-0.05, 0.05, (n, 3))
    )
    roof_c = np.stack([roof, night_colour(roof, 0.1)], 1)
    roofs = np.stack([x0 + w / 2, 0.62 * w, top, w * rng.uniform(0.25, 0.5, n), np.arange(n)], 1)
    parapets = np.stack([x0 - 0.004, x1 + 0.004, top - 0.006, top + 0.002], 1)[~gable]
    # Windows: a grid per house; window k of house i is in row k // cols[i], column k % cols[i].
    # A door, where there is one, takes the place of a window of the bottom row.
    cols = np.maximum(1, (w / rng.uniform(0.03, 0.045, n)).astype(int))
    rows = np.maximum(1, ((h - 0.027) / rng.uniform(0.04, 0.06, n)).astype(int))
    count = rows * cols
    i = np.repeat(np.arange(n), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    r, q = k // cols[i], k % cols[i]
    cw, ch = (0.76 * w / cols)[i], ((h - 0.027) / rows)[i]
    wx, wy = x0[i] + 0.12 * w[i] + q * cw, top[i] + 0.012 + r * ch
    is_door = door[i] & (r == rows[i] - 1) & (q == rng.integers(0, cols)[i])
    win = np.stack([wx + 0.22 * cw, wx + 0.78 * cw, wy + 0.25 * ch, wy + 0.75 * ch], 1)
    win[is_door, 3] = base[i][is_door]
    lit = rng.random((len(k), 1)) < lit_p
    light = LIGHTS[0] + rng.random((len(k), 1)) * (LIGHTS[1] - LIGHTS[0])
    light *= rng.uniform(0.75, 1.0, (len(k), 1))
    glass = np.stack(
        [GLASS * rng.uniform(0.85, 1.25, (len(k), 1)), np.where(lit, light, DARK_GLASS)], 1
    )
    glass[is_door] = ((0.3, 0.2, 0.14), (0.025, 0.02, 0.015))
    return Street(
        roofs[gable], roof_c, walls, wall_c,
        np.concatenate([parapets, win]), np.concatenate([roof_c[~gable], glass]),
    )  # fmt: skip
