import numpy as np
import pytest

from artforge.metrics import apply_affine_colour, fit_affine_colour, mean_scores, psnr, ssim


def test_psnr_known_value():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 10, np.uint8)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(a, a) == float("inf")


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 33, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    ref = metrics.structural_similarity(
        a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert ssim(a, b) == pytest.approx(ref, abs=1e-6)
    assert ssim(a, a) == pytest.approx(1.0)


def test_affine_colour_baseline_recovers_a_colour_map():
    rng = np.random.default_rng(1)
    src = [rng.integers(10, 200, (16, 16, 3)).astype(np.uint8) for _ in range(4)]
    coef_true = np.array([[1.2, 10.0], [0.8, 5.0], [1.0, -3.0]])
    tgt = [apply_affine_colour(s, coef_true) for s in src]
    coef = fit_affine_colour(src, tgt)
    assert np.allclose(coef, coef_true, atol=0.05)
    scores = mean_scores([apply_affine_colour(s, coef) for s in src], tgt)
    assert scores["psnr"] > 45 and scores["ssim"] > 0.99
