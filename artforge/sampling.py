"""Backend-free parts of sampling a trained DCGAN, shared by both backends' ``sample`` steps
and ``train-gan``'s sample-quality curves (numpy and Pillow only).

- latent noise drawn from NumPy seeds (both backends draw the same z for the same seed);
- :func:`slerp` and :func:`latent_walk`: a closed loop of spherical interpolations between
  random latent points (White 2016, "Sampling Generative Networks": slerp keeps the
  interpolates at the norm a Gaussian latent has, where linear interpolation passes
  through the low-norm centre that the generator never saw);
- :func:`resolve_classes` and :func:`balanced_labels`: requested classes by index or name;
- :func:`grid_image`, :func:`walk_strip` and :func:`write_gif`: the pictures (the GIF is
  written atomically, byte-identical for identical frames);
- :func:`fit_images`: real or generated images at the generator's size.

The scores of samples against real images (``train-gan``'s curves, the ``sample`` step's
``reference``) are in :mod:`artforge.sample_scores`.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_bytes
from .errors import StepError
from .images import resize, resize_crop
from .seeding import derive_seed


# -- latents ----------------------------------------------------------------------------------
def gaussian(seed: int, n: int, nz: int) -> np.ndarray:
    """``n`` standard normal latent vectors (float32) from a NumPy seed."""
    return np.random.default_rng(seed).standard_normal((n, nz)).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between latent vectors ``a`` and ``b`` (last axis), t in [0, 1];
    falls back to linear interpolation for (nearly) parallel vectors."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    na = a / np.linalg.norm(a, axis=-1, keepdims=True).clip(1e-12)
    nb = b / np.linalg.norm(b, axis=-1, keepdims=True).clip(1e-12)
    omega = np.arccos(np.clip((na * nb).sum(-1, keepdims=True), -1.0, 1.0))
    so = np.sin(omega)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(
            so > 1e-6,
            np.sin((1.0 - t) * omega) / np.where(so > 1e-6, so, 1.0) * a
            + np.sin(t * omega) / np.where(so > 1e-6, so, 1.0) * b,
            (1.0 - t) * a + t * b,
        )
    return out.astype(np.float32)


def latent_walk(seed: int, points: int, frames: int, nz: int) -> np.ndarray:
    """``points * frames`` latents (float32) on a closed loop through ``points`` random points:
    ``frames`` per segment, the segment's end point being the next segment's first frame, and
    the last segment returning to the first point (the GIF loops without a jump)."""
    keys = gaussian(seed, points, nz)
    t = np.arange(frames) / frames
    return np.concatenate([slerp(keys[i], keys[(i + 1) % points], t) for i in range(points)])


# -- classes ----------------------------------------------------------------------------------
def resolve_classes(
    requested: list[int | str] | None, n_classes: int, names: list[str]
) -> list[int]:
    """Class indices from indices or names (``names``: the model's class names)."""
    if not n_classes:
        if requested:
            raise StepError(
                "`classes` needs a class-conditional generator (cdcgan); this one is unconditional",
                hint="drop `classes`, or train with model: cdcgan",
            )
        return []
    if not requested:
        return list(range(n_classes))
    out = []
    lookup = {str(n): i for i, n in enumerate(names)}
    for c in requested:
        if isinstance(c, int) and not isinstance(c, bool):
            k = c
        elif str(c) in lookup:
            k = lookup[str(c)]
        elif str(c).lstrip("-").isdigit():
            k = int(c)
        else:
            raise StepError(
                f"unknown class {c!r}",
                hint=f"the model's classes: {', '.join(map(str, names)) if names else f'0 to {n_classes - 1}'}",
            )
        if not 0 <= k < n_classes:
            raise StepError(
                f"class {k} is out of range: the model has {n_classes} classes (0 to {n_classes - 1})"
            )
        out.append(k)
    return out


def balanced_labels(classes: list[int], n: int) -> np.ndarray:
    """``n`` labels over ``classes``, balanced (the first ``n % len(classes)`` get one more),
    grouped by class in the order given."""
    k = len(classes)
    counts = [n // k + (1 if i < n % k else 0) for i in range(k)]
    return np.concatenate([np.full(c, cls, np.int64) for cls, c in zip(classes, counts)])


# -- pictures ---------------------------------------------------------------------------------
def grid_image(images: np.ndarray, columns: int, pad: int = 2, background: int = 0) -> np.ndarray:
    """Images (N, H, W, 3) in rows of ``columns`` with ``pad`` pixels between them."""
    n, h, w = images.shape[:3]
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    out = np.full(
        (rows * h + (rows + 1) * pad, columns * w + (columns + 1) * pad, 3), background, np.uint8
    )
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = img
    return out


def walk_strip(frames: np.ndarray) -> np.ndarray:
    """The walk as one picture: frames (T, K, S, S, 3) -> one row per class (K), one column
    per frame (T)."""
    t, k, s = frames.shape[:3]
    return np.concatenate([np.concatenate(list(frames[:, j]), axis=1) for j in range(k)], axis=0)


def gif_frames(frames: np.ndarray, min_cell: int = 64) -> list[np.ndarray]:
    """The GIF's frames: the K images of each walk frame side by side, scaled up (nearest) to
    at least ``min_cell`` pixels, with a progress bar along the bottom. The bar also keeps
    every frame distinct: a GIF writer merges identical consecutive frames."""
    t, k, s = frames.shape[:3]
    scale = max(1, math.ceil(min_cell / s), math.ceil(t / (k * s)))
    out = []
    bar_h = max(2, scale)
    for i in range(t):
        row = np.concatenate(list(frames[i]), axis=1)
        row = row.repeat(scale, axis=0).repeat(scale, axis=1)
        width = row.shape[1]
        bar = np.full((bar_h, width, 3), 40, np.uint8)
        bar[:, : math.ceil((i + 1) * width / t)] = 200  # gray: a grayscale walk stays gray
        out.append(np.concatenate([row, bar], axis=0))
    return out


def gif_bytes(frames: list[np.ndarray], fps: float) -> bytes:
    """An infinitely looping GIF; deterministic bytes for identical frames. Each frame gets
    its own median-cut palette without dithering (64 levels for grayscale frames: a third of
    the file at no visible cost; 256 colours otherwise)."""
    from PIL import Image

    gray = all(
        np.array_equal(f[..., 0], f[..., 1]) and np.array_equal(f[..., 0], f[..., 2])
        for f in frames
    )
    colours = 64 if gray else 256
    pics = [
        Image.fromarray(np.ascontiguousarray(f)).quantize(
            colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        for f in frames
    ]
    buf = io.BytesIO()
    pics[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=pics[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
        optimize=False,
        disposal=1,
    )
    return buf.getvalue()


def write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    write_bytes(path, gif_bytes(frames, fps), durable=False)  # the runner syncs the step folder


def fit_images(images: list[np.ndarray] | np.ndarray, size: int) -> np.ndarray:
    """RGB images as (N, size, size, 3) uint8: resized when square, else resize-and-crop."""
    out = []
    for img in images:
        img = np.asarray(img)[..., :3]
        h, w = img.shape[:2]
        if (h, w) != (size, size):
            img = resize(img, (size, size), "lanczos") if h == w else resize_crop(img, size)
        out.append(img)
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


# -- the sample step --------------------------------------------------------------------------
def run_sample(
    ctx: Any, p: Any, meta: dict[str, Any], generate: Any, fid: Any = None
) -> dict[str, Any]:
    """The ``sample`` step on any backend. ``generate(z, y) -> uint8 (N, S, S, 3)`` runs the
    generator (y: int labels or None); ``fid(images_a, images_b) -> float`` or None."""
    from .artifacts import ImageSet
    from .images import save_png

    kwargs = meta.get("kwargs") or {}
    nz = int(meta.get("nz") or kwargs.get("nz") or 100)
    n_classes = int(meta.get("n_classes") or kwargs.get("n_classes") or 0)
    size = int(meta.get("image_size") or kwargs.get("image_size"))
    names = [str(c) for c in meta.get("classes") or []]
    classes = resolve_classes(p.classes, n_classes, names)
    label_name = (lambda k: names[k] if k < len(names) else str(k)) if n_classes else None

    # -- samples
    z = gaussian(derive_seed(ctx.seed, "z"), p.n, nz)
    labels = balanced_labels(classes, p.n) if n_classes else None
    images = generate(z, labels)
    out = ctx.image_writer("images")
    counts: dict[int, int] = {}
    for i, img in enumerate(images):
        if labels is None:
            out.add(img, name=f"sample{i:05d}")
        else:
            k = int(labels[i])
            counts[k] = counts.get(k, 0) + 1
            out.add(img, name=f"{label_name(k)}_{counts[k]:04d}", label=k)
    meta_out: dict[str, Any] = {"model": meta.get("model"), "nz": nz}
    if n_classes:
        meta_out["classes"] = names or [str(k) for k in range(n_classes)]
        meta_out["requested"] = classes
    outputs: dict[str, Any] = {"images": out.finish(**meta_out)}

    # -- grid: one row per requested class (cdcgan), else about sqrt(n) columns
    if labels is not None:
        columns = p.grid or min(max(counts.values()), 16)
        rows = [images[labels == k][:columns] for k in classes]
        tiles = []
        for r in rows:
            pad = np.zeros((columns - len(r), size, size, 3), np.uint8)
            tiles.append(np.concatenate([r, pad]) if len(pad) else r)
        grid = grid_image(np.concatenate(tiles), columns)
        caption = f"one row per class: {', '.join(label_name(k) for k in classes)}"
    else:
        columns = p.grid or math.ceil(math.sqrt(min(p.n, 256)))
        grid = grid_image(
            images[: min(p.n, columns * columns if p.grid is None else 16 * columns)], columns
        )
        caption = f"{columns} columns"
    gw = ctx.image_writer("grid")
    gw.add(grid, name="grid")
    outputs["grid"] = gw.finish(display="wide", caption=caption)

    # -- latent walk: a closed slerp loop; for cdcgan every frame shows each requested class
    wz = latent_walk(derive_seed(ctx.seed, "walk"), p.walk_points, p.walk_frames, nz)
    t = len(wz)
    if n_classes:
        k = len(classes)
        frames = generate(np.repeat(wz, k, axis=0), np.tile(np.asarray(classes, np.int64), t))
        frames = frames.reshape(t, k, size, size, 3)
    else:
        frames = generate(wz, None).reshape(t, 1, size, size, 3)
    folder = ctx.path("walk")
    folder.mkdir(parents=True, exist_ok=True)
    save_png(folder / "walk_strip.png", walk_strip(frames), durable=False)
    write_gif(folder / "walk.gif", gif_frames(frames), p.walk_fps)
    outputs["walk"] = ImageSet(
        folder,
        ["walk_strip.png", "walk.gif"],
        None,
        {
            "display": "wide",
            "strip": "walk_strip.png",
            "gif": "walk.gif",
            "frames": t,
            "points": p.walk_points,
            "frames_per_segment": p.walk_frames,
            "fps": p.walk_fps,
            "interpolation": "slerp, closed loop",
            "rows": [label_name(k) for k in classes] if n_classes else ["z"],
        },
    )
    ctx.metrics["images"] = len(images)
    ctx.metrics["walk_frames"] = t
    if n_classes:
        ctx.metrics["classes"] = len(classes)

    # -- scores against real images
    if p.reference:
        from .sample_scores import outputs_scores

        outputs_scores(ctx, p, images, labels, size, names, n_classes, fid)
    return outputs
