"""The loss network of style transfer: VGG19 with ImageNet weights when a weight file is
found, else weight-free random multi-scale filters (Ustyuzhaninov et al. 2017), and the
losses computed on its features."""

from __future__ import annotations

from pathlib import Path

import torch

from artforge.api import StepError
from artforge.style.features import RANDOM_DESC, VGG_DESC, LossNetworkBase  # noqa: F401
from artforge.style.features import find_weights as find

VGG_FILES = (
    "torchvision's vgg19 state dict (.pth or .safetensors; vgg19-dcbbb9e9.pth loads as it is)"
)


class LossNetwork(LossNetworkBase):
    """A feature extractor (``net(x, layers)`` -> {layer name: features}) and the losses
    on it. Images are N x 3 x H x W in [0, 1]."""

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x)

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            f = self.net(content, self.content_layers)
        return {k: f[k].detach() for k in self.content_layers}

    def style_targets(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gram matrices of the style image (averaged over a batch of style images)."""
        with torch.no_grad():
            f = self.net(style, self.style_layers)
        return {k: gram(f[k]).mean(0, keepdim=True).detach() for k in self.style_layers}

    def losses(
        self,
        x: torch.Tensor,
        content_t: dict[str, torch.Tensor] | None,
        style_t: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(content, style, total variation) losses of a batch ``x``."""
        f = self.net(x, self.layers if content_t is not None else self.style_layers)
        lc = x.new_zeros(())
        if content_t is not None:
            lc = sum(content_loss(f[k], content_t[k]) for k in self.content_layers) / len(
                self.content_layers
            )
        ls = sum(style_loss(f[k], style_t[k]) for k in self.style_layers) / len(self.style_layers)
        return lc, ls, tv(x)


# -- losses ------------------------------------------------------------------------------------
# The Gram matrix, content, style and TV losses are the shared definitions of
# artforge_torch.nets.losses. Each layer's content and style term is divided by the squared
# norm of its target, i.e. is a *relative* squared error, so that a weight means the same with
# VGG19 and with the random features, whose activations differ in scale by orders of
# magnitude; with fixed targets this is Gatys et al.'s loss times a constant per layer.
EPS = 1e-12


def gram(f: torch.Tensor) -> torch.Tensor:
    from ..nets.losses import gram_matrix

    return gram_matrix(f)


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    from ..nets import losses

    return losses.content_loss(f, target) / (target.float().pow(2).mean() + EPS)


def style_loss(f: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    from ..nets import losses

    k = "layer"
    return losses.style_loss({k: f}, {k: target_gram}) / (target_gram.float().pow(2).sum() + EPS)


RANGE_WEIGHT = 100.0


def range_penalty(x: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the pixels from [0, 1]. The losses are computed on the
    clipped image (the one that is written), where out-of-range pixels get no gradient; this
    term pulls them back instead of letting them drift (a network otherwise learns to hide
    features in negative values that turn black when clipped)."""
    return (x - x.clamp(0, 1)).pow(2).mean()


def tv(x: torch.Tensor) -> torch.Tensor:
    from ..nets.losses import tv_loss

    return tv_loss(x)


# -- building -----------------------------------------------------------------------------------
def find_weights(ctx, given: str | None) -> Path | None:
    """The VGG19 weight file: ``given`` (relative to the recipe; must exist) or the cache."""
    from ..nets.features import find_vgg19_weights

    return find(ctx, given, VGG_FILES, find_vgg19_weights)


def build_features(kind: str, path: Path | None, layers: list[str], seed: int, device):
    """The frozen feature network: VGG19 with the weights at ``path``, or random filters."""
    from ..nets import features as feat

    if kind == "vgg19":
        net = feat.VGG19Features(layers=layers)
        load_vgg(net, path)
    else:
        net = feat.RandomMultiScaleFeatures(seed=seed)
    net = net.to(device).eval()
    for q in net.parameters():
        q.requires_grad_(False)
    return net


def perceptual_network(path: Path, device: torch.device) -> torch.nn.Module:
    """VGG19 features at conv5_4 (SRGAN's "VGG54"), frozen, returning one tensor."""
    from ..nets import features as feat

    net = feat.VGG19Features(layers=["conv5_4"])
    load_vgg(net, path)
    net = net.to(device).eval()
    for q in net.parameters():
        q.requires_grad_(False)

    class _One(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)["conv5_4"]

    return _One(net)


def load_vgg(net: torch.nn.Module, path: Path) -> None:
    """Load torchvision-layout VGG19 weights, with a clear error for a wrong file."""
    from ..nets.features import load_vgg19_weights

    try:
        load_vgg19_weights(net, path)
    except Exception as exc:
        raise StepError(
            f"cannot load VGG19 weights from {path}: {type(exc).__name__}: {str(exc)[:300]}",
            hint="expected torchvision's vgg19 state dict (features.N.weight/bias keys), "
            "e.g. vgg19-dcbbb9e9.pth, as .pth or .safetensors",
        ) from None
