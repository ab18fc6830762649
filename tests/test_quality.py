"""Offline sample quality (artforge.quality): the digit classifier, its feature space, the
Frechet distance, coverage entropy, the classifier score and the real-data baseline."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest

pytest.importorskip("sklearn")

from artforge.errors import DataError  # noqa: E402
from artforge.quality import (  # noqa: E402
    FeatureClassifier,
    _trace_sqrt_symmetric,
    classifier_score,
    coverage_entropy,
    frechet_distance,
    image_vectors,
    real_baseline,
    sample_scores,
)
from artforge.steps.digits import raw_digits, render_digits, select  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    """All 1797 digits at 32 px, split 80/20 by class: (train x, train y, holdout x, holdout y)."""
    raw, y = raw_digits()
    images = render_digits(raw, 32)
    tr, ho = select(y, list(range(10)), 0.2, seed=0)
    return images[tr], y[tr], images[ho], y[ho]


@pytest.fixture(scope="module")
def clf(digits):
    x, y, _, _ = digits
    t = time.perf_counter()
    model = FeatureClassifier.fit(x, y, seed=0)
    model.info["measured_fit_seconds"] = time.perf_counter() - t
    return model


def test_classifier_is_accurate_on_held_out_digits(clf, digits):
    _, _, hx, hy = digits
    acc = clf.accuracy(hx, hy)
    fit_s = clf.info["measured_fit_seconds"]
    print(f"held-out accuracy {acc:.4f} on {len(hy)} digits, fit {fit_s:.2f} s")
    assert acc >= 0.95
    assert clf.n_classes == 10 and list(clf.classes) == list(range(10))
    assert clf.info["train_accuracy"] >= acc - 0.05 and clf.info["n_train"] == len(digits[1])
    assert clf.info["measured_fit_seconds"] < 60  # about 1-5 s on the shared CPU
    probs = clf.predict_proba(hx)
    assert probs.shape == (len(hx), 10) and np.allclose(probs.sum(1), 1) and (probs >= 0).all()
    assert np.array_equal(clf.predict(hx), clf.classes[probs.argmax(1)])
    f = clf.features(hx)
    assert f.shape == (len(hx), clf.n_features) == (len(hx), 64) and f.dtype == np.float64
    assert (f >= 0).all() and f.std(0).max() > 0  # ReLU activations that vary


def test_fit_is_deterministic_by_seed(digits):
    x, y = digits[0][:300], digits[1][:300]
    a = FeatureClassifier.fit(x, y, seed=3, max_iter=40)
    b = FeatureClassifier.fit(x, y, seed=3, max_iter=40)
    c = FeatureClassifier.fit(x, y, seed=4, max_iter=40)
    assert all(np.array_equal(u, v) for u, v in zip(a.weights + a.biases, b.weights + b.biases))
    assert np.array_equal(a.features(x[:20]), b.features(x[:20]))
    assert not np.allclose(a.weights[0], c.weights[0])


def test_inputs_accept_gray_rgb_float_lists_and_any_size(clf, digits):
    hx = digits[2][:12]
    gray = hx[..., 0]
    assert np.allclose(image_vectors(gray), image_vectors(hx), atol=1e-6)
    assert np.allclose(clf.features(hx.astype(np.float32) / 255), clf.features(hx), atol=1e-4)
    mixed = [hx[0], np.repeat(np.repeat(hx[1], 2, 0), 2, 1), hx[2][..., :1]]  # 32, 64 px, 1 channel
    v = image_vectors(mixed)
    assert v.shape == (3, 256) and np.allclose(v[1], image_vectors(hx[1:2])[0], atol=1e-6)
    assert np.allclose(v[2], image_vectors(hx[2:3])[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf.features(hx.astype(np.float32))  # 0..255 floats are refused, not misread
    with pytest.raises(TypeError, match="uint8"):
        clf.features(hx.astype(np.int32))


def test_binary_classifier(digits):
    x, y, hx, hy = digits
    two = np.isin(y, [0, 1])
    model = FeatureClassifier.fit(x[two], y[two], seed=0)
    hold = np.isin(hy, [0, 1])
    p = model.predict_proba(hx[hold])
    assert model.n_classes == 2 and p.shape == (hold.sum(), 2) and np.allclose(p.sum(1), 1)
    assert model.accuracy(hx[hold], hy[hold]) >= 0.95


# -- Frechet distance ------------------------------------------------------------------------------
def test_frechet_of_identical_sets_is_zero():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 16)) @ rng.standard_normal((16, 16))  # correlated, n > d
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    small = rng.standard_normal((20, 64))  # n < d: singular covariances
    assert frechet_distance(small, small) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(a, a + 3.0) == pytest.approx(16 * 9.0, rel=1e-9)  # pure mean shift


def test_frechet_matches_the_gaussian_closed_form():
    """N(0, I) vs N(m, 4 I): ||m||^2 + d (1 + 4 - 2 * 2) = ||m||^2 + d."""
    rng = np.random.default_rng(1)
    d, n = 8, 20000
    m = np.full(d, 0.5)
    a = rng.standard_normal((n, d))
    b = m + 2.0 * rng.standard_normal((n, d))
    assert frechet_distance(a, b) == pytest.approx(d * 0.25 + d, rel=0.02)


def test_the_three_ways_to_the_trace_agree():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((60, 40)) @ rng.standard_normal((40, 40))
    b = rng.standard_normal((50, 40)) * 2 + 1

    def exact(x, y):
        sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        mean = float(np.sum((x.mean(0) - y.mean(0)) ** 2))
        return mean + np.trace(sx) + np.trace(sy) - 2 * _trace_sqrt_symmetric(sx, sy)

    assert frechet_distance(a, b) == pytest.approx(exact(a, b), rel=1e-6)  # sqrtm (n > d)
    assert frechet_distance(a[:30], b[:30]) == pytest.approx(exact(a[:30], b[:30]), rel=1e-6)
    with pytest.raises(ValueError, match="two samples"):
        frechet_distance(a[:1], b)
    with pytest.raises(ValueError, match="same d"):
        frechet_distance(a, b[:, :5])


def test_frechet_grows_with_noise_and_shift(clf, digits):
    _, _, hx, _ = digits
    rng = np.random.default_rng(0)
    ref = clf.features(hx[: len(hx) // 2])
    same = hx[len(hx) // 2 :]
    noisy = [
        clf.features(np.clip(same + rng.normal(0, s, same.shape), 0, 255).astype(np.uint8))
        for s in (0, 20, 40, 80, 160)
    ]
    fd = [frechet_distance(f, ref) for f in noisy]
    assert all(x < y for x, y in zip(fd, fd[1:])), fd
    assert fd[-1] > 10 * fd[0]
    shifted = [clf.features(np.roll(same, k, axis=2)) for k in (0, 1, 2, 4)]
    fs = [frechet_distance(f, ref) for f in shifted]
    assert all(x < y for x, y in zip(fs, fs[1:])), fs


# -- coverage, classifier score, sample scores -----------------------------------------------------
def test_coverage_entropy():
    assert coverage_entropy(np.repeat(np.arange(10), 7), 10) == pytest.approx(1.0)
    assert coverage_entropy(np.full(50, 3), 10) == 0.0
    assert 0 < coverage_entropy(np.array([0] * 45 + [1] * 5), 10) < 0.2
    assert coverage_entropy(np.array([0, 1]), 4) == pytest.approx(0.5)


def test_classifier_score():
    k = 5
    assert classifier_score(np.eye(k)[np.arange(50) % k]) == pytest.approx(k)
    assert classifier_score(np.full((30, k), 1 / k)) == pytest.approx(1.0)
    assert classifier_score(np.eye(k)[np.zeros(30, int)]) == pytest.approx(1.0)  # collapse


def test_sample_scores_on_real_and_collapsed_sets(clf, digits):
    _, _, hx, hy = digits
    half = len(hx) // 2
    real = sample_scores(clf, hx[:half], requested=hy[:half], reference=hx[half:])
    assert list(real) == [
        "confidence",
        "accuracy",
        "coverage_entropy",
        "frechet",
        "classifier_score",
    ]
    assert all(isinstance(v, float) for v in real.values())
    assert real["accuracy"] >= 0.95 and real["confidence"] > 0.9
    assert real["coverage_entropy"] > 0.98 and real["classifier_score"] > 8
    threes = hx[hy == 3]
    collapsed = sample_scores(
        clf, threes, requested=np.arange(len(threes)) % 10, reference=hx[half:]
    )
    assert collapsed["coverage_entropy"] < 0.2 and collapsed["classifier_score"] < 1.5
    assert collapsed["accuracy"] < 0.2 and collapsed["frechet"] > 3 * real["frechet"]
    noise = np.random.default_rng(0).integers(0, 256, (half, 32, 32, 3), dtype=np.uint8)
    assert sample_scores(clf, noise, reference=hx[half:])["frechet"] > 10 * real["frechet"]
    plain = sample_scores(clf, hx[:10])
    assert set(plain) == {"confidence", "coverage_entropy", "classifier_score"}
    with pytest.raises(ValueError, match="requested"):
        sample_scores(clf, hx[:10], requested=hy[:3])


def test_real_baseline(clf, digits):
    x, y, hx, hy = digits
    base = real_baseline(clf, hx, x, hy)
    assert base == sample_scores(clf, hx, hy, reference=x)
    small = real_baseline(clf, hx, x, hy, n=100, seed=1)
    assert small["accuracy"] >= 0.9 and small["frechet"] > base["frechet"]  # fewer samples: bias
    assert small == real_baseline(clf, hx, x, hy, n=100, seed=1)
    assert small != real_baseline(clf, hx, x, hy, n=100, seed=2)


# -- files -----------------------------------------------------------------------------------------
def test_save_and_load(clf, digits, tmp_path):
    hx = digits[2][:50]
    path = tmp_path / "clf.npz"
    clf.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["clf.npz"]  # atomic: no temporary left
    with zipfile.ZipFile(path) as z:
        assert "header.npy" in z.namelist() and "w0.npy" in z.namelist()
    with np.load(path, allow_pickle=False) as data:  # no pickled objects inside
        assert data["w0"].shape == (256, 128)
    back = FeatureClassifier.load(path)
    assert np.array_equal(back.predict_proba(hx), clf.predict_proba(hx))
    assert np.array_equal(back.features(hx), clf.features(hx))
    assert back.info["seed"] == 0 and list(back.classes) == list(clf.classes)


def test_load_refuses_other_files_by_name(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        FeatureClassifier.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.array('{"format": "something-else"}'))
    with pytest.raises(DataError, match=r"other\.npz is not an artforge quality classifier"):
        FeatureClassifier.load(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, header=np.array([{"format": 1}], dtype=object))
    with pytest.raises(DataError, match="pickled.npz"):
        FeatureClassifier.load(pickled)
    with pytest.raises(DataError, match="not found"):
        FeatureClassifier.load(tmp_path / "absent.npz")
