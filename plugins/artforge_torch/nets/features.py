"""Feature networks for the style-transfer and perceptual losses.

- ``VGG19Features``: the convolutional part of VGG19 (Simonyan & Zisserman 2015), laid out
  exactly like torchvision's ``vgg19().features`` so torchvision's ImageNet weights
  (``vgg19-dcbbb9e9.pth``) load as they are. Nothing is ever downloaded: the weights come
  from a file (``find_vgg19_weights``).
- ``RandomMultiScaleFeatures``: a weight-free alternative, one layer of random filters at
  several scales (Ustyuzhaninov, Brendel, Gatys, Bethge, "What does it take to generate
  natural textures?", ICLR 2017), for when no VGG19 weights are available.

Both take (N, 3, H, W) images in [0, 1] (normalised with the ImageNet mean and std inside)
and return ``{layer name: activation}`` from ``forward(x, layers)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's configuration "E": filters per conv layer, "M" for max pooling
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
VGG19_CFG += [512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
VGG19_FILE = "vgg19-dcbbb9e9.pth"  # torchvision's file name in the torch hub cache
WEIGHTS_ENV = "ARTFORGE_VGG19_WEIGHTS"


def _vgg19_layer_names() -> dict[str, int]:
    """conv1_1 -> 0, relu1_1 -> 1, conv1_2 -> 2, ..., pool1 -> 4, conv2_1 -> 5, ..."""
    names, block, conv, i = {}, 1, 1, 0
    for v in VGG19_CFG:
        if v == "M":
            names[f"pool{block}"] = i
            block, conv, i = block + 1, 1, i + 1
        else:
            names[f"conv{block}_{conv}"] = i
            names[f"relu{block}_{conv}"] = i + 1
            conv, i = conv + 1, i + 2
    return names


VGG19_LAYERS: dict[str, int] = _vgg19_layer_names()
# Gatys et al. 2016: content at conv4_2, style at conv1_1 ... conv5_1 (weights 1/5 each)
DEFAULT_CONTENT_LAYERS = ["conv4_2"]
DEFAULT_STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]


class VGG19Features(nn.Module):
    """VGG19's 16 conv layers; ``forward(x, layers)`` -> {name: activation}.

    ``features`` is an ``nn.Sequential`` with the indices of torchvision's
    ``vgg19().features`` (conv1_1 = ``features.0`` ... conv5_4 = ``features.34``), so this
    module's state dict has torchvision's ``features.*`` keys. Layer names are those of
    ``VGG19_LAYERS``: ``convX_Y`` is a convolution's output *before* its ReLU, ``reluX_Y``
    the same after it, ``poolX`` the pooling outputs.

    Our choice: ``DEFAULT_*_LAYERS`` use the ``conv`` names, i.e. pre-activation features.
    Gatys et al. (in Caffe, with in-place ReLUs) read the rectified responses; ask for
    ``relu4_2`` and ``relu1_1 ... relu5_1`` to get exactly theirs. Pre-activation responses
    keep the negative half of each filter's response (the PyTorch neural-style tutorial
    uses them; Wang et al. 2018, ESRGAN, find them better for perceptual losses).

    ``layers`` sets the default of ``forward``; the forward pass stops at the deepest
    layer asked for. ``pool="avg"`` swaps max for average pooling (Gatys et al. report
    slightly better results with it); it has no parameters, so weights load the same.
    Inputs are (N, 3, H, W) in [0, 1]; the ImageNet normalisation happens inside.
    """

    name = "VGG19 (Simonyan & Zisserman 2015), ImageNet weights"
    DEFAULT_CONTENT_LAYERS = DEFAULT_CONTENT_LAYERS
    DEFAULT_STYLE_LAYERS = DEFAULT_STYLE_LAYERS
    LAYERS = VGG19_LAYERS

    def __init__(self, layers: list[str] | None = None, pool: str = "max"):
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        modules: list[nn.Module] = []
        cin = 3
        for v in VGG19_CFG:
            if v == "M":
                pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
                modules.append(pool_cls(kernel_size=2, stride=2))
            else:
                # not in place (unlike torchvision): the conv outputs are returned as they are
                modules += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*modules)
        self.layers = list(layers or dict.fromkeys(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS))
        _check_names(self.layers, VGG19_LAYERS)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, layers: list[str] | None = None) -> dict[str, torch.Tensor]:
        layers = list(layers or self.layers)
        _check_names(layers, VGG19_LAYERS)
        wanted = {VGG19_LAYERS[k]: k for k in layers}
        last = max(wanted)
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        for i, module in enumerate(self.features):
            h = module(h)
            if i in wanted:
                out[wanted[i]] = h
            if i == last:
                break
        return {k: out[k] for k in layers}


def _check_names(layers, known) -> None:
    bad = [k for k in layers if k not in known]
    if bad:
        raise KeyError(f"unknown layer {bad[0]!r}; known: {', '.join(known)}")


class VGG19WeightsError(ValueError, RuntimeError):
    """A file that is not a VGG19 (features) state dict. A ``ValueError``; also a
    ``RuntimeError``, what ``load_state_dict`` raises, for callers that catch that."""


def read_weights_file(path: Path, error: type[Exception], what: str) -> Any:
    """What a ``.safetensors`` file or a ``torch.save`` file (read with ``weights_only=True``)
    holds, a ``state_dict`` wrapper removed; ``error`` naming the file (and ``what`` weights)
    when it cannot be read."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, not a tensor file, unsafe pickle, ...
        raise error(f"cannot read {what} weights from {path}: {type(exc).__name__}: {exc}") from exc
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    return sd


