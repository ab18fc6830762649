"""Sample quality measured offline, without Inception weights (numpy, scipy, scikit-learn).

A :class:`FeatureClassifier` is trained in seconds on real labelled images (a small MLP on
16x16 grayscale copies, standardised); its last hidden layer defines the feature space in
which samples are compared with real images, the way FID uses Inception's pool3 features:

- ``confidence``: mean of the largest class probability (sharp, recognisable samples).
- ``accuracy``: fraction of samples classified as the class they were requested as
  (class-conditional generators).
- ``coverage_entropy``: entropy of the histogram of predicted classes over log K, in [0, 1]:
  1 when every class is produced equally often, 0 when all samples fall in one class
  (mode collapse).
- ``frechet``: the Frechet distance (Heusel et al. 2017) between the Gaussians fitted to the
  samples' and reference images' features: FID in this classifier's feature space.
- ``classifier_score``: ``exp(E_x KL(p(y|x) || p(y)))``, the Inception score (Salimans et al.
  2016) with this classifier; between 1 and K.

:func:`real_baseline` gives the same numbers for held-out real images: what a perfect
generator would get with the same classifier and sample count. The Frechet distance is
biased upwards for small sets, so compare samples and the real baseline at the same count.

With Inception weights on disk, ``artforge_torch.nets.inception`` computes the standard FID
with :func:`frechet_distance`.

The classifier is plain numpy once trained (scikit-learn is needed only by :meth:`fit`); it
is saved as an ``.npz`` of its weights plus a JSON header, never a pickle.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_open
from .errors import DataError

FORMAT = "artforge-feature-classifier"
FORMAT_VERSION = 1
INPUT_SIZE = 16  # images are compared as 16x16 grayscale
HIDDEN = (128, 64)  # hidden layers; the last one gives the features
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as the images step


# -- images -> classifier inputs -------------------------------------------------------------------
def _as_gray_float(img: np.ndarray) -> np.ndarray:
    """One image (HxW, HxWx1, HxWx3 or HxWx4; uint8, or float in [0, 1]) as float32 in [0, 1]."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        if a.size and (np.nanmax(a) > 1.5 or np.nanmin(a) < -0.5):
            raise ValueError(
                "float images must be in [0, 1] (got values in "
                f"[{float(np.nanmin(a)):.3g}, {float(np.nanmax(a)):.3g}]); pass uint8 images"
            )
        a = np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise TypeError(f"images must be uint8 (or float in [0, 1]), got {a.dtype}")
    if a.ndim == 3:
        if a.shape[2] == 1:
            a = a[..., 0]
        elif a.shape[2] in (3, 4):
            a = a[..., :3] @ GRAY_WEIGHTS.astype(np.float32)
        else:
            raise ValueError(f"an image has {a.shape[2]} channels; expected 1, 3 or 4")
    elif a.ndim != 2:
        raise ValueError(f"an image must be HxW or HxWxC, got shape {a.shape}")
    return a


def image_vectors(images: Any, size: int = INPUT_SIZE) -> np.ndarray:
    """Images as (N, size*size) float64 grayscale in [0, 1], area-resized to size x size.

    ``images``: a uint8 array (N, H, W, 3) or (N, H, W), a sequence of HxW(x3) arrays (sizes
    may differ), or an :class:`~artforge.artifacts.ImageSet`. Floats are taken to be in [0, 1].
    """
    from PIL import Image

    if hasattr(images, "load_all") and not isinstance(images, np.ndarray):
        images = images.load_all()
    seq: Sequence[np.ndarray] | np.ndarray = images
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(
                f"images must be an array (N, H, W) or (N, H, W, C), got shape {images.shape}"
            )
    elif not isinstance(images, Sequence):
        seq = list(images)
    out = np.empty((len(seq), size * size), np.float64)
    for i, img in enumerate(seq):
        g = _as_gray_float(img)
        if g.shape != (size, size):
            g = np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BOX))
        out[i] = g.reshape(-1)
    return out


def _one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


