"""Scores of a DCGAN's samples against real labelled images, beside the same scores for
held-out real images and for a degenerate generator (each class's mean image): the
``sample`` step's ``reference`` and ``train-gan``'s ``eval_data`` curves (numpy, Pillow,
scikit-learn to fit the classifier).

The real set is split into two class-stratified halves. A :class:`artforge.quality.
FeatureClassifier` is fitted on the first, which is also the Frechet reference and the real
manifold of :mod:`artforge.manifold`; the second, never seen by the classifier, plays the
samples' part in the ``real_*`` baseline. The real set must be disjoint from the GAN's
training images (the digits step's ``validation`` or ``test``): a classifier that saw the
training digits rewards memorising them. With the GAN's training images (``train``), the
samples' distance to them is read against the held-out half's (``novelty``, ``copies``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import manifold
from .errors import StepError
from .sampling import balanced_labels, fit_images, gaussian
from .seeding import derive_seed

EVAL_SERIES = ("frechet", "class_accuracy", "coverage_entropy", "recall", "precision")


def labelled_images(
    ctx: Any, ref: str, what: str, size: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A labelled real image set as (images (N, size, size, 3), labels, class names)."""
    src = ctx.images(ref)
    if not src.labels or len(src) < 4:
        raise StepError(
            f"step '{ctx.step_id}': {what} {ref} must be labelled real images (at least four)",
            hint="e.g. the digits step's validation or test set",
        )
    return (
        fit_images(src.load_all(), size),
        np.asarray(src.labels, np.int64),
        list(src.meta.get("classes", [])),
    )


def split_half(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of two halves of a labelled set, stratified by class, deterministic by seed."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        h = (len(idx) + 1) // 2
        a.extend(idx[:h])
        b.extend(idx[h:])
    return np.sort(np.asarray(a, np.int64)), np.sort(np.asarray(b, np.int64))


def _plain(scores: dict[str, Any]) -> dict[str, float]:
    """Rounded finite floats, with sample_scores' ``accuracy`` named ``class_accuracy``."""
    out = {}
    for k, v in scores.items():
        if isinstance(v, (int, float, np.floating)) and np.isfinite(v):
            out["class_accuracy" if k == "accuracy" else k] = round(float(v), 4) + 0.0  # no -0.0
    return out


def check_classes(ctx: Any, model_classes: list[str], real_classes: list[str], what: str) -> None:
    if model_classes and real_classes and list(model_classes) != list(real_classes):
        raise StepError(
            f"step '{ctx.step_id}': {what}'s classes {real_classes} differ from the model's "
            f"{model_classes}",
            hint="score with real images of the same classes",
        )


def even_subset(n: int, m: int) -> np.ndarray:
    """``m`` evenly spaced indices of ``n`` (all of them when m >= n): a balanced subset of
    samples grouped by class."""
    if m >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, m).round().astype(np.int64)


