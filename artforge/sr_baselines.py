"""Backend-free super-resolution helpers (Pillow and numpy): interpolation baselines, the
degradation that makes low/high-resolution training pairs, and Y-channel scores.

Conventions follow the SR literature (Dong et al. 2014, Shi et al. 2016, Ledig et al. 2017):
low-resolution images are made by bicubic downscaling (Pillow's bicubic filter widens its
kernel when shrinking, i.e. antialiases, like MATLAB's ``imresize``), the high-resolution
image is first cropped to a multiple of the scale, and PSNR/SSIM are measured on the BT.601
luma (Y of YCbCr, 16-235) with ``scale`` pixels shaved from every border.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from .images import as_uint8

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def upscale(img: np.ndarray, scale: int, method: str = "bicubic") -> np.ndarray:
    """Enlarge a uint8 image ``scale`` times with a Pillow filter (nearest, bicubic, lanczos)."""
    if method not in FILTERS:
        raise ValueError(f"unknown interpolation {method!r}; one of {', '.join(FILTERS)}")
    h, w = img.shape[:2]
    return np.asarray(
        Image.fromarray(as_uint8(img)).resize((w * scale, h * scale), FILTERS[method])
    )


def downscale(img: np.ndarray, scale: int, method: str = "bicubic") -> np.ndarray:
    """Shrink a uint8 image by ``scale`` (after :func:`modcrop`) with an antialiased filter."""
    img = modcrop(as_uint8(img), scale)
    h, w = img.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image of {w}x{h} pixels is smaller than the scale {scale}")
    return np.asarray(Image.fromarray(img).resize((w // scale, h // scale), FILTERS[method]))


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of a uint8 RGB image as float64 in [16, 235] (MATLAB's ``rgb2ycbcr``)."""
    rgb = np.asarray(img, dtype=np.float64)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    return 16.0 + rgb[..., :3] @ np.array([65.481, 128.553, 24.966]) / 255.0


def shave(img: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return img
    return img[border:-border, border:-border]


def y_psnr(restored: np.ndarray, truth: np.ndarray, scale: int) -> float:
    """PSNR (dB) of the Y channels, ``scale`` border pixels shaved, peak 255."""
    from .metrics import psnr

    return psnr(*_y_pair(restored, truth, scale), data_range=255.0)


def y_ssim(restored: np.ndarray, truth: np.ndarray, scale: int) -> float:
    """SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) of the Y channels."""
    from .metrics import ssim

    return ssim(*_y_pair(restored, truth, scale), data_range=255.0)


def _y_pair(restored: np.ndarray, truth: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    if restored.shape[:2] != truth.shape[:2]:
        raise ValueError(
            f"restored image is {restored.shape[1]}x{restored.shape[0]}, ground truth is "
            f"{truth.shape[1]}x{truth.shape[0]}"
        )
    return shave(rgb_to_y(restored), scale), shave(rgb_to_y(truth), scale)


# -- degradation ------------------------------------------------------------------------------
def degrade(
    hr: np.ndarray,
    scale: int,
    rng: np.random.Generator | None = None,
    *,
    blur: float = 0.0,
    noise: float = 0.0,
    jpeg: int | None = None,
) -> np.ndarray:
    """A low-resolution version of a uint8 image: optional Gaussian blur (sigma drawn from
    [0, blur]), bicubic downscaling by ``scale``, optional Gaussian noise (std drawn from
    [0, noise], 0-255 scale) and optional JPEG compression (quality drawn from [jpeg, 95]).

    The result is uint8 with shape ``(H // scale, W // scale, C)``.
    """
    rng = rng if rng is not None else np.random.default_rng()
    im = Image.fromarray(modcrop(as_uint8(hr), scale))
    if blur > 0:
        sigma = float(rng.uniform(0.0, blur))
        if sigma > 0.05:
            im = im.filter(ImageFilter.GaussianBlur(sigma))
    w, h = im.size
    im = im.resize((w // scale, h // scale), Image.Resampling.BICUBIC)
    lr = np.asarray(im)
    if noise > 0:
        std = float(rng.uniform(0.0, noise))
        lr = np.clip(lr.astype(np.float32) + rng.normal(0.0, std, lr.shape), 0, 255)
        lr = np.rint(lr).astype(np.uint8)
    if jpeg is not None:
        quality = int(rng.integers(min(jpeg, 95), 96))
        buf = io.BytesIO()
        Image.fromarray(lr).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as j:
            lr = np.asarray(j.convert("RGB" if lr.ndim == 3 else "L"))
    return np.ascontiguousarray(lr)


def random_pair(
    hr: np.ndarray,
    scale: int,
    patch: int,
    rng: np.random.Generator,
    *,
    blur: float = 0.0,
    noise: float = 0.0,
    jpeg: int | None = None,
    augment: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A random aligned (low, high) patch pair from one high-resolution image.

    The high-resolution patch is ``patch`` pixels (a multiple of ``scale``); the degradation
    runs on a larger crop and the low-resolution centre is kept, so the patch borders see
    the same filter support as the interior. With ``augment``: a random flip and rotation
    by a multiple of 90 degrees (the dihedral group, as in EDSR and ZSSR).
    """
    patch -= patch % scale
    support = 2 * scale + int(np.ceil(3 * blur))  # bicubic (and blur) kernel radius
    margin = -(-support // scale) * scale
    h, w = hr.shape[:2]
    big = patch + 2 * margin
    if h < big or w < big:
        margin = 0
        big = patch
    if h < big or w < big:
        raise ValueError(f"image of {w}x{h} pixels is smaller than the patch size {patch}")
    top = int(rng.integers(0, (h - big) // scale + 1)) * scale
    left = int(rng.integers(0, (w - big) // scale + 1)) * scale
    crop = hr[top : top + big, left : left + big]
    if augment:
        k = int(rng.integers(0, 4))
        crop = np.rot90(crop, k)
        if rng.integers(0, 2):
            crop = crop[:, ::-1]
        crop = np.ascontiguousarray(crop)
    lr_big = degrade(crop, scale, rng, blur=blur, noise=noise, jpeg=jpeg)
    m, p = margin // scale, patch // scale
    lr = lr_big[m : m + p, m : m + p]
    hr_patch = crop[margin : margin + patch, margin : margin + patch]
    return np.ascontiguousarray(lr), np.ascontiguousarray(hr_patch)
