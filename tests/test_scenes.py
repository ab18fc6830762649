import numpy as np
import pytest

from artforge.scenes import render_pair, render_pairs


def test_deterministic_and_seed_dependent():
    a = render_pair(3, 64)
    b = render_pair(3, 64)
    c = render_pair(4, 64)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("size", [32, 64, 100, 512])
def test_shapes(size):
    night, day = render_pair(1, size)
    assert night.shape == day.shape == (size, size, 3)
    assert night.dtype == day.dtype == np.uint8


def test_night_is_darker_with_local_lights():
    pairs = [(n, d) for _, n, d in render_pairs(0, 24, 64)]
    nights = np.stack([n for n, _ in pairs]).astype(np.float64)
    days = np.stack([d for _, d in pairs]).astype(np.float64)
    assert nights.mean() < 0.5 * days.mean()
    lum = nights.mean(-1).reshape(len(pairs), -1)
    # bright local lights (windows, lamps, moon, stars): the top 1% far above the median
    assert np.median(np.percentile(lum, 99, axis=1) - np.median(lum, axis=1)) > 60


def test_not_a_global_colour_change():
    """A per-channel affine map fitted on the pairs cannot explain night -> day."""
    pairs = [(n, d) for _, n, d in render_pairs(1, 32, 64)]
    x = np.stack([n for n, _ in pairs]).reshape(-1, 3).astype(np.float64)
    y = np.stack([d for _, d in pairs]).reshape(-1, 3).astype(np.float64)
    pred = np.empty_like(y)
    for ch in range(3):
        a = np.stack([x[:, ch], np.ones(len(x))], 1)
        coef, *_ = np.linalg.lstsq(a, y[:, ch], rcond=None)
        pred[:, ch] = a @ coef
    mse = np.mean((np.clip(pred, 0, 255) - y) ** 2)
    psnr = 10 * np.log10(255**2 / mse)
    assert psnr < 22


def test_same_scene_at_every_size():
    small = render_pair(5, 64)[1].astype(np.float64)
    big = render_pair(5, 128)[1].astype(np.float64)
    down = big.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
    assert np.abs(down - small).mean() < 12


def test_pairs_depend_only_on_seed_and_index():
    first = list(render_pairs(9, 3, 32))
    again = list(render_pairs(9, 5, 32))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again[:3]))


def test_bad_size():
    with pytest.raises(ValueError):
        render_pair(0, 4)