@dataclass
class RealScorer:
    """Scores of samples against real labelled images (see the module docstring): the
    classifier and Frechet reference are the first half (``reference``), the baseline the
    second (``held``); ``train`` (optional) the GAN's training images."""

    clf: Any
    reference: np.ndarray
    ref_labels: np.ndarray
    held: np.ndarray
    held_labels: np.ndarray
    seed: int
    train: np.ndarray | None = None
    train_labels: np.ndarray | None = None
    _feats: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _baseline: dict[tuple[int, bool], dict[str, float]] = field(default_factory=dict, repr=False)

    @classmethod
    def fit(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        seed: int,
        train: np.ndarray | None = None,
        train_labels: np.ndarray | None = None,
    ) -> RealScorer:
        from . import quality

        ia, ib = split_half(labels, derive_seed(seed, "split"))
        clf = quality.FeatureClassifier.fit(
            images[ia], labels[ia], seed=derive_seed(seed, "classifier") % (2**32)
        )
        return cls(clf, images[ia], labels[ia], images[ib], labels[ib], seed, train, train_labels)

    def feats(self, name: str) -> np.ndarray:
        """Features of ``reference``, ``held`` or ``train``, computed once."""
        if name not in self._feats:
            self._feats[name] = self.clf.features(getattr(self, name))
        return self._feats[name]

    def describe(self, what: str) -> str:
        return (
            f"classifier fitted on half of {what} ({len(self.reference)} images, class-stratified; "
            f"training accuracy {self.clf.info.get('train_accuracy', float('nan')):.3f}), which is "
            f"also the Frechet reference and the real manifold; real_*: the other "
            f"{len(self.held)} real images scored the same way; precision, recall, density, "
            f"coverage, diversity and frechet_ratio at {len(self.held)} samples (evenly spaced) "
            "against as many real ones"
            + (
                f"; novelty and copies: nearest-neighbour distances to the {len(self.train)} "
                "training images against the held-out half's"
                if self.train is not None
                else ""
            )
        )

    def _raw(
        self, images: np.ndarray, requested: np.ndarray | None, baseline: dict[str, float] | None
    ) -> dict[str, float]:
        from . import quality

        # one BLAS thread: these matrices are small, and threads fight on a busy machine
        with quality._one_thread():
            return self._raw_scores(images, requested, baseline)

    def _raw_scores(
        self, images: np.ndarray, requested: np.ndarray | None, baseline: dict[str, float] | None
    ) -> dict[str, float]:
        from . import quality

        feats, logits = self.clf._forward(images)
        s = quality.scores_of_features(self.clf, feats, logits, requested, self.feats("reference"))
        m = min(len(images), len(self.held))
        if m < 2 or len(self.reference) < 2:
            return s
        idx = even_subset(len(images), m)
        if requested is not None:
            groups = np.asarray(requested).reshape(-1)
        else:
            groups = self.clf.classes[np.argmax(logits, axis=1)]
        s.update(
            manifold.manifold_scores(
                feats[idx], groups[idx], self.feats("reference"), self.ref_labels
            )
        )
        frechet_m = (
            s["frechet"]
            if m == len(images)
            else quality.frechet_distance(feats[idx], self.feats("reference"))
        )
        real_frechet = (baseline or {}).get("frechet", frechet_m)
        if real_frechet > 0:
            s["frechet_ratio"] = frechet_m / real_frechet
        if self.train is not None and len(self.held) >= 2:
            s["novelty"], s["copies"] = manifold.novelty(
                feats, self.feats("held"), self.feats("train")
            )
        return s

    def baseline_raw(self, n: int, conditional: bool) -> dict[str, float]:
        """The scores of the held-out real images, at ``n`` of them at most."""
        key = (n, conditional)
        if key not in self._baseline:
            m = min(n, len(self.held))
            idx = np.sort(
                np.random.default_rng(derive_seed(self.seed, "baseline") % (2**32)).choice(
                    len(self.held), size=m, replace=False
                )
            )
            self._baseline[key] = self._raw(
                self.held[idx], self.held_labels[idx] if conditional else None, None
            )
        return self._baseline[key]

    def scores(self, images: np.ndarray, requested: np.ndarray | None) -> dict[str, float]:
        """The samples' scores (rounded), ``frechet_ratio`` against the real baseline."""
        base = self.baseline_raw(len(images), requested is not None)
        return _plain(self._raw(images, requested, base))

    def baseline(self, n: int, conditional: bool) -> dict[str, float]:
        """``real_*``: the same scores for the held-out real images."""
        return {f"real_{k}": v for k, v in _plain(self.baseline_raw(n, conditional)).items()}

    def class_means(self, labels: np.ndarray) -> np.ndarray:
        """The degenerate generator: for each label, the mean image of its class (of the
        training images when known, else of the reference half)."""
        src, src_labels = self.reference, self.ref_labels
        if self.train is not None and self.train_labels is not None:
            src, src_labels = self.train, self.train_labels
        means = {
            int(c): np.rint(src[src_labels == c].astype(np.float64).mean(axis=0)).astype(np.uint8)
            for c in np.unique(src_labels)
        }
        return np.stack([means[int(c)] for c in labels])

    def means_baseline(self, labels: np.ndarray) -> dict[str, float]:
        """``means_*``: the scores of class-mean images drawn for ``labels``, and
        ``means_flags``, how many :func:`artforge.manifold.flags` they raise."""
        s = self.scores(self.class_means(labels), labels)
        found = manifold.flags({**s, **self.baseline(len(labels), True)})
        return {**{f"means_{k}": v for k, v in s.items()}, "means_flags": len(found)}


def flag_scores(ctx: Any, scores: dict[str, float], what: str) -> list[str]:
    """:func:`artforge.manifold.flags` of ``scores`` (with their ``real_*``): into
    ``info.flags``, ``metrics.flags`` (their count) and one warning each."""
    found = manifold.flags(scores)
    ctx.metrics["flags"] = len(found)
    if found:
        ctx.info["flags"] = found
        for f in found:
            ctx.warn(f"{what}: {f}")
    return found