# -- the classifier --------------------------------------------------------------------------------
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class FeatureClassifier:
    """A classifier trained on real labelled images; its penultimate features define the
    feature space.

    A multi-layer perceptron (scikit-learn's ``MLPClassifier``, ReLU hidden layers
    ``HIDDEN``, Adam, L2 ``alpha``) on 16x16 grayscale copies of the images, each pixel
    standardised with the training set's mean and standard deviation. ``features`` are
    the activations of the last hidden layer (64 by default), ``predict_proba`` the output
    layer's softmax. ``classes`` holds the label values in the order of the probability
    columns (``n_classes`` of them).

    Once fitted it is plain numpy: inference, :meth:`save` and :meth:`load` do not need
    scikit-learn.
    """

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        mean: np.ndarray,
        scale: np.ndarray,
        classes: Sequence[int] | np.ndarray,
        *,
        input_size: int = INPUT_SIZE,
        info: dict[str, Any] | None = None,
    ):
        self.weights = [np.asarray(w, np.float64) for w in weights]
        self.biases = [np.asarray(b, np.float64) for b in biases]
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.classes = np.asarray(classes, np.int64)
        self.input_size = int(input_size)
        self.info: dict[str, Any] = dict(info or {})
        self._check()

    def _check(self) -> None:
        if len(self.weights) != len(self.biases) or len(self.weights) < 2:
            raise ValueError("need at least one hidden layer and an output layer")
        d = self.input_size**2
        if self.mean.shape != (d,) or self.scale.shape != (d,):
            raise ValueError(f"mean and scale must have {d} entries")
        for w, b in zip(self.weights, self.biases):
            if w.ndim != 2 or b.shape != (w.shape[1],) or w.shape[0] != d:
                raise ValueError(f"layer shapes do not chain: {w.shape} after {d} inputs")
            d = w.shape[1]
        k = len(self.classes)
        if k < 2 or d != (1 if k == 2 else k):
            raise ValueError(f"{k} classes need {1 if k == 2 else k} outputs, got {d}")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_features(self) -> int:
        return self.weights[-1].shape[0]

    # -- training ---------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        images: Any,
        labels: Any,
        seed: int = 0,
        *,
        hidden: Sequence[int] = HIDDEN,
        alpha: float = 1e-2,
        max_iter: int = 300,
    ) -> FeatureClassifier:
        """Train on real ``images`` (uint8 (N, H, W, 3) or (N, H, W), any size) with integer
        ``labels``; deterministic for a given ``seed``. About a second for 1400 digits."""
        try:
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.neural_network import MLPClassifier
        except ImportError:
            raise DataError(
                "training the quality classifier needs scikit-learn",
                hint='pip install "artforge[data]"',
            ) from None
        t0 = time.perf_counter()
        x = image_vectors(images)
        y = np.asarray(labels).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.mod(y, 1) == 0):
                raise ValueError("labels must be integers")
            y = y.astype(np.int64)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError("need images of at least two classes")
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        # pixels that hardly vary (the borders of digits) must not blow up stray values
        scale = np.maximum(std, 0.1 * float(std.max()) if std.max() > 0 else 1.0)
        z = (x - mean) / scale
        mlp = MLPClassifier(
            hidden_layer_sizes=tuple(int(h) for h in hidden),
            alpha=alpha,
            max_iter=max_iter,
            random_state=int(seed),
        )
        # one BLAS thread: as fast for these small matrices, no oversubscription on a busy
        # machine, and the same weights whatever the number of cores
        with warnings.catch_warnings(), _one_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(z, y)
        info = {
            "seed": int(seed),
            "n_train": len(y),
            "class_counts": [int(c) for c in counts],
            "train_accuracy": float(np.mean(mlp.predict(z) == y)),
            "iterations": int(mlp.n_iter_),
            "fit_seconds": round(time.perf_counter() - t0, 3),
        }
        return cls(mlp.coefs_, mlp.intercepts_, mean, scale, mlp.classes_, info=info)

    # -- inference --------------------------------------------------------------------------
    def _inputs(self, images: Any) -> np.ndarray:
        return (image_vectors(images, self.input_size) - self.mean) / self.scale

    def _forward(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        """(last hidden activations, output logits)."""
        h = self._inputs(images)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = np.maximum(h @ w + b, 0.0)
        return h, h @ self.weights[-1] + self.biases[-1]

    def features(self, images: Any) -> np.ndarray:
        """The last hidden layer's activations, (N, n_features) float64."""
        return self._forward(images)[0]

    def predict_proba(self, images: Any) -> np.ndarray:
        """Class probabilities (N, n_classes); column k is the label ``classes[k]``."""
        return self._proba(self._forward(images)[1])

    def _proba(self, logits: np.ndarray) -> np.ndarray:
        if self.n_classes == 2:  # scikit-learn's binary MLP has one logistic output
            p1 = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -500, 500)))
            return np.stack([1.0 - p1, p1], axis=1)
        return _softmax(logits)

    def predict(self, images: Any) -> np.ndarray:
        """The most probable label of each image (values of ``classes``)."""
        return self.classes[np.argmax(self.predict_proba(images), axis=1)]

    def accuracy(self, images: Any, labels: Any) -> float:
        """Fraction of ``images`` classified as ``labels``."""
        labels = np.asarray(labels).reshape(-1)
        pred = self.predict(images)
        if len(pred) != len(labels):
            raise ValueError(f"{len(pred)} images but {len(labels)} labels")
        return float(np.mean(pred == labels)) if len(pred) else float("nan")

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the weights as an ``.npz`` with a JSON header (no pickle), atomically."""
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "input_size": self.input_size,
            "layers": len(self.weights),
            "activation": "relu",
            "info": self.info,
        }
        arrays: dict[str, np.ndarray] = {
            "header": np.array(json.dumps(header)),
            "mean": self.mean,
            "scale": self.scale,
            "classes": self.classes,
        }
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureClassifier:
        """Read a file written by :meth:`save`; a :class:`DataError` naming the file if it
        is not one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise DataError(f"quality classifier not found: {path}") from None
        except Exception as exc:  # not a zip, truncated, pickled objects, ...
            raise DataError(
                f"cannot read the quality classifier {path}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            header = json.loads(str(arrays["header"]))
            if header.get("format") != FORMAT:
                raise ValueError(f"format is {header.get('format')!r}, not {FORMAT!r}")
            if int(header.get("version", 0)) > FORMAT_VERSION:
                raise ValueError(f"format version {header['version']} is newer than this artforge")
            n = int(header["layers"])
            missing = [
                k
                for k in ["mean", "scale", "classes"]
                + [f"{p}{i}" for i in range(n) for p in ("w", "b")]
                if k not in arrays
            ]
            if missing:
                raise ValueError(f"missing array {missing[0]!r}")
            return cls(
                [arrays[f"w{i}"] for i in range(n)],
                [arrays[f"b{i}"] for i in range(n)],
                arrays["mean"],
                arrays["scale"],
                arrays["classes"],
                input_size=int(header["input_size"]),
                info=header.get("info") or {},
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path} is not an artforge quality classifier: {exc}") from exc


# -- scores ----------------------------------------------------------------------------------------
def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, d) and (M, d):
    ``||mu_a - mu_b||^2 + Tr(Sa + Sb - 2 sqrt(Sa Sb))`` (Heusel et al. 2017).

    With more samples than dimensions in both sets, ``sqrt(Sa Sb)`` comes from
    ``scipy.linalg.sqrtm`` as in the reference FID code: if the product is singular, ``eps``
    is added to both diagonals; a negligible imaginary part is dropped (a significant one,
    from numerical trouble, falls back to the exact symmetric form
    ``Tr sqrt(Sa^1/2 Sb Sa^1/2)``). With fewer samples than dimensions the covariances are
    singular and sqrtm unreliable; then ``Tr sqrt(Sa Sb)`` is computed exactly as the sum of
    the singular values of ``Xa Xb^T / sqrt((N-1)(M-1))`` (X: centred features), which is
    also much faster for 2048-d Inception features. Never negative.
    """
    a = np.asarray(feats_a, np.float64)
    b = np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two (N, d) feature arrays of the same d, got {a.shape}, {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Frechet distance needs at least two samples in each set")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("features contain NaN or infinity")
    na, nb, d = len(a), len(b), a.shape[1]
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    diff = mu_a - mu_b
    xa, xb = a - mu_a, b - mu_b
    tr_a = float(np.sum(xa * xa)) / (na - 1)
    tr_b = float(np.sum(xb * xb)) / (nb - 1)
    if min(na, nb) <= d:
        sv = np.linalg.svd(xa @ xb.T, compute_uv=False)
        tr_covmean = float(sv.sum()) / np.sqrt((na - 1) * (nb - 1))
    else:
        tr_covmean = _trace_sqrt_product(np.cov(a, rowvar=False), np.cov(b, rowvar=False), eps)
    return max(0.0, float(diff @ diff) + tr_a + tr_b - 2.0 * tr_covmean)


def _trace_sqrt_product(sa: np.ndarray, sb: np.ndarray, eps: float) -> float:
    from scipy import linalg

    sa, sb = np.atleast_2d(sa), np.atleast_2d(sb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's "matrix is singular" chatter
        covmean = linalg.sqrtm(sa @ sb)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sa)) * eps
            covmean = linalg.sqrtm((sa + offset) @ (sb + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            return _trace_sqrt_symmetric(sa, sb)
        covmean = covmean.real
    if not np.isfinite(covmean).all():
        return _trace_sqrt_symmetric(sa, sb)
    return float(np.trace(covmean))


def _trace_sqrt_symmetric(sa: np.ndarray, sb: np.ndarray) -> float:
    """Tr sqrt(Sa Sb) = Tr sqrt(Sa^1/2 Sb Sa^1/2) for symmetric PSD Sa, Sb (eigh only)."""
    w, v = np.linalg.eigh(sa)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root @ sb @ root
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(lam, 0, None)).sum())


def coverage_entropy(predicted: np.ndarray, n_classes: int) -> float:
    """Entropy of the histogram of predicted class indices (0..K-1) over log K, in [0, 1]."""
    pred = np.asarray(predicted, np.int64).reshape(-1)
    if n_classes < 2 or not len(pred):
        return 1.0
    hist = np.bincount(pred, minlength=n_classes)[:n_classes] / len(pred)
    nz = hist[hist > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(n_classes))


def classifier_score(probs: np.ndarray) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` from class probabilities (N, K): the Inception score
    with another classifier; 1 for identical predictions, K for confident balanced ones."""
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)
    py = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p) - np.log(py))).sum(axis=1)
    return float(np.exp(kl.mean()))


