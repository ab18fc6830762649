"""Synthetic paired night/day scenes: the main job's embedded data.

``render_pair(seed, size)`` draws the same procedural landscape, lake, town, harbour or village
twice: by day (blue sky, sun, white clouds, sunlit slopes, glass windows) and by night (dark sky,
a moon and stars that the clouds hide, windows lit at random, street lamps with a glow and a
pool of light, all of it mirrored in the water). Night to day is learnable but not a global
colour change: a model has to put out local lights, swap the moon for the sun, fill the sky
behind the stars and bring back the colours of walls and hills.

Geometry lives in normalised [0, 1] coordinates, so one seed gives the same scene at every
size from 32 to 512 pixels. Coverage is analytic (see :mod:`artforge._scene_layers`): edges are
anti-aliased without supersampling, and a 64x64 pair takes a few milliseconds on one core.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ._scene_layers import (
    F32,
    Canvas,
    boxes,
    clip,
    cloud,
    fill_below,
    houses,
    jitter,
    lamp,
    make_street,
    night_colour,
    non_overlapping,
    pair,
    row_of_houses,
    stars,
    street,
    water,
)
from .seeding import derive_seed

SCENE_KINDS = ("landscape", "lake", "town", "harbour", "village")

TAU = 2 * np.pi
SUN = np.array([1.0, 0.98, 0.86], F32)
MOON = np.array([0.93, 0.93, 0.85], F32)
PASTELS = ((0.85, 0.78, 0.6), (0.8, 0.5, 0.35), (0.62, 0.3, 0.22), (0.7, 0.72, 0.74),
           (0.55, 0.68, 0.8), (0.9, 0.82, 0.45), (0.85, 0.6, 0.6), (0.6, 0.75, 0.6))  # fmt: skip
HARBOUR = ((0.92, 0.75, 0.3), (0.85, 0.35, 0.25), (0.35, 0.55, 0.75), (0.95, 0.9, 0.8),
           (0.55, 0.75, 0.55), (0.9, 0.55, 0.35))  # fmt: skip


@dataclass
class Ridge:
    """A height profile (mountains, hills): base minus a sum of sines, sharpened into peaks
    when ``ridged``; optionally a snow line and a line of trees standing on it."""

    base: float
    amps: np.ndarray
    freqs: np.ndarray
    phases: np.ndarray
    ridged: bool
    colours: tuple  # (top, bottom) colour pairs
    shade: float = 0.0  # how much the slopes that face the light are lit (signed: its side)
    snow: float | None = None
    trees: tuple | None = None  # (x, height, width, conifer, colour pair)

    def height(self, c: np.ndarray) -> np.ndarray:
        s = np.sin(TAU * self.freqs[:, None] * c[None, :] + self.phases[:, None])
        if self.ridged:  # sharp peaks from the large waves, rough detail from the small ones
            s[:2] = (1 - np.abs(s[:2])) ** 1.5
        return self.base - (self.amps[:, None] * s).sum(0)

    def slope(self, c: np.ndarray) -> np.ndarray:
        """Slope of the two largest waves only (smooth shading of the faces)."""
        a = TAU * self.freqs[:2, None] * c[None, :] + self.phases[:2, None]
        d = TAU * self.freqs[:2, None] * np.cos(a)
        if self.ridged:
            s = np.sin(a)
            d = -1.5 * np.sqrt(np.maximum(1 - np.abs(s), 0)) * np.sign(s) * d
        return -(self.amps[:2, None] * d).sum(0)


@dataclass
class Scene:
    kind: str
    horizon: float
    sky: tuple  # (zenith, horizon) colour pairs
    body: tuple  # (x, y): the sun by day, the moon by night
    moon_shadow: tuple | None  # offset of the disc that darkens the moon; None: full moon
    star_xy: np.ndarray
    star_b: np.ndarray
    clouds: list = field(default_factory=list)  # (puffs (P, 4), flat base y)
    ridges: list = field(default_factory=list)  # back to front
    ground: tuple | None = None  # (y, near colour pair, far colour pair, "meadow"|"street"|"quay")
    streets: list = field(default_factory=list)  # rows of houses, back to front
    lamps: list = field(default_factory=list)  # (x, base, top)
    foreground: tuple | None = None  # big trees in front: (x, height, width, conifer, colour)
    water: tuple | None = None  # (y, ripple (amplitude, frequency, phase), tint pair)


def _surface(rng, day, j=0.05, k=0.12):
    d = jitter(rng, day, j)
    return pair(d, night_colour(d, k))


# --- land ---------------------------------------------------------------------------------------


def _ridge(rng, base, amp, f, ridged, colours, **kw) -> Ridge:
    freqs = rng.uniform(0.7, 1.3, 4) * f * np.array([1, 2.3, 5.1, 11.3])
    amps = np.array([1, 0.4, 0.12, 0.04]) * rng.uniform(0.6, 1.2, 4)
    return Ridge(
        base, amps / amps.sum() * amp, freqs, rng.uniform(0, TAU, 4), ridged, colours, **kw
    )


def _trees(rng, count, size, colour, conifer_p=0.7, lo=-0.05, hi=1.05):
    xs = np.sort(rng.uniform(lo, hi, int(count)))
    heights = size * rng.uniform(0.6, 1.3, len(xs))
    widths = heights * rng.uniform(0.25, 0.4, len(xs))
    return xs, heights, widths, rng.random(len(xs)) < conifer_p, colour


def _tree_profile(c, ground: np.ndarray, xs, heights, widths, conifer) -> np.ndarray:
    """Tops of the trees (cones and round crowns) standing on the profile ``ground``."""
    dx = np.abs(c[None, :] - xs[:, None])
    base = np.interp(xs, c, ground)[:, None] + 0.004
    h, w = heights[:, None], widths[:, None]
    cone = base - h + h * dx / w
    r = 1.2 * w
    crown = base - h + r - np.sqrt(np.maximum(r * r - dx * dx, 0))
    tops = np.where(conifer[:, None], np.where(dx < w, cone, 2.0), np.where(dx < r, crown, 2.0))
    return tops.min(0, initial=2.0)


def _mountains(rng, s: Scene, amp: float, light: float) -> None:
    H = s.horizon
    rock = jitter(rng, (0.36, 0.4, 0.55), 0.05)
    far = pair(rock, jitter(rng, (0.07, 0.09, 0.16), 0.01))
    haze = pair(rock * 0.4 + s.sky[1][0, 0, 0] * 0.6, jitter(rng, (0.09, 0.11, 0.2), 0.01))
    snow = H + 0.02 - amp * rng.uniform(0.5, 0.75) if amp > 0.12 else None
    f = rng.uniform(0.5, 1.2)
    s.ridges.append(_ridge(rng, H + 0.02, amp, f, True, (far, haze), shade=0.1 * light, snow=snow))


def _hills(rng, s: Scene, count: int, bottom: float, light: float, trees: bool) -> None:
    hill = jitter(rng, (0.32, 0.52, 0.26), 0.06)
    for k in range(count):
        base = bottom - 0.04 * (count - 1 - k) + 0.005
        colour = hill * (0.85 + 0.15 * k) + np.array([0.08, 0.06, 0.1]) * (1 - k)
        top, low = _surface(rng, colour, 0.02), _surface(rng, colour * 0.85, 0.02)
        amp, f = rng.uniform(0.02, 0.06), rng.uniform(0.8, 2)
        r = _ridge(rng, base, amp, f, False, (top, low), shade=0.05 * light)
        if trees and rng.random() < 0.85:
            colour = _surface(rng, (0.12, 0.28, 0.14) if k else (0.2, 0.34, 0.28), 0.03, 0.1)
            r.trees = _trees(
                rng, rng.integers(10, 40), rng.uniform(0.025, 0.05) * (1 + 0.3 * k), colour
            )
        s.ridges.append(r)


# --- the scene ----------------------------------------------------------------------------------


def _sky(rng, kind: str) -> Scene:
    H = rng.uniform(0.5, 0.62)
    glow = kind in ("town", "harbour")  # light pollution at the horizon
    sky = (
        pair(jitter(rng, (0.22, 0.45, 0.82), 0.07), jitter(rng, (0.012, 0.02, 0.07), 0.01)),
        pair(
            jitter(rng, (0.72, 0.83, 0.94), 0.05),
            jitter(rng, (0.22, 0.15, 0.2) if glow else (0.1, 0.13, 0.26), 0.02),
        ),
    )
    body = (rng.uniform(0.1, 0.9), rng.uniform(0.08, H - 0.22))
    shadow = None if rng.random() < 0.25 else (rng.choice([-1, 1]) * rng.uniform(0.3, 0.9), -0.2)
    n = rng.integers(40, 110)
    xy = np.stack([rng.uniform(0, 1, n), H * rng.uniform(0, 1, n) ** 1.3], 1)
    s = Scene(kind, H, sky, body, shadow, xy, rng.uniform(0.3, 1.0, n) ** 2)
    for _ in range(rng.integers(0, 5)):
        cx, base, w = rng.uniform(-0.05, 1.05), rng.uniform(0.1, H - 0.1), rng.uniform(0.06, 0.18)
        k = rng.integers(3, 7)
        rx = rng.uniform(0.03, 0.07, k) * (w / 0.12) ** 0.5
        px = cx + np.linspace(-w, w, k) + rng.uniform(-0.01, 0.01, k)
        ry = rx * rng.uniform(0.6, 1.0, k) * (1.2 - np.abs(px - cx) / w / 2)
        s.clouds.append((np.stack([px, base - ry * rng.uniform(0.1, 0.5, k), rx, ry], 1), base))
    return s


def _ripple(rng):
    return rng.uniform(0.002, 0.006), rng.uniform(3, 8), rng.uniform(0, TAU)


def _countryside(rng, s: Scene, ground_y: float, light: float) -> None:
    """Landscape (one or two houses, maybe big trees in front) or village (a cluster)."""
    village = s.kind == "village"
    _hills(rng, s, 2, ground_y - 0.05, light, trees=True)
    meadow = jitter(rng, (0.42, 0.6, 0.28), 0.05)
    near, far = _surface(rng, meadow * 0.7, 0), _surface(rng, meadow * 1.05, 0)
    s.ground = (ground_y, near, far, "meadow")
    n = rng.integers(5, 10) if village else rng.integers(1, 3)
    depth = np.sort(rng.uniform(0, 1, n) ** 1.5)
    scale = (0.7 + 0.9 * depth) * (1.2 if village else 1.0)
    x = rng.uniform(-0.3, 0.6) + rng.uniform(0, 0.6, n) if village else rng.uniform(0.02, 0.9, n)
    base = ground_y + 0.02 + depth * (0.93 - ground_y) * 0.6
    w, h = rng.uniform(0.06, 0.1, n) * scale, rng.uniform(0.045, 0.07, n) * scale
    homes = houses(rng, n, x, w, base, h, palette=PASTELS[:4] + PASTELS[5:], roof_p=0.9, door_p=0.8)
    lit_p = rng.uniform(0.3, 0.9)
    s.streets = [make_street(rng, layer, lit_p) for layer in non_overlapping(homes)]
    x0, w0, b0 = homes[-1, :3]  # lamps beside the front house, in front of the others
    for x in (x0 - 0.02, x0 + w0 + 0.02)[: 2 if village else rng.integers(0, 3)]:
        s.lamps.append((x, b0, b0 - 0.09 * (b0 - s.horizon) / 0.3))
    if not village and rng.random() < 0.6:
        tree = _surface(rng, (0.08, 0.2, 0.1), 0.03, 0.1)
        left, right = rng.integers(0, 3), rng.integers(0, 3)
        xs = np.concatenate([rng.uniform(-0.05, 0.15, left), rng.uniform(0.85, 1.05, right)])
        th = rng.uniform(0.25, 0.5, len(xs))
        tw = th * rng.uniform(0.22, 0.3, len(xs))
        s.foreground = (xs, th, tw, np.ones(len(xs), bool), tree)


def _lake(rng, s: Scene, light: float) -> None:
    """Wooded hills down to the water, a few houses and lamps on the shore."""
    w = s.horizon + rng.uniform(0.04, 0.1)
    s.water = (w, _ripple(rng))
    _hills(rng, s, 2, w, light, trees=True)
    size = {"w": (0.04, 0.08), "h": (0.04, 0.07)}
    shore = row_of_houses(
        rng, rng.uniform(-0.05, 0.3), 1.0, w, **size, gap=0.4, palette=PASTELS, roof_p=0.9
    )
    s.streets = [make_street(rng, shore[: rng.integers(0, 4)], rng.uniform(0.3, 0.9))]
    for x0, *_ in shore[: rng.integers(0, 3)]:
        s.lamps.append((x0 - 0.015, w, w - 0.07))


def _town(rng, s: Scene, ground_y: float, light: float) -> None:
    """A street (town) or a quay above the water (harbour) lined with houses and lamps."""
    town = s.kind == "town"
    base = ground_y if town else s.horizon + rng.uniform(0.06, 0.12)
    if rng.random() < 0.4:
        _hills(rng, s, 1, base - 0.03, light, trees=False)
    if rng.random() < 0.7:  # a hazy skyline behind
        size = {"w": (0.06, 0.12), "h": (0.2, 0.45), "gap": 0.1}
        skyline = row_of_houses(
            rng, rng.uniform(-0.1, 0), 1.0, base, **size, palette=PASTELS[3:5], fade=0.45
        )
        s.streets.append(make_street(rng, skyline, 0.2))
    size = {"w": (0.08, 0.16), "h": (0.1, 0.35) if town else (0.08, 0.2), "gap": 0.03}
    palette, roof_p = (PASTELS, 0.35) if town else (HARBOUR, 0.8)
    front = row_of_houses(
        rng, rng.uniform(-0.08, 0), 1.0, base, **size, palette=palette, roof_p=roof_p, door_p=0.5
    )
    s.streets.append(make_street(rng, front, rng.uniform(0.25, 0.7)))
    if town:
        pavement, road = _surface(rng, (0.6, 0.6, 0.58), 0.03), _surface(rng, (0.32,) * 3, 0.03)
        s.ground = (base, pavement, road, "street")
        lamp_base = base + 0.03
    else:
        quay = _surface(rng, (0.55, 0.52, 0.48), 0.04)
        s.ground = (base, quay * 0.8, quay, "quay")
        s.water = (base + rng.uniform(0.03, 0.05), _ripple(rng))
        lamp_base = base + 0.015
    for x in np.sort(rng.uniform(0.03, 0.97, rng.integers(1, 5))):
        s.lamps.append((x, lamp_base, lamp_base - rng.uniform(0.1, 0.14)))


def sample_scene(rng: np.random.Generator) -> Scene:
    """Draw a scene description (sizes and positions normalised, independent of pixels)."""
    kind = SCENE_KINDS[rng.integers(len(SCENE_KINDS))]
    s = _sky(rng, kind)
    light = np.sign(s.body[0] - 0.5)  # the side the sun lights the slopes from
    if kind in ("landscape", "lake"):
        _mountains(rng, s, rng.uniform(0.1, 0.26), light)
    elif kind == "village" or rng.random() < 0.4:
        _mountains(
            rng, s, rng.uniform(0.06, 0.14) if kind == "village" else rng.uniform(0.05, 0.1), light
        )
    ground_y = s.horizon + rng.uniform(0.08, 0.15)
    if kind in ("landscape", "village"):
        _countryside(rng, s, ground_y, light)
    elif kind == "lake":
        _lake(rng, s, light)
    else:
        _town(rng, s, ground_y, light)
    if s.water is not None:
        tint = jitter(rng, (0.12, 0.3, 0.42), 0.04)
        s.water = (*s.water, pair(tint, (0.005, 0.015, 0.04)))
    return s


def _draw_sky(s: Scene, cv: Canvas) -> float:
    """Sky, sun and moon, stars and clouds; returns how much the clouds hide the moon."""
    c, img = cv.c, cv.img
    t = clip(c / s.horizon)[None, :, None, None] ** 1.4
    img[:] = s.sky[0] + t * (s.sky[1] - s.sky[0])
    bx, by = s.body
    cv.glow(0, bx, by, 0.12, np.array([0.3, 0.28, 0.18], F32))
    cv.glow(0, bx, by, 0.035, np.array([0.6, 0.55, 0.4], F32))
    cv.glow(1, bx, by, 0.09, np.array([0.1, 0.11, 0.14], F32))
    far = (s.star_xy[:, 0] - bx) ** 2 + (s.star_xy[:, 1] - by) ** 2 > 0.05**2
    stars(cv, s.star_xy[far], s.star_b[far])
    cv.disc(0, bx, by, 0.042, SUN)
    r = 0.036
    cv.disc(1, bx, by, r, img[1, min(int(by * cv.n), cv.n - 1), 0] + 0.025)  # the dark side
    sy, sx, d2 = cv.around(bx, by, r + 1 / cv.n)
    cov = clip((r - np.sqrt(d2)) * cv.n + 0.5)
    if s.moon_shadow is not None:  # a crescent or gibbous moon: minus an offset disc
        dx, dy = s.moon_shadow
        sd2 = (c[sx][None, :] - bx - dx * r * 2) ** 2 + (c[sy][:, None] - by - dy * r) ** 2
        cov *= clip((np.sqrt(sd2) - r) * cv.n + 0.5)
    img[1, sy, sx] += cov[..., None] * (MOON - img[1, sy, sx])
    hidden = 0.0
    day = ((0.98, 0.98, 1.0), (0.72, 0.75, 0.82))
    night = ((0.2, 0.21, 0.27), (0.07, 0.075, 0.1))
    for puffs, base in s.clouds:
        hidden = max(hidden, cloud(cv, puffs, base, day, night, moon=s.body))
    return hidden


def _draw_ground(s: Scene, cv: Canvas) -> None:
    gy, near, far, kind = s.ground
    rows = cv.rows(gy, 1.0)
    y = cv.c[rows][None, :, None, None]
    t = clip((y - gy) / (1 - gy))
    colour = far + t * (near - far)
    if kind == "meadow":  # mown stripes, denser towards the horizon
        colour = colour * (1 + 0.05 * np.sin(1.2 / (y - gy + 0.04)))
    fill_below(cv, np.full(cv.n, gy, F32), 1.0, colour)
    if kind == "street":
        road = far * 0.55 + near * 0.45
        boxes(
            cv,
            np.array([[0, 1, gy + 0.04, gy + 0.047], [0, 1, gy + 0.047, 1.0]]),
            np.stack([far[:, 0, 0] * 0.7, road[:, 0, 0]]),
        )
        x0 = np.arange(-0.02, 1, 0.12)
        y0 = gy + 0.047 + (1 - gy) * 0.3
        dashes = np.stack([x0, x0 + 0.06, np.full_like(x0, y0), np.full_like(x0, y0 + 0.01)], 1)
        boxes(
            cv,
            dashes,
            np.broadcast_to(pair((0.9, 0.9, 0.85), (0.1, 0.1, 0.09))[:, 0, 0], (len(x0), 2, 3)),
        )


def _draw(s: Scene, cv: Canvas) -> None:
    c = cv.c
    hidden = _draw_sky(s, cv)
    y_end = s.ground[0] + 0.01 if s.ground else (s.water[0] + 0.01 if s.water else 1.0)
    for r in s.ridges:
        h = r.height(c)
        if r.trees is not None:
            xs, th, tw, conifer, colour = r.trees
            fill_below(cv, _tree_profile(c, h, xs, th, tw, conifer), float(h.max()) + 0.01, colour)
        shade = None
        if r.shade:
            slope = np.tanh(r.slope(c) * 0.8) * r.shade
            shade = slope[None, None, :, None] * np.array([1.0, 0.35], F32)[:, None, None, None]
        fill_below(cv, h, y_end, *r.colours, shade=shade)
        if r.snow is not None:
            line = r.snow + 0.02 * np.sin(TAU * 7 * c + r.phases[0]) + 0.01 * np.sin(TAU * 17 * c)
            snow = pair((0.95, 0.96, 1.0), (0.32, 0.35, 0.48))
            fill_below(cv, h, 1.0, snow, shade=None if shade is None else 1.5 * shade, cut=line)
    if s.ground is not None:
        _draw_ground(s, cv)
    for row in s.streets:
        street(cv, row)
    if s.foreground is not None:
        xs, th, tw, conifer, colour = s.foreground
        tops = _tree_profile(c, np.full(cv.n, 1.02, F32), xs, th, tw, conifer)
        fill_below(cv, tops, 1.0, colour)
    w = s.water[0] if s.water is not None else None
    for x, base, top in s.lamps:
        lamp(cv, x, base, top, w)
    if s.water is not None:
        w, ripple, tint = s.water
        bx, by = s.body
        vis = (by < w) * (1 - hidden)
        water(cv, w, ripple, tint, (bx, vis, vis * (1.0 if s.moon_shadow is None else 0.7)))


def _to_uint8(img: np.ndarray) -> np.ndarray:
    img *= 255.0
    img += 0.5
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)


def render_pair(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Return (night, day): uint8 arrays of shape (size, size, 3) of the same scene."""
    if not 8 <= size <= 2048:
        raise ValueError(f"size must be between 8 and 2048, got {size}")
    cv = Canvas(size)
    _draw(sample_scene(np.random.default_rng(seed)), cv)
    day, night = _to_uint8(cv.img)
    return night, day


def render_pairs(seed: int, count: int, size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (index, night, day) for ``count`` scenes; scene i depends only on (seed, i)."""
    for i in range(count):
        night, day = render_pair(derive_seed(seed, "scene", i), size)
        yield i, night, day
