"""Score fake digit generators with the sample step's metrics (the README's table).

    python docs/examples/digits_fake_generators.py

The split of recipes/digits_dcgan.yaml (seed 0: 1079 train, 359 validation, 359 test digits
at 32 px); the scorer's reference is the test split, its novelty yardstick the training
digits. Each fake draws 500 images (50 per digit) unless it is the validation split itself.
"""

from __future__ import annotations

import numpy as np

from artforge import manifold
from artforge.sample_scores import RealScorer
from artforge.steps.digits import raw_digits, render_digits, select

KEYS = ("class_accuracy", "frechet_ratio", "precision", "recall", "coverage", "diversity")
KEYS += ("novelty", "copies")


def main() -> None:
    raw, y = raw_digits()
    images = render_digits(raw, 32)
    tr, te, va = select(y, list(range(10)), 0.2, seed=0, validation=0.2)
    x, xl = images[tr], y[tr]
    scorer = RealScorer.fit(images[te], y[te], seed=0, train=x, train_labels=xl)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 50)
    protos = [x[xl == c][:3] for c in range(10)]
    idx = rng.choice(len(x), 500, replace=False)
    noisy = np.clip(x[idx].astype(np.float64) + rng.normal(0, 8, x[idx].shape), 0, 255)
    fakes = {
        "real validation digits": (images[va], y[va]),
        "class means": (scorer.class_means(labels), labels),
        "3 training digits per class": (
            np.stack([protos[c][i % 3] for i, c in enumerate(labels)]),
            labels,
        ),
        "copies of training digits": (x[idx], xl[idx]),
        "the same with pixel noise (sigma 8)": (noisy.astype(np.uint8), xl[idx]),
    }
    print("| fake generator | " + " | ".join(KEYS) + " | flagged by |")
    for name, (imgs, lab) in fakes.items():
        s = {**scorer.scores(imgs, lab), **scorer.baseline(len(imgs), True)}
        flagged = [f.split()[0] for f in manifold.flags(s)]
        row = " | ".join(f"{s[k]:.2f}" for k in KEYS)
        print(f"| {name} | {row} | {', '.join(flagged) or 'nothing'} |")


if __name__ == "__main__":
    main()
