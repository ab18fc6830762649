"""Image files in and out: careful loading (clear errors, mode conversion, EXIF rotation,
decompression-bomb guard) and atomic PNG writing. Pillow and numpy only."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import write_bytes
from .errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
MAX_PIXELS = 64 * 1024 * 1024  # 64 megapixels: larger images are refused, not decoded


def load_image(
    path: str | os.PathLike, mode: str = "RGB", max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Load an image file as a uint8 array (H, W, 3) for RGB or (H, W) for "L".

    Handles palette, grayscale, 16-bit, RGBA (composited on white), CMYK and EXIF rotation;
    refuses empty, truncated, non-image and oversized files with a :class:`DataError` that
    names the file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"image not found: {path}") from None
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise DataError(f"expected an image file but found a folder: {path}")
    if size == 0:
        raise DataError(f"image file is empty: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise DataError(
                        f"image too large: {path} is {w}x{h} pixels "
                        f"(limit {max_pixels // (1024 * 1024)} megapixels)",
                        hint="resize it first, or raise the step's max_pixels",
                    )
                im.load()
                im = ImageOps.exif_transpose(im)
                return to_array(im, mode)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"image too large (decompression bomb guard): {path}") from None
    except UnidentifiedImageError:
        kind = _sniff(path)
        if kind:  # an image's signature, then nothing Pillow can read: cut short or damaged
            raise DataError(
                f"corrupt or truncated image {path}: it starts like a {kind} file but cannot "
                "be decoded"
            ) from None
        raise DataError(
            f"not an image file (or an unsupported format): {path}",
            hint="supported formats: " + ", ".join(IMAGE_SUFFIXES),
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"corrupt or truncated image {path}: {exc}") from None


SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _sniff(path: Path) -> str | None:
    """The format an image file's first bytes announce (None for anything else)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for sig, kind in SIGNATURES.items() if head.startswith(sig)), None)


