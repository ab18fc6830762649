"""Sample metrics that catch collapse and memorisation (artforge.manifold, artforge.sample_scores):
fake generators (class means, a few prototypes per class, copies of training digits) are
flagged by at least one reported metric, real held-out digits are not."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from artforge import manifold  # noqa: E402
from artforge.sample_scores import RealScorer  # noqa: E402
from artforge.steps.digits import raw_digits, render_digits, select  # noqa: E402

N = 240  # samples per fake generator (24 per digit)


@pytest.fixture(scope="module")
def split():
    """1200 digits at 16 px split 60/20/20 as the recipe does: {name: (images, labels)}."""
    raw, y = raw_digits()
    tr, te, va = select(y, list(range(10)), 0.2, seed=0, limit=1200, validation=0.2)
    return {
        name: (render_digits(raw[i], 16), y[i])
        for name, i in zip(("train", "test", "val"), (tr, te, va))
    }


@pytest.fixture(scope="module")
def scorer(split):
    return RealScorer.fit(
        *split["test"], seed=0, train=split["train"][0], train_labels=split["train"][1]
    )


def fake(split, scorer, kind):
    """(images, requested labels) of a fake generator, N of them, balanced."""
    labels = np.repeat(np.arange(10), N // 10)
    x, y = split["train"]
    rng = np.random.default_rng(1)
    if kind == "real held-out":  # validation digits: never trained on, never seen by the scorer
        return split["val"]
    if kind == "class means":
        return scorer.class_means(labels), labels
    if kind == "three prototypes per class":
        protos = [x[y == c][:3] for c in range(10)]
        return np.stack([protos[c][i % 3] for i, c in enumerate(labels)]), labels
    if kind == "copies of training digits":
        idx = rng.choice(len(x), N, replace=False)
        return x[idx], y[idx]
    if kind == "jittered copies":  # copies with pixel noise: no longer exact, still memorised
        idx = rng.choice(len(x), N, replace=False)
        noisy = x[idx].astype(np.float64) + rng.normal(0, 8, x[idx].shape)
        return np.clip(noisy, 0, 255).astype(np.uint8), y[idx]
    raise AssertionError(kind)


def scores_of(split, scorer, kind):
    images, labels = fake(split, scorer, kind)
    return {**scorer.scores(images, labels), **scorer.baseline(len(images), True)}


def test_real_held_out_digits_are_not_flagged(split, scorer):
    s = scores_of(split, scorer, "real held-out")
    assert manifold.flags(s) == []
    # every score sits near the real baseline's
    assert 0.5 < s["frechet_ratio"] < 2
    for k in ("precision", "recall", "coverage"):
        assert abs(s[k] - s[f"real_{k}"]) < 0.15, k
    assert 0.8 < s["diversity"] < 1.3 and 0.8 < s["novelty"] < 1.25 and s["copies"] < 0.15
    assert s["real_novelty"] == 1.0 and s["real_frechet_ratio"] == 1.0


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("class means", {"recall", "diversity"}),
        ("three prototypes per class", {"recall", "novelty", "copies"}),
        ("copies of training digits", {"novelty", "copies"}),
        ("jittered copies", {"copies"}),
    ],
)
def test_fake_generators_are_flagged(split, scorer, kind, expected):
    s = scores_of(split, scorer, kind)
    found = {f.split()[0] for f in manifold.flags(s)}
    assert expected <= found, (kind, found, s)
    # class accuracy and coverage entropy cannot see any of them
    assert s["class_accuracy"] >= 0.8 and s["coverage_entropy"] > 0.9


def test_the_class_means_lose_on_frechet_ratio_and_are_recognisable(split, scorer):
    s = scores_of(split, scorer, "class means")
    assert s["class_accuracy"] == 1.0 and s["recall"] == 0.0 and s["diversity"] == 0.0
    assert s["frechet_ratio"] > 1.5 and s["precision"] > 0.9  # fidelity alone looks perfect


def test_precision_recall_density_coverage_on_gaussians():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 4))
    same = rng.standard_normal((200, 4))
    p, r = manifold.precision_recall(real, same)
    d, c = manifold.density_coverage(real, same)
    assert p > 0.8 and r > 0.8 and 0.7 < d < 1.3 and c > 0.8
    point = np.zeros((200, 4))  # collapse onto the mode: perfect fidelity, no variety
    p, r = manifold.precision_recall(real, point)
    d, c = manifold.density_coverage(real, point)
    assert p == 1.0 and r < 0.05 and c < 0.1 and d > 1
    far = same + 10  # off the real manifold
    assert manifold.precision_recall(real, far) == (0.0, 0.0)
    assert manifold.density_coverage(real, far) == (0.0, 0.0)
    assert manifold.knn_radii(np.array([[0.0], [1.0], [3.0]]), 1).tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="two points"):
        manifold.knn_radii(np.zeros((1, 3)), 3)


def test_diversity_and_novelty_by_hand():
    feats = np.array([[0.0, 0], [2, 0], [0, 0], [0, 4]])
    labels = np.array([0, 0, 1, 1])
    assert manifold.class_spread(feats, labels) == {0: 2.0, 1: 4.0}
    assert manifold.diversity(feats / 2, labels, feats, labels) == pytest.approx(0.5)
    train = np.array([[0.0], [10.0]])
    held = np.array([[1.0], [2.0], [9.0], [12.0]])  # nearest: 1, 2, 1, 2 -> median 1.5
    ratio, copies = manifold.novelty(np.array([[0.0], [10.0], [3.0]]), held, train)
    assert ratio == pytest.approx(0.0) and copies == pytest.approx(2 / 3)


def test_flags_need_the_baseline_and_name_the_metric():
    assert manifold.flags({}) == []
    assert manifold.flags({"recall": 0.1}) == []  # no real_recall: nothing to read it against
    out = manifold.flags({"recall": 0.1, "real_recall": 0.9, "diversity": float("nan")})
    assert len(out) == 1 and out[0].startswith("recall 0.100 < 0.5 x real 0.900")
