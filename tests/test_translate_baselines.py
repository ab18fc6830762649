"""The translation yardsticks of ``translate`` (artforge.translate_baselines, numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from artforge.translate_baselines import fit_baselines, strongest


def _images(rng, n, size=8):
    return [rng.integers(20, 120, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def test_pixel_ridge_recovers_an_exactly_linear_per_pixel_map():
    rng = np.random.default_rng(0)
    # a different 3x3 matrix + bias at every pixel position, targets kept inside 0..255
    w = rng.uniform(-0.1, 0.5, (8, 8, 3, 3))
    bias = rng.uniform(0.15, 0.25, (8, 8, 3))
    src = _images(rng, 40)

    def truth(img):
        y = np.einsum("hwi,hwij->hwj", img / 255.0, w) + bias
        assert y.min() >= 0 and y.max() <= 1
        return np.rint(y * 255).astype(np.uint8)

    fitted = fit_baselines([(s, truth(s)) for s in src])
    ridge, matrix = fitted["pixel_ridge"], fitted["colour_matrix"]
    new = _images(rng, 5)
    for img in new:  # unseen inputs: within the targets' rounding
        assert np.abs(ridge.apply(img).astype(int) - truth(img)).max() <= 1
    # one global matrix cannot follow a map that changes with position
    assert max(np.abs(matrix.apply(i).astype(int) - truth(i)).max() for i in new) > 20
    assert ridge.info["alpha"] <= 1e-4  # the held-back fifth picks a weak penalty


def test_colour_matrix_and_affine_recover_global_maps():
    rng = np.random.default_rng(1)
    src = _images(rng, 10)
    m = np.array([[0.5, 0.2, 0.0], [0.1, 0.6, 0.1], [0.0, 0.3, 0.4]])
    mixed = [np.rint(s @ m + 30).astype(np.uint8) for s in src]
    assert (
        np.abs(
            fit_baselines(zip(src, mixed))["colour_matrix"].apply(src[0]).astype(int) - mixed[0]
        ).max()
        <= 1
    )
    per_channel = [np.rint(s * [0.5, 1.2, 0.9] + [10, 5, 40]).astype(np.uint8) for s in src]
    affine = fit_baselines(zip(src, per_channel), ["affine"])["affine"]
    assert np.abs(affine.apply(src[3]).astype(int) - per_channel[3]).max() <= 1
    assert set(fit_baselines(zip(src, per_channel), ["affine"])) == {"affine"}


def test_mean_image_ignores_the_input():
    rng = np.random.default_rng(2)
    src, tgt = _images(rng, 6), _images(rng, 6)
    mean = fit_baselines(zip(src, tgt), ["mean_image"])["mean_image"]
    expect = np.rint(np.mean(np.stack(tgt).astype(float), axis=0)).astype(np.uint8)
    black, white = np.zeros_like(src[0]), np.full_like(src[0], 255)
    assert np.array_equal(mean.apply(black), mean.apply(white))
    assert np.abs(mean.apply(black).astype(int) - expect).max() <= 1


def test_position_baselines_need_one_size():
    rng = np.random.default_rng(3)
    pairs = [(s, s) for s in _images(rng, 3, 8) + _images(rng, 3, 16)]
    fitted = fit_baselines(pairs)
    assert set(fitted) == {"affine", "colour_matrix"}  # mean_image and pixel_ridge left out
    one = fit_baselines([(s, s) for s in _images(rng, 3, 8)])
    assert one["pixel_ridge"].applies((8, 8, 3)) and not one["pixel_ridge"].applies((16, 16, 3))
    assert one["colour_matrix"].applies((16, 16, 3))
    with pytest.raises(ValueError, match="applies to"):
        one["mean_image"].apply(np.zeros((16, 16, 3), np.uint8))


def test_fit_refuses_unknown_names_and_no_pairs():
    with pytest.raises(ValueError, match="unknown baselines"):
        fit_baselines([], ["median"])
    with pytest.raises(ValueError, match="no training pairs"):
        fit_baselines([])


def test_strongest_is_the_highest_psnr():
    scores = {"affine": {"psnr": 15.0, "ssim": 0.7}, "pixel_ridge": {"psnr": 21.0, "ssim": 0.6}}
    assert strongest(scores) == "pixel_ridge"
