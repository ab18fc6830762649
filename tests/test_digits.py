"""The ``digits`` step: scikit-learn's bundled digits, upscaled, labelled, split by class."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from artforge.api import RecipeError, run_recipe  # noqa: E402
from artforge.steps.digits import raw_digits, render_digits, select  # noqa: E402


def recipe(params: str, seed: int = 1, step_id: str = "d") -> str:
    return (
        f"name: digits\nseed: {seed}\nsteps:\n"
        f"  - {{id: {step_id}, uses: digits, with: {{{params}}}}}\n"
        "gallery: {enabled: false}\n"
    )


def run(tmp_path, params: str, name: str = "run", **kw):
    result = run_recipe(recipe(params, **kw), tmp_path / name, load_installed=False)
    step = kw.get("step_id", "d")
    return result.images(step, "train"), result.images(step, "holdout"), result.record(step)


def test_step_outputs_labelled_stratified_sets(tmp_path):
    train, hold, rec = run(tmp_path, "size: 16, limit: 100, holdout: 0.2")
    assert (len(train), len(hold)) == (80, 20)
    assert rec["metrics"] == {"train": 80, "validation": 0, "test": 20, "classes": 10}
    assert "load_digits" in rec["info"]["source"]
    for s in (train, hold):
        assert s.meta["classes"] == [str(d) for d in range(10)]
        assert sorted(set(s.labels)) == list(range(10))
        # a name carries the dataset index and the digit; the label is that digit here
        assert all(int(n.split("_")[1]) == lab for n, lab in zip(s.names, s.labels))
    assert np.bincount(train.labels).tolist() == [8] * 10  # 10 per class, 2 held out
    assert np.bincount(hold.labels).tolist() == [2] * 10
    assert not set(train.names) & set(hold.names)
    img = train.load(0)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert np.array_equal(img[..., 0], img[..., 2])  # gray stored as RGB
    assert img[0].max() == 0 and img.max() > 200  # white digit on a black border


def test_classes_subset_and_invert(tmp_path):
    train, hold, rec = run(tmp_path, "size: 24, classes: [7, 0, 3], invert: true, holdout: 0.25")
    assert train.meta["classes"] == hold.meta["classes"] == ["7", "0", "3"]
    digit_of = {0: 7, 1: 0, 2: 3}  # labels are positions in `classes`
    assert all(digit_of[lab] == int(n.split("_")[1]) for n, lab in zip(train.names, train.labels))
    raw, digits = raw_digits()
    counts = {d: int((digits == d).sum()) for d in (7, 0, 3)}
    assert len(train) + len(hold) == sum(counts.values())
    for k, d in digit_of.items():
        assert np.sum(np.array(hold.labels) == k) == round(0.25 * counts[d])
    img = hold.load(0)
    assert img.shape == (24, 24, 3) and img[0].min() == 255 and img.min() < 50  # black on white
    assert rec["metrics"]["classes"] == 3


def test_validation_split_is_disjoint_and_leaves_the_test_split_unchanged(tmp_path):
    result = run_recipe(
        recipe("size: 16, limit: 200, holdout: 0.2, validation: 0.25"),
        tmp_path / "v",
        load_installed=False,
    )
    train, val, test, hold = (
        result.images("d", o) for o in ("train", "validation", "test", "holdout")
    )
    assert (len(train), len(val), len(test)) == (110, 50, 40)
    assert result.record("d")["metrics"] == {
        "train": 110,
        "validation": 50,
        "test": 40,
        "classes": 10,
    }
    assert np.bincount(val.labels).tolist() == [5] * 10
    names = [set(s.names) for s in (train, val, test)]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert hold.names == test.names and np.array_equal(hold.load(0), test.load(0))
    assert val.meta["split"] == "validation" and test.meta["split"] == "test"
    # the test split is the one without validation: a choice on validation leaves it alone
    _, plain_hold, _ = run(tmp_path, "size: 16, limit: 200, holdout: 0.2", "p")
    assert plain_hold.names == test.names
    with pytest.raises(RecipeError, match="must leave digits to train on"):
        run_recipe(recipe("holdout: 0.5, validation: 0.5"), tmp_path / "bad", load_installed=False)


def test_split_is_deterministic_by_seed(tmp_path):
    a = run(tmp_path, "size: 16, limit: 60", "a", seed=5)
    b = run(tmp_path, "size: 16, limit: 60", "b", seed=5)
    c = run(tmp_path, "size: 16, limit: 60", "c", seed=6)
    assert a[0].names == b[0].names and a[1].names == b[1].names
    assert np.array_equal(a[0].load(3), b[0].load(3))
    assert a[1].names != c[1].names
    # split_seed fixes the split whatever the step id and recipe seed
    d = run(tmp_path, "size: 16, limit: 60, split_seed: 9", "d", seed=5)
    e = run(tmp_path, "size: 16, limit: 60, split_seed: 9", "e", seed=6, step_id="other")
    assert d[1].names == e[1].names and e[2]["info"]["split_seed"] == 9


def test_full_set_default_split():
    raw, digits = raw_digits()
    assert raw.shape == (1797, 8, 8) and raw.max() == 16 and sorted(set(digits)) == list(range(10))
    tr, ho = select(digits, list(range(10)), 0.2, seed=0)
    assert len(tr) + len(ho) == 1797 and not set(tr) & set(ho)
    assert list(tr) == sorted(tr) and list(ho) == sorted(ho)
    for d in range(10):
        n = int((digits == d).sum())
        assert int((digits[ho] == d).sum()) == round(0.2 * n)
    again = select(digits, list(range(10)), 0.2, seed=0)
    assert np.array_equal(again[0], tr) and np.array_equal(again[1], ho)
    # a digit's split does not depend on which other digits are chosen
    only3 = select(digits, [3], 0.2, seed=0)[1]
    assert np.array_equal(only3, ho[digits[ho] == 3])
    none_held = select(digits, [1, 2], 0.0, seed=0)
    assert len(none_held[1]) == 0 and len(none_held[0]) == int(np.isin(digits, [1, 2]).sum())
    tr3, ho3, va3 = select(digits, list(range(10)), 0.2, seed=0, validation=0.2)
    assert np.array_equal(ho3, ho) and len(tr3) + len(va3) == len(tr) and set(va3) <= set(tr)
    tiny = select(digits, [4, 5], 0.2, seed=0, limit=3)  # 2 + 1: every class keeps a training image
    assert len(tiny[0]) + len(tiny[1]) == 3 and set(digits[tiny[0]]) == {4, 5}


def test_rendering_keeps_the_digit_and_smooths_it():
    raw, _ = raw_digits()
    sharp = render_digits(raw[:50], 40, blur=0.0)[..., 0].astype(np.float64)
    smooth = render_digits(raw[:50], 40)[..., 0].astype(np.float64)
    # averaging back to the 10x10 padded grid gives the source digit (0..16 -> 0..255)
    src = np.pad(raw[:50] * 255 / 16, ((0, 0), (1, 1), (1, 1)))
    back = sharp.reshape(50, 10, 4, 10, 4).mean(axis=(2, 4))
    assert np.abs(back - src).mean() < 12 and np.corrcoef(back.ravel(), src.ravel())[0, 1] > 0.97
    assert np.corrcoef(smooth.ravel(), sharp.ravel())[0, 1] > 0.97

    def roughness(x):  # mean squared second difference: blockiness
        return np.mean(np.diff(x, 2, axis=1) ** 2) + np.mean(np.diff(x, 2, axis=2) ** 2)

    assert roughness(smooth) < 0.6 * roughness(sharp)
    assert np.abs(smooth.mean() - sharp.mean()) < 2  # blurring keeps the ink
    for size in (16, 128):
        out = render_digits(raw[:2], size, pad=0)
        assert out.shape == (2, size, size, 3) and out.dtype == np.uint8


@pytest.mark.parametrize(
    "params, message",
    [
        ("size: 15", "size"),
        ("size: 129", "size"),
        ("classes: [1, 10]", "digits 0 to 9"),
        ("classes: [1, 1]", "repeat"),
        ("classes: []", "classes"),
        ("classes: [1, 2, 3], limit: 2", "at least the number of classes"),
        ("holdout: 1.0", "holdout"),
        ("sizee: 32", "unknown key"),
    ],
)
def test_bad_parameters_are_recipe_errors(tmp_path, params, message):
    with pytest.raises(RecipeError, match=message):
        run_recipe(recipe(params), tmp_path, load_installed=False)