@dataclass
class TrainingEval:
    """Scores of a DCGAN's samples during training (``eval_data``): a :class:`RealScorer`
    fitted once, fixed noise (and balanced labels for cdcgan); :meth:`score` gives the
    series ``EVAL_SERIES``."""

    scorer: RealScorer
    z: np.ndarray
    labels: np.ndarray
    conditional: bool
    last: dict[str, float] | None = None

    @classmethod
    def from_params(cls, ctx: Any, p: Any, n_classes: int, classes: list[str]) -> TrainingEval:
        images, labels, eval_classes = labelled_images(ctx, p.eval_data, "eval_data", p.image_size)
        if n_classes:
            check_classes(ctx, classes, eval_classes, "eval_data")
        train = train_labels = None
        if p.data:
            if p.eval_data == p.data:
                ctx.warn(
                    "eval_data is the training data: the quality classifier sees the digits "
                    "the GAN learns, which rewards memorising them; give a disjoint split "
                    "(the digits step's validation)"
                )
            else:
                src = ctx.images(p.data)
                train = fit_images(src.load_all(), p.image_size)
                train_labels = np.asarray(src.labels, np.int64) if src.labels else None
        scorer = RealScorer.fit(images, labels, derive_seed(ctx.seed, "eval"), train, train_labels)
        n = p.eval_samples
        z = gaussian(derive_seed(ctx.seed, "eval-z"), n, p.nz)
        lab = balanced_labels(list(range(n_classes)), n) if n_classes else np.zeros(n, np.int64)
        ctx.info["sample_quality"] = (
            f"each sampled epoch: {n} samples from fixed noise"
            + (" (balanced classes)" if n_classes else "")
            + "; "
            + scorer.describe(p.eval_data)
        )
        series_x = ctx.info.get("series_x") if isinstance(ctx.info.get("series_x"), dict) else {}
        ctx.info["series_x"] = {**series_x, **{k: "epoch" for k in EVAL_SERIES}}
        return cls(scorer, z, lab, bool(n_classes))

    def score(self, images: np.ndarray) -> dict[str, float]:
        """The curves' values for one sampled epoch."""
        s = self.scorer.scores(images, self.labels if self.conditional else None)
        self.last = s
        return {k: s[k] for k in EVAL_SERIES if k in s}

    def finish(self, ctx: Any, series: dict[str, list[list[float]]]) -> None:
        """Metrics beside the curves' final values (``final_frechet``, ...): the first and
        best Frechet distance, the last epoch's other scores, the real-image baseline, and
        the flags of the last epoch's samples."""
        pts = series.get("frechet") or []
        if pts:
            ctx.metrics["first_frechet"] = round(pts[0][1], 4)
            ctx.metrics["best_frechet"] = round(min(y for _, y in pts), 4)
        last = self.last or {}
        for k, v in last.items():
            if k not in EVAL_SERIES:
                ctx.metrics[f"final_{k}"] = v
        base = self.scorer.baseline(len(self.z), self.conditional)
        ctx.metrics.update(base)
        if last:
            flag_scores(ctx, {**last, **base}, "the last epoch's samples")


# -- the sample step's scores -----------------------------------------------------------------
def outputs_scores(
    ctx: Any,
    p: Any,
    images: np.ndarray,
    labels: np.ndarray | None,
    size: int,
    names: list[str],
    n_classes: int,
    fid: Any,
) -> None:
    """Metrics of the samples against ``reference`` beside the real-image baseline and the
    class-means baseline (:class:`RealScorer`); with ``train``, novelty against the training
    images; with ``fid``, the standard FID against the whole reference."""
    real, real_labels, real_classes = labelled_images(ctx, p.reference, "reference", size)
    if n_classes:
        check_classes(ctx, names, real_classes, "reference")
    train = train_labels = None
    if getattr(p, "train", None):
        train, train_labels, _ = labelled_images(ctx, p.train, "train", size)
    scorer = RealScorer.fit(
        real, real_labels, derive_seed(ctx.seed, "reference"), train, train_labels
    )
    scores = scorer.scores(images, labels)
    base = scorer.baseline(len(images), labels is not None)
    ctx.metrics.update(scores)
    ctx.metrics.update(base)
    if labels is not None:
        ctx.metrics.update(scorer.means_baseline(labels))
    m = min(len(images), len(scorer.held))
    if m < len(images):  # the Frechet distance at the baseline's count (evenly spaced: balanced)
        from .quality import frechet_distance

        feats = scorer.clf.features(images[even_subset(len(images), m)])
        ctx.metrics[f"frechet_at_{m}"] = round(
            frechet_distance(feats, scorer.feats("reference")), 4
        )
    ctx.info["scores"] = scorer.describe(p.reference)
    flag_scores(ctx, {**scores, **base}, "samples")
    if fid is not None:
        ctx.metrics["fid"] = round(float(fid(images, real)), 4)
        ctx.info["fid"] = (
            f"Inception FID of the {len(images)} samples against the {len(real)} images of "
            f"{p.reference}"
        )