def sample_scores(
    clf: FeatureClassifier,
    images: Any,
    requested: np.ndarray | None = None,
    reference: Any | None = None,
) -> dict[str, float]:
    """Quality scores of generated ``images`` (uint8 (N, H, W, 3) or (N, H, W)).

    Keys: ``confidence``, ``coverage_entropy``, ``classifier_score``, and ``accuracy`` when
    ``requested`` (the label each image was generated for) is given, ``frechet`` when
    ``reference`` (real images, ideally held out and as many as ``images``) is given. See
    the module docstring for their meaning.
    """
    feats, logits = clf._forward(images)
    ref = clf.features(reference) if reference is not None else None
    return scores_of_features(clf, feats, logits, requested, ref)


def scores_of_features(
    clf: FeatureClassifier,
    feats: np.ndarray,
    logits: np.ndarray,
    requested: np.ndarray | None = None,
    reference_features: np.ndarray | None = None,
) -> dict[str, float]:
    """:func:`sample_scores` from the classifier's outputs ``clf._forward(images)`` and the
    reference's features (computed once by a caller that scores many sets)."""
    if not len(feats):
        raise ValueError("no images to score")
    probs = clf._proba(logits)
    pred = np.argmax(probs, axis=1)
    scores = {"confidence": float(probs.max(axis=1).mean())}
    if requested is not None:
        req = np.asarray(requested).reshape(-1)
        if len(req) != len(pred):
            raise ValueError(f"{len(pred)} images but {len(req)} requested labels")
        scores["accuracy"] = float(np.mean(clf.classes[pred] == req))
    scores["coverage_entropy"] = coverage_entropy(pred, clf.n_classes)
    if reference_features is not None:
        scores["frechet"] = frechet_distance(feats, reference_features)
    scores["classifier_score"] = classifier_score(probs)
    return scores


