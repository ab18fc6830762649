"""The ``images`` step: a folder, file or glob of images, or scikit-image's bundled photos."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np

from artforge.errors import DataError, StepError
from artforge.images import IMAGE_SUFFIXES, list_images, load_image, resize_crop, scaled_size

SKIMAGE_RGB = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
)
SKIMAGE_GRAY = (
    "camera",
    "brick",
    "grass",
    "gravel",
    "coins",
    "moon",
    "horse",
    "clock",
    "page",
    "text",
)


def run(ctx, p):
    out = ctx.image_writer("images")
    if p.skimage is not None:
        for name in p.skimage[: p.limit]:
            out.add(_prepare(load_skimage(name), p, name), name=name)
        return {"images": out.finish(source="scikit-image")}
    files = _find(ctx.resolve_path(p.path), p.recursive, p.path)
    if p.limit:
        files = files[: p.limit]
    progress = ctx.progress(len(files), "loading images")
    for f in files:
        img = load_image(f, max_pixels=p.max_pixels)
        out.add(_prepare(img, p, f), name=f.stem)
        progress.update()
    progress.close()
    return {"images": out.finish(source=str(p.path))}


def _prepare(img: np.ndarray, p, source) -> np.ndarray:
    if p.size and p.crop == "none":
        # the guard admitted the file, but its scaled copy must pass it too: a 300000 x 1
        # image with its shorter side scaled to 64 would be 19200000 x 64 pixels
        h, w = img.shape[:2]
        nw, nh = scaled_size(h, w, p.size)
        if nw * nh > p.max_pixels:
            raise DataError(
                f"image too elongated: {source} is {w}x{h} pixels; scaling its shorter side "
                f"to {p.size} with crop: none would make {nw}x{nh} pixels "
                f"(limit {p.max_pixels} pixels)",
                hint="use crop: center, or crop the image to a less extreme shape first",
            )
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if p.grayscale:
        g = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round()
        img = np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    if p.size:
        img = resize_crop(img, p.size, p.crop)
    return img


def _find(path: Path, recursive: bool, given: str) -> list[Path]:
    text = str(path)
    if any(c in text for c in "*?["):
        files = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
        files = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise DataError(f"no images match {given!r} (looked for {text})")
        return files
    if path.is_dir():
        files = list_images(path, recursive)
        if not files:
            raise DataError(
                f"no images in folder {path}",
                hint="supported formats: "
                + ", ".join(IMAGE_SUFFIXES)
                + ("" if recursive else "; set recursive: true to look in sub-folders"),
            )
        return files
    if path.is_file():
        return [path]
    raise DataError(f"image path not found: {path}", hint="paths are relative to the recipe file")


def load_skimage(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image (no download)."""
    if name not in SKIMAGE_RGB + SKIMAGE_GRAY:
        from artforge.errors import suggest

        raise StepError(
            f"unknown scikit-image photograph '{name}'",
            hint=suggest(name, SKIMAGE_RGB + SKIMAGE_GRAY)
            or "one of: " + ", ".join(SKIMAGE_RGB + SKIMAGE_GRAY),
        )
    try:
        from skimage import data
    except ImportError:
        raise StepError(
            "the `skimage:` source needs scikit-image", hint="pip install scikit-image"
        ) from None
    img = np.asarray(getattr(data, name)())
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) / (img.max() or 1) * 255 + 0.5, 0, 255).astype(
            np.uint8
        )
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    return img
