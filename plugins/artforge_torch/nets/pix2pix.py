"""pix2pix networks: the U-Net generator and the PatchGAN discriminator.

Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial Networks",
CVPR 2017. The architecture follows their reference code (pytorch-CycleGAN-and-pix2pix):
encoder C64-C128-C256-C512-C512-..., 4x4 convolutions of stride 2, LeakyReLU(0.2) going
down, ReLU coming up, dropout 0.5 in the decoder blocks between 512-channel levels, skip
connections between mirrored layers and a Tanh output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import maybe_spectral_norm, norm_layer

__all__ = ["PatchDiscriminator", "UNetGenerator", "norm_layer", "receptive_field", "unet_downs"]


def unet_downs(image_size: int) -> int:
    """Number of stride-2 downsamplings: log2(size), i.e. down to a 1 x 1 bottleneck."""
    downs = int(round(math.log2(image_size))) if image_size > 0 else 0
    if 2**downs != image_size or not 4 <= downs <= 10:
        raise ValueError(
            f"U-Net image size must be a power of two from 16 to 1024, got {image_size}"
        )
    return downs


class UNetBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up, then concatenation with the input.

    x -- downsampling -- |submodule| -- upsampling -- cat(x, .)
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        in_channels: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        in_channels = in_channels or outer
        use_bias = norm != "batch"  # BatchNorm has its own shift
        down_conv = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=use_bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=use_bias)
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                nn.ReLU(True),
                up,
                norm_layer(norm, outer),
            ]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=use_bias)
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                norm_layer(norm, inner),
                submodule,
                nn.ReLU(True),
                up,
                norm_layer(norm, outer),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    """U-Net generator with skip connections; its depth follows ``image_size`` (log2 of it).

    At 256 x 256 this is the paper's U-Net-256: 8 downsamplings to a 1 x 1 bottleneck
    (16 -> 4, 32 -> 5, 64 -> 6, 128 -> 7, 512 -> 9). Input and output are (N, C, H, W) in
    [-1, 1]; H and W must be multiples of ``2 ** downs`` (other sizes than ``image_size``
    work, e.g. 512 x 256 with a 256 network).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        image_size: int = 256,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = True,
    ):
        super().__init__()
        self.downs = unet_downs(image_size)
        self.multiple = 2**self.downs
        # level k (0 = outermost) has ngf * mult[k] channels below it: 64, 128, 256, 512, 512...
        mult = [min(2**k, 8) for k in range(self.downs)]
        # innermost level: state size (ngf*8) x 1 x 1 at the bottleneck
        block = UNetBlock(ngf * mult[-2], ngf * mult[-1], innermost=True, norm=norm)
        for k in range(self.downs - 2, 0, -1):
            # dropout 0.5 in the 512 -> 512 levels between the bottleneck and the 256-channel
            # level (three of them at 256 x 256: the paper's "CD512" decoder blocks)
            drop = dropout and mult[k - 1] == 8
            block = UNetBlock(
                ngf * mult[k - 1], ngf * mult[k], submodule=block, norm=norm, dropout=drop
            )
        # outermost: in_channels x H x W -> ngf x H/2 x W/2 ... -> out_channels x H x W
        self.model = UNetBlock(
            out_channels, ngf, in_channels, submodule=block, outermost=True, norm=norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: classifies overlapping patches as real or fake.

    With ``n_layers=3`` each output logit sees a 70 x 70 patch (the paper's default,
    C64-C128-C256-C512); a 256 x 256 input gives a 30 x 30 map of raw logits (N, 1, 30, 30).
    For pix2pix the input is source and target concatenated (``in_channels=6``); for
    CycleGAN a single image (3).
    """

    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral_norm: bool = False,
    ):
        super().__init__()
        sn = maybe_spectral_norm(spectral_norm)
        use_bias = norm != "batch"
        # input is in_channels x 256 x 256; state size: ndf x 128 x 128 (no norm on the first)
        layers: list[nn.Module] = [
            sn(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):  # state size: (ndf*mult) x 256/2^(n+1) x 256/2^(n+1)
            prev, mult = mult, min(2**n, 8)
            layers += [
                sn(nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=use_bias)),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            # state size: (ndf*8) x 31 x 31
            sn(nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=use_bias)),
            norm_layer(norm, ndf * mult),
            nn.LeakyReLU(0.2, True),
            # one logit per patch: 1 x 30 x 30
            sn(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_field(n_layers: int = 3) -> int:
    """Receptive field in pixels of a PatchGAN output unit (70 for n_layers=3)."""
    rf = 1
    # walking backwards: the two stride-1 4x4 convs, then the n_layers stride-2 4x4 convs
    for stride in [1, 1] + [2] * n_layers:
        rf = (rf - 1) * stride + 4
    return rf
