"""The style score (artforge.stylescore) and the patch method (artforge.patchstyle): numpy
only, tiny images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from artforge.patchstyle import PatchOptions, parse_options, patch_style_transfer
from artforge.styles import render_style
from artforge.stylescore import colour_transfer, texture_distance, texture_stats


def photo(size: int = 64) -> np.ndarray:
    """A photograph-like image: smooth shading, a few soft-edged shapes, mild noise."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.7 - 0.5 * x * y], -1)
    for cx, cy, r, col in ((0.3, 0.35, 0.18, (0.9, 0.5, 0.2)), (0.7, 0.65, 0.22, (0.1, 0.2, 0.5))):
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        m = np.clip((r - d) * size / 2, 0, 1)[..., None]
        img = img * (1 - m) + np.asarray(col) * m
    img += rng.normal(0, 0.01, img.shape)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def match(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``src`` with the values of ``ref`` of the same rank (histogram specification)."""
    ranks = np.argsort(np.argsort(src.ravel()))
    return np.sort(ref.ravel())[ranks].reshape(src.shape)


def colour_restyles(img: np.ndarray, style: np.ndarray) -> dict[str, np.ndarray]:
    """Ways to give a photo other colours without touching its texture."""
    f = img.astype(np.float64) / 255
    mix = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.1, 0.3, 0.6]])
    return {
        "covariance transfer": colour_transfer(img, style),
        "channels swapped": img[..., ::-1],
        "3x3 mix": np.clip(f @ mix.T * 255, 0, 255).astype(np.uint8),
        "gamma and contrast": np.clip((f**1.8) * 1.4 * 255, 0, 255).astype(np.uint8),
        "per-channel histograms": np.stack(
            [match(img[..., c], style[..., c]) for c in range(3)], -1
        ),
    }


def test_colour_transfer_gives_the_style_colour_statistics():
    img, style = photo(), render_style("brush", 64, 0)
    out = colour_transfer(img, style).reshape(-1, 3).astype(float)
    ref = style.reshape(-1, 3).astype(float)
    assert np.allclose(out.mean(0), ref.mean(0), atol=2.5)
    assert np.allclose(
        np.cov(out, rowvar=False), np.cov(ref, rowvar=False), rtol=0.15, atol=150
    )  # clipping
    assert colour_transfer(img, style).dtype == np.uint8


@pytest.mark.parametrize("name", ["brush", "mosaic", "pointillism"])
def test_colour_cannot_satisfy_the_score(name):
    """Another rendering of the style is close; the photo recoloured in any way is not, and no
    recolouring moves the photo's distance much."""
    img, style = photo(96), render_style(name, 96, 0)
    ref = texture_stats(style)
    same_style = texture_distance(render_style(name, 96, 1), ref)
    base = texture_distance(img, ref)
    assert same_style < 0.5 * base
    for what, restyled in colour_restyles(img, style).items():
        d = texture_distance(restyled, ref)
        assert d > 2 * same_style and abs(d - base) < 0.25 * base, what


def test_score_ignores_brightness_and_contrast_but_sees_blur():
    style = render_style("brush", 96, 0)
    ref = texture_stats(style)
    d0 = texture_distance(style, ref)
    dimmer = (style.astype(float) * 0.5 + 40).astype(np.uint8)
    d_dim = texture_distance(dimmer, ref)
    assert d0 < 1e-9 and d_dim < 0.02
    small = Image.fromarray(style).resize((32, 32), Image.BOX).resize((96, 96), Image.BILINEAR)
    assert texture_distance(np.asarray(small), ref) > max(0.05, 3 * d_dim)


def test_patch_method_beats_the_colour_baseline_and_keeps_the_layout():
    img, style = photo(64), render_style("brush", 64, 0)
    opts = PatchOptions(patch_sizes=[17, 9], iterations=2, max_style_patches=3000)
    res = patch_style_transfer(img, style, opts, seed=1)
    out = res.image
    assert out.shape == img.shape and out.dtype == np.uint8
    assert res.levels == [(16, 16), (32, 32), (64, 64)]
    ref = texture_stats(style)
    assert texture_distance(out, ref) < 0.8 * texture_distance(colour_transfer(img, style), ref)
    # the dark disc of the photo stays darker than the bright one (layout kept)
    lum = out.astype(float) @ [0.299, 0.587, 0.114]
    assert lum[36:48, 38:52].mean() + 20 < lum[16:28, 14:24].mean()
    again = patch_style_transfer(img, style, opts, seed=1).image
    assert np.array_equal(out, again)


def test_patch_options_errors_name_the_key_and_suggest():
    with pytest.raises(ValueError, match=r"options.patch_size: unknown option; did you mean"):
        parse_options({"patch_size": [9]})
    with pytest.raises(ValueError, match=r"options.scales: Input should be less than or equal"):
        parse_options({"scales": 9})
    assert parse_options({}).patch_sizes == PatchOptions().patch_sizes