def real_baseline(
    clf: FeatureClassifier,
    real_a: Any,
    real_b: Any,
    labels_a: np.ndarray | None = None,
    *,
    n: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """The scores of :func:`sample_scores` for real images ``real_a`` (as if they were the
    samples, with their true ``labels_a`` as the requested classes) against the reference
    ``real_b``: what a perfect generator would score. ``n`` draws that many of ``real_a``
    (by ``seed``), to match the number of samples the baseline is compared with."""
    if hasattr(real_a, "load_all") and not isinstance(real_a, np.ndarray):
        if labels_a is None and getattr(real_a, "labels", None) is not None:
            labels_a = np.asarray(real_a.labels)
        real_a = real_a.load_all()
    if n is not None and n < len(real_a):
        idx = np.sort(np.random.default_rng(seed).choice(len(real_a), size=n, replace=False))
        real_a = (
            np.asarray(real_a)[idx] if isinstance(real_a, np.ndarray) else [real_a[i] for i in idx]
        )
        if labels_a is not None:
            labels_a = np.asarray(labels_a)[idx]
    return sample_scores(clf, real_a, labels_a, reference=real_b)


__all__ = [
    "FeatureClassifier",
    "classifier_score",
    "coverage_entropy",
    "frechet_distance",
    "image_vectors",
    "real_baseline",
    "sample_scores",
    "scores_of_features",
]