def to_array(im: Image.Image, mode: str = "RGB") -> np.ndarray:
    """Convert any Pillow image to uint8 RGB (or L) without surprises."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        # a 16-bit file spans 0..65535 however dark it is; a 32-bit "I" image has no fixed
        # range: values above 255 are taken as 16-bit
        sixteen = im.mode.startswith("I;16") or arr.max(initial=0) > 255
        hi = 65535.0 if sixteen else 255.0
        im = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min(initial=0)), float(arr.max(initial=1))
        arr = (arr - lo) / (hi - lo or 1.0)
        im = Image.fromarray((arr * 255 + 0.5).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    im = im.convert(mode)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def encode_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(as_uint8(array)).save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


def save_png(path: str | os.PathLike, array: np.ndarray, *, durable: bool = True) -> None:
    """Write ``array`` (uint8 or float in [0, 1]) as a PNG, atomically (``durable=False``:
    without an fsync, for staging folders that are flushed as a whole; see atomic.sync_tree)."""
    write_bytes(path, encode_png(array), durable=durable)


def as_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 stays; floats are taken to be in [0, 1] and rounded."""
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return a
    return np.clip(np.rint(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def resize(
    array: np.ndarray,
    size: tuple[int, int],
    resample: str = "bicubic",
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Resize a uint8 image to (width, height) with Pillow; ``box`` (left, top, right, bottom,
    in source pixels) resizes only that region (the filter still reads the pixels around it)."""
    filters = {
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "lanczos": Image.Resampling.LANCZOS,
        "box": Image.Resampling.BOX,
    }
    return np.asarray(Image.fromarray(as_uint8(array)).resize(size, filters[resample], box=box))


def scaled_size(h: int, w: int, size: int) -> tuple[int, int]:
    """(width, height) of an ``h x w`` image whose shorter side is scaled to ``size``."""
    s = size / min(h, w)
    return max(size, round(w * s)), max(size, round(h * s))


def resize_crop(array: np.ndarray, size: int, crop: str = "center") -> np.ndarray:
    """Scale the shorter side to ``size`` and crop the centre to ``size`` x ``size``
    (``crop="none"``: keep the whole scaled image)."""
    h, w = array.shape[:2]
    nw, nh = scaled_size(h, w, size)
    resample = "lanczos" if size < min(h, w) else "bicubic"
    if crop == "none":
        return resize(array, (nw, nh), resample)
    top, left = (nh - size) // 2, (nw - size) // 2
    if max(nw, nh) > 4 * size:
        # an extreme shape (300000 x 1 scaled to 64 would be 19200000 x 64 pixels, 3.7 GB):
        # resize only the part the crop keeps, so memory stays that of the output. Ordinary
        # shapes keep the whole resize below: their pixels stay exactly as they were.
        box = (left * w / nw, top * h / nh, (left + size) * w / nw, (top + size) * h / nh)
        return resize(array, (size, size), resample, box=box)
    out = resize(array, (nw, nh), resample)
    return out[top : top + size, left : left + size]


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def folder_images(
    folder: Path, labelled: bool
) -> tuple[list[np.ndarray], list[int] | None, list[str]]:
    """Images of a folder (``images, labels, classes``); labelled: one sub-folder per class
    (the sorted sub-folder names are the classes, their indices the labels). Used by the
    ``train-gan`` step of every backend (dcgan, cdcgan and registered ``images`` trainers)."""
    if not folder.is_dir():
        raise DataError(f"training folder not found: {folder}")
    if not labelled:
        files = list_images(folder)
        if not files:
            raise DataError(f"no images in {folder}")
        return [load_image(f) for f in files], None, []
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    images, labels = [], []
    for k, c in enumerate(classes):
        for f in list_images(folder / c):
            images.append(load_image(f))
            labels.append(k)
    if not images:
        raise DataError(
            f"no labelled images in {folder}",
            hint="cdcgan wants one sub-folder of images per class",
        )
    return images, labels, classes


def unpaired_from_folder(
    folder: Path, direction: str = "AtoB"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The images of ``folder/trainA`` and ``folder/trainB`` (the CycleGAN datasets' layout);
    ``direction: BtoA`` swaps the domains. Used by cyclegan's ``train-gan`` step and the
    ``unpaired`` data of registered trainers on every backend."""
    if not folder.is_dir():
        raise DataError(f"training folder not found: {folder}")
    missing = [sub for sub in ("trainA", "trainB") if not (folder / sub).is_dir()]
    if missing:
        raise DataError(
            f"{folder} has no {' or '.join(missing)}/ sub-folder",
            hint="cyclegan's `folder` holds the unpaired domains in trainA/ and trainB/",
        )
    sides = []
    for sub in ("trainA", "trainB"):
        files = list_images(folder / sub)
        if not files:
            raise DataError(f"no images in {folder / sub}")
        sides.append([load_image(f) for f in files])
    a, b = sides
    return (b, a) if direction == "BtoA" else (a, b)


def tiles(h: int, w: int, tile: int, overlap: int) -> Iterator[tuple[int, ...]]:
    """``(y0, y1, x0, x1, ya, yb, xa, xb)`` for every tile of an ``h x w`` input, row by row:
    the tile's own area ``[y0:y1, x0:x1]`` and the area cut for it with ``overlap`` pixels of
    context ``[ya:yb, xa:xb]`` (less at the image border). The tile plan of tiled inference on
    every backend."""
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        ya, yb = max(y0 - overlap, 0), min(y1 + overlap, h)
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            yield y0, y1, x0, x1, ya, yb, max(x0 - overlap, 0), min(x1 + overlap, w)


def scaled_tiles(
    h: int, w: int, tile: int, overlap: int, scale: int
) -> Iterator[tuple[int, int, int, int, slice, slice, slice, slice]]:
    """:func:`tiles` for a network that scales by ``scale``: ``(ya, yb, xa, xb, rows, cols,
    keep_rows, keep_cols)``: the input area to cut ``[ya:yb, xa:xb]``, the output area the
    tile fills ``[rows, cols]`` and, within the network's output for the cut, the part to
    keep there ``[keep_rows, keep_cols]``."""
    for y0, y1, x0, x1, ya, yb, xa, xb in tiles(h, w, tile, overlap):
        yield (
            ya,
            yb,
            xa,
            xb,
            slice(y0 * scale, y1 * scale),
            slice(x0 * scale, x1 * scale),
            slice((y0 - ya) * scale, (y1 - ya) * scale),
            slice((x0 - xa) * scale, (x1 - xa) * scale),
        )


def check_tile(got: tuple[int, int], cut: tuple[int, int], scale: int) -> None:
    """A ``ValueError`` unless a network turned a ``cut`` (h, w) tile into ``got`` (h, w) =
    ``cut`` times ``scale``."""
    if tuple(got) != (cut[0] * scale, cut[1] * scale):
        raise ValueError(
            f"the network turned a {cut[1]}x{cut[0]} tile into {got[1]}x{got[0]}, expected x{scale}"
        )
