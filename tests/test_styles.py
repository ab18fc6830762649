import numpy as np
import pytest

from artforge.styles import STYLES, render_style


def test_at_least_the_required_styles():
    assert {"brush", "mosaic", "ink"} <= set(STYLES)
    assert all(isinstance(v, str) and v for v in STYLES.values())


@pytest.mark.parametrize("name", sorted(STYLES))
def test_shape_dtype_and_determinism(name):
    a = render_style(name, 96, seed=3)
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_style(name, 96, seed=3))
    assert not np.array_equal(a, render_style(name, 96, seed=4))
    assert a.std() > 20  # a texture, not a flat colour


@pytest.mark.parametrize("name", sorted(STYLES))
def test_other_sizes(name):
    for size in (64, 130):
        assert render_style(name, size).shape == (size, size, 3)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        render_style("cubism")
    for name in STYLES:
        assert name in str(err.value)


def test_bad_size():
    with pytest.raises(ValueError):
        render_style("brush", 4)


def _gram(img: np.ndarray) -> np.ndarray:
    """Colour and local-gradient second moments: a crude texture statistic."""
    x = img.astype(np.float64) / 255
    gx, gy = np.diff(x, axis=1)[:-1], np.diff(x, axis=0)[:, :-1]
    f = np.concatenate([x[:-1, :-1], np.abs(gx), np.abs(gy)], -1).reshape(-1, 9)
    return f.T @ f / len(f)


def test_styles_differ_from_each_other():
    grams = {name: _gram(render_style(name, 128)) for name in STYLES}
    names = sorted(grams)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(grams[a] - grams[b]).sum() > 1.0, (a, b)
