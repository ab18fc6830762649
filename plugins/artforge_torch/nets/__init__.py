"""Networks and losses of the PyTorch backend (pure torch; no artforge imports).

Submodules: ``pix2pix`` (U-Net, PatchGAN), ``dcgan``, ``cyclegan`` (ResNet generator),
``sr`` (ESPCN, SRResNet, SRGAN discriminator), ``features`` (VGG19 and random multi-scale
feature networks), ``transformer`` (Johnson et al.'s style network), ``losses``, ``init``.
Every image network takes and returns NCHW float tensors in [-1, 1] unless its docstring
says otherwise (the SR, feature and style networks work in [0, 1]). Nothing here assumes a
device or downloads anything.
"""

from torch import nn

from .cyclegan import ResnetGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .features import (
    RandomMultiScaleFeatures,
    VGG19Features,
    find_vgg19_weights,
    load_vgg19_weights,
)
from .init import init_weights
from .losses import (
    GANLoss,
    content_loss,
    gradient_penalty,
    gram_matrix,
    style_loss,
    tv_loss,
)
from .pix2pix import PatchDiscriminator, UNetGenerator, receptive_field
from .sr import ESPCN, SRDiscriminator, SRResNet
from .transformer import TransformerNet


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (by default only those that require gradients)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "ESPCN",
    "GANLoss",
    "PatchDiscriminator",
    "RandomMultiScaleFeatures",
    "ResnetGenerator",
    "SRDiscriminator",
    "SRResNet",
    "TransformerNet",
    "UNetGenerator",
    "VGG19Features",
    "content_loss",
    "count_parameters",
    "find_vgg19_weights",
    "gradient_penalty",
    "gram_matrix",
    "init_weights",
    "load_vgg19_weights",
    "receptive_field",
    "style_loss",
    "tv_loss",
]