def load_vgg19_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load VGG19 ImageNet weights from ``path`` into ``model`` (a ``VGG19Features`` or
    its ``features`` Sequential) and return ``model``.

    Accepts a full torchvision ``vgg19`` state dict (the ``classifier.*`` entries are
    dropped) or a features-only one, with or without the ``features.`` prefix; a
    ``.safetensors`` file or a ``torch.save`` file (read with ``weights_only=True``).
    Raises ``ValueError`` (``VGG19WeightsError``) naming the file and the first missing,
    unexpected or wrongly shaped key when the file does not fit.
    """
    path = Path(path)
    sd = read_weights_file(path, VGG19WeightsError, "VGG19")
    if not isinstance(sd, dict):
        raise VGG19WeightsError(f"{path} does not hold a state dict (got {type(sd).__name__})")
    feats: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        key = key.removeprefix("module.")
        if key.startswith("classifier."):
            continue
        feats[key.removeprefix("features.")] = value
    target = model.features if hasattr(model, "features") else model
    expected = target.state_dict()
    missing = [k for k in expected if k not in feats]
    unexpected = [k for k in feats if k not in expected]
    problem = None
    if missing:
        problem = f"missing key 'features.{missing[0]}' ({len(missing)} missing)"
    elif unexpected:
        problem = f"unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected)"
    else:
        for k, v in expected.items():
            got = getattr(feats[k], "shape", None)
            if got != v.shape:
                problem = (
                    f"key 'features.{k}' has shape {tuple(got or ())}, expected {tuple(v.shape)}"
                )
                break
    if problem:
        raise VGG19WeightsError(
            f"{path} is not a torchvision VGG19 state dict: {problem}; expected the keys "
            "features.N.weight/bias of torchvision's vgg19 (e.g. vgg19-dcbbb9e9.pth)"
        )
    target.load_state_dict(feats, strict=True)
    return model


def find_vgg19_weights(explicit_path: str | os.PathLike | None = None) -> Path | None:
    """The first existing file of: ``explicit_path``, ``$ARTFORGE_VGG19_WEIGHTS``, the torch
    hub cache's ``checkpoints/vgg19-dcbbb9e9.pth``; None if there is none. Never downloads."""
    candidates = [explicit_path, os.environ.get(WEIGHTS_ENV) or None]
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE)
    for c in candidates:
        if c is not None and Path(c).is_file():
            return Path(c)
    return None


# -- weight-free features ----------------------------------------------------------------------
DEFAULT_SCALES = (3, 5, 7, 11, 15, 23, 37, 55)


