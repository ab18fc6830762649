"""The FID Inception-v3 network (Heusel et al. 2017), loaded from a weights file, offline.

``FIDInceptionV3`` has the layout of torchvision's ``inception_v3`` (module names
``Conv2d_1a_3x3`` ... ``Mixed_7c``, ``fc``; each ``BasicConv2d`` a bias-free conv plus
BatchNorm with eps 0.001), so its state dict has the keys of

- pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (the TensorFlow FID graph ported to
  PyTorch: 1008 classes, no auxiliary head) with ``variant="fid"``: the average pools of the
  Mixed_5*, Mixed_6b-e and Mixed_7b blocks do not count the padding, and Mixed_7c pools with
  max instead of average, as in the TensorFlow graph. These weights give the standard FID
  numbers that papers report.
- torchvision's ImageNet ``inception_v3_google-*.pth`` (1000 classes; its ``AuxLogits.*``
  keys are ignored) with ``variant="torchvision"``: torchvision's own blocks. Its features
  differ from the FID network's, so its FIDs are not comparable with published ones.

``forward`` takes (N, 3, H, W) in [0, 1], resizes to 299x299 (bilinear, as pytorch-fid),
scales to [-1, 1] and returns the 2048-d pool3 features (N, 2048).

:func:`load_inception` finds the weights (an explicit path, ``$ARTFORGE_INCEPTION_WEIGHTS``,
or the torch hub cache) and never downloads; a missing or mismatched file is a
:class:`~artforge.api.DataError` naming the file and the first missing, unexpected or
misshaped key. :func:`fid` is the Frechet distance of two image sets' features
(``artforge.quality.frechet_distance``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from artforge.api import DataError

from .features import read_weights_file

WEIGHTS_ENV = "ARTFORGE_INCEPTION_WEIGHTS"
FID_WEIGHTS_GLOB = "pt_inception-2015-12-05-*.pth"  # pytorch-fid's file
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
TORCHVISION_FILES = ("inception_v3_google-0cc3c7bd.pth", "inception_v3_google-1a9a5a14.pth")
INPUT_SIZE = 299
FEATURES = 2048
NUM_CLASSES = {"fid": 1008, "torchvision": 1000}


class InceptionWeightsError(DataError):
    """A weights file is missing, unreadable or not an Inception-v3 state dict."""


class BasicConv2d(nn.Module):
    """Convolution without bias, BatchNorm (eps 0.001), ReLU: torchvision's layout."""

    def __init__(self, cin: int, cout: int, **kw: Any):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor, tf: bool) -> torch.Tensor:
    # TensorFlow's average pooling ignores the zero padding; torchvision's counts it
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=not tf)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int, tf_pool: bool):
        super().__init__()
        self.tf_pool = tf_pool
        self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool(x, self.tf_pool))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int, tf_pool: bool):
        super().__init__()
        self.tf_pool = tf_pool
        self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4):
            bd = layer(bd)
        bd = self.branch7x7dbl_5(bd)
        bp = self.branch_pool(_avg_pool(x, self.tf_pool))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """``pool``: "tf" (average without padding), "avg" (torchvision), "max" (FID Mixed_7c)."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool(x, self.pool == "tf")
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """Inception-v3 up to its 2048-d pool3 features (plus ``fc`` for the weights' logits).

    ``variant="fid"``: the TensorFlow FID graph (pytorch-fid's weights, 1008 classes);
    ``"torchvision"``: torchvision's ImageNet network (1000 classes). ``forward(x)`` with x
    (N, 3, H, W) in [0, 1] gives (N, 2048); ``resize_input`` resizes to 299x299 first.
    """

    def __init__(self, variant: str = "fid", resize_input: bool = True):
        super().__init__()
        if variant not in NUM_CLASSES:
            raise ValueError(f"variant must be 'fid' or 'torchvision', got {variant!r}")
        self.variant = variant
        self.resize_input = resize_input
        tf = variant == "fid"
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, 32, tf)
        self.Mixed_5c = InceptionA(256, 64, tf)
        self.Mixed_5d = InceptionA(288, 64, tf)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, tf)
        self.Mixed_6c = InceptionC(768, 160, tf)
        self.Mixed_6d = InceptionC(768, 160, tf)
        self.Mixed_6e = InceptionC(768, 192, tf)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, "tf" if tf else "avg")
        self.Mixed_7c = InceptionE(2048, "max" if tf else "avg")
        self.fc = nn.Linear(FEATURES, NUM_CLASSES[variant])
        self.name = (
            "Inception-v3, FID weights (TensorFlow graph, pytorch-fid)"
            if tf
            else "Inception-v3, torchvision ImageNet weights (FIDs not comparable to published ones)"
        )
        self.weights_path: Path | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize_input and tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(
                x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
            )
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the weights' classifier (1008 or 1000 classes)."""
        return self.fc(self.forward(x))


# -- weights ---------------------------------------------------------------------------------------
def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``torch.save`` file (read with ``weights_only=True``) or a
    ``.safetensors`` file; ``module.`` prefixes and a ``state_dict`` wrapper are removed."""
    path = Path(path)
    if not path.is_file():
        raise InceptionWeightsError(f"Inception weights not found: {path}")
    sd = read_weights_file(path, InceptionWeightsError, "Inception")
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise InceptionWeightsError(
            f"{path} does not hold a state dict of tensors (got {type(sd).__name__})"
        )
    return {str(k).removeprefix("module."): v for k, v in sd.items()}


def detect_variant(sd: dict[str, torch.Tensor], path: str | os.PathLike = "the weights") -> str:
    """The variant a state dict is for: a 1008-class ``fc`` is pytorch-fid's ("fid"), 1000
    classes torchvision's ("torchvision")."""
    fc = sd.get("fc.weight")
    if fc is None:
        raise InceptionWeightsError(
            f"{path} is not an Inception-v3 state dict: missing key 'fc.weight'",
            hint=f"expected pytorch-fid's {FID_WEIGHTS_FILE} or torchvision's "
            f"{TORCHVISION_FILES[0]}",
        )
    for variant, k in NUM_CLASSES.items():
        if tuple(fc.shape) == (k, FEATURES):
            return variant
    raise InceptionWeightsError(
        f"{path} is not an Inception-v3 state dict: key 'fc.weight' has shape "
        f"{tuple(fc.shape)}, expected (1008, 2048) (pytorch-fid) or (1000, 2048) (torchvision)"
    )


def load_inception_weights(
    model: FIDInceptionV3, sd: dict[str, torch.Tensor], path: str | os.PathLike = "the weights"
) -> FIDInceptionV3:
    """Load ``sd`` into ``model`` strictly, after checking every key and shape (the
    ``AuxLogits.*`` head of torchvision's file is dropped; BatchNorm's
    ``num_batches_tracked`` counters may be absent, as in older files)."""
    sd = {k: v for k, v in sd.items() if not k.startswith("AuxLogits.")}
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in sd and k not in optional]
    unexpected = [k for k in sd if k not in expected]
    problem = None
    if missing:
        problem = f"missing key {missing[0]!r} ({len(missing)} missing)"
    elif unexpected:
        problem = f"unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected)"
    else:
        for k, v in sd.items():
            if tuple(v.shape) != tuple(expected[k].shape):
                problem = (
                    f"key {k!r} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}"
                )
                break
    if problem:
        raise InceptionWeightsError(
            f"{path} is not an Inception-v3 ({model.variant}) state dict: {problem}",
            hint=f"expected pytorch-fid's {FID_WEIGHTS_FILE} or torchvision's {TORCHVISION_FILES[0]}",
        )
    full = {k: sd.get(k, expected[k]) for k in expected}
    model.load_state_dict(full, strict=True)
    return model


def find_inception_weights(explicit_path: str | os.PathLike | None = None) -> Path | None:
    """The weights file to use: ``explicit_path``, else ``$ARTFORGE_INCEPTION_WEIGHTS``
    (both must exist: a :class:`DataError` otherwise), else the first of pytorch-fid's and
    torchvision's file names in the torch hub cache's ``checkpoints/``; None if none is
    there. Never downloads."""
    for given, what in (
        (explicit_path, "the given path"),
        (os.environ.get(WEIGHTS_ENV), WEIGHTS_ENV),
    ):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise InceptionWeightsError(f"Inception weights not found: {p} ({what})")
            return p
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(cache.glob(FID_WEIGHTS_GLOB)) if cache.is_dir() else []
    found += [cache / name for name in TORCHVISION_FILES if (cache / name).is_file()]
    return found[0] if found else None


def load_inception(
    path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """The FID Inception network with weights from ``path``, ``$ARTFORGE_INCEPTION_WEIGHTS``
    or the torch hub cache (see :func:`find_inception_weights`), in eval mode without
    gradients; the variant follows the file (1008 classes: FID, 1000: torchvision).
    A :class:`DataError` when there is no file or it does not fit."""
    found = find_inception_weights(path)
    if found is None:
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise InceptionWeightsError(
            f"no Inception weights for FID: none given, ${WEIGHTS_ENV} unset, none in {cache}",
            hint=f"download pytorch-fid's {FID_WEIGHTS_FILE} on a machine with internet and put it "
            f"in {cache} or point ${WEIGHTS_ENV} at it; nothing is downloaded here",
        )
    sd = read_state_dict(found)
    net = FIDInceptionV3(detect_variant(sd, found))
    load_inception_weights(net, sd, found)
    net.weights_path = found
    net.requires_grad_(False)
    return net.eval().to(device)


# -- features and FID ------------------------------------------------------------------------------
def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """One image HxW or HxWxC (uint8, or float in [0, 1]) as (3, H, W) float32 in [0, 1]."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"an image must be HxW or HxWxC, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[..., :3]
    if a.dtype == np.uint8:
        t = torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0)
    elif np.issubdtype(a.dtype, np.floating):
        if a.size and (np.nanmax(a) > 1.5 or np.nanmin(a) < -0.5):
            raise ValueError("float images must be in [0, 1]; pass uint8 images for 0..255")
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).clamp_(0.0, 1.0)
    else:
        raise TypeError(f"images must be uint8 (or float in [0, 1]), got {a.dtype}")
    return t.permute(2, 0, 1)


@torch.no_grad()
def inception_features(
    images: Sequence[np.ndarray] | np.ndarray | Any, net: nn.Module, batch_size: int = 32
) -> np.ndarray:
    """pool3 features (N, 2048) float64 of images (uint8 (N, H, W, 3), a sequence of HxW(x3)
    arrays of any sizes, or an ImageSet), computed on the network's device."""
    if hasattr(images, "load_all") and not isinstance(images, np.ndarray):
        images = images.load_all()
    device = next(net.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        batch = [_to_tensor(img) for img in images[start : start + batch_size]]
        if len({tuple(t.shape) for t in batch}) > 1:  # sizes differ: resize each first
            batch = [
                F.interpolate(
                    t[None], size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
                )[0]
                for t in batch
            ]
        x = torch.stack(batch).to(device)
        out.append(net(x).double().cpu().numpy())
    if not out:
        return np.zeros((0, FEATURES))
    return np.concatenate(out)


def fid(images_a: Any, images_b: Any, net: nn.Module, batch_size: int = 32) -> float:
    """The Frechet Inception distance between two image sets (with pytorch-fid's weights:
    the standard FID; use thousands of images for numbers comparable with papers)."""
    from artforge.quality import frechet_distance

    return frechet_distance(
        inception_features(images_a, net, batch_size), inception_features(images_b, net, batch_size)
    )