class RandomMultiScaleFeatures(nn.Module):
    """One layer of random convolutional filters at several scales, each followed by a ReLU.

    Ustyuzhaninov, Brendel, Gatys, Bethge, "What does it take to generate natural
    textures?", ICLR 2017: a single layer of random multi-scale filters (3 ... 55 pixels,
    stride 1, ReLU) with Gram-matrix losses synthesises textures nearly as well as VGG19.
    Here each scale has ``filters`` random filters (the paper has 128), drawn from N(0, 1)
    with a generator seeded by ``seed``, then made zero-mean and unit-norm per filter (as in
    the paper); they are buffers, so there is nothing to train or download and the module
    has no parameters.

    For speed on CPU, a filter larger than ``max_kernel`` runs on an average-pooled copy of
    the image (by 2, 4 or 8) with a proportionally smaller kernel: about the same spatial
    extent at a fraction of the cost, with the output at that lower resolution (a Gram
    matrix does not care). With the defaults: 3, 5, 7 at full size; 11 as 5 at 1/2; 15, 23
    as 3, 5 at 1/4; 37, 55 as 5, 7 at 1/8. Borders are replicate-padded, so any image size
    works. Input: (N, 3, H, W) in [0, 1], normalised with the ImageNet mean and std inside.

    Layer names are ``scaleK`` for each scale K (``scale_K`` is accepted as an alias).
    Style uses all of them. Content defaults to ``scale7`` and ``scale11``: fine enough to
    hold the layout, coarse enough to leave the texture free (the 3 and 5 pixel filters
    pin the fine texture of the content image too); with other ``scales``, the two middle
    ones.
    """

    name = "random multi-scale filters (Ustyuzhaninov et al. 2017), no trained weights"
    LAYERS = [f"scale{k}" for k in DEFAULT_SCALES]
    DEFAULT_CONTENT_LAYERS = ["scale7", "scale11"]
    DEFAULT_STYLE_LAYERS = list(LAYERS)

    def __init__(
        self,
        scales: tuple[int, ...] | list[int] = DEFAULT_SCALES,
        filters: int = 64,
        seed: int = 0,
        max_kernel: int = 7,
    ):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.scales = [int(k) for k in scales]
        self.factors: dict[str, int] = {}
        self.LAYERS = [f"scale{k}" for k in self.scales]
        if list(self.scales) != list(DEFAULT_SCALES):
            mid = self.LAYERS[len(self.LAYERS) // 2 - 1 : len(self.LAYERS) // 2 + 1]
            self.DEFAULT_CONTENT_LAYERS = mid or self.LAYERS[:1]
            self.DEFAULT_STYLE_LAYERS = list(self.LAYERS)
        for k in self.scales:
            d = 1
            while k / d > max_kernel:
                d *= 2
            kd = max(1, k // d) | 1  # an odd kernel covering about k pixels at 1/d size
            w = torch.randn(filters, 3, kd, kd, generator=g)
            w = w - w.mean(dim=(1, 2, 3), keepdim=True)
            w = w / w.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, 1, 1, 1)
            # state size: filters x H/d x W/d
            self.register_buffer(f"w{k}", w)
            self.factors[f"scale{k}"] = d
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.layers = list(self.LAYERS)

    def forward(self, x: torch.Tensor, layers: list[str] | None = None) -> dict[str, torch.Tensor]:
        layers = list(layers or self.layers)
        canonical = [k.replace("scale_", "scale") for k in layers]
        _check_names(canonical, self.LAYERS)
        h = (x - self.mean) / self.std
        pooled = {1: h}
        out = {}
        for asked, name in zip(layers, canonical):
            d = self.factors[name]
            if d not in pooled:
                pooled[d] = F.avg_pool2d(h, d, ceil_mode=True)
            w = getattr(self, "w" + name.removeprefix("scale"))
            p = w.shape[-1] // 2
            out[asked] = F.relu(F.conv2d(F.pad(pooled[d], (p, p, p, p), mode="replicate"), w))
        return out
