"""pix2pix networks: the U-Net generator and the PatchGAN discriminator.

Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial Networks",
CVPR 2017 (architecture as in their reference code: C64-C128-C256-C512-C512-... encoder,
dropout 0.5 in the first three decoder blocks, skip connections between mirrored layers).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use batch, instance or none")


def unet_downs(image_size: int) -> int:
    """Number of stride-2 downsamplings: log2(size), i.e. down to a 1x1 bottleneck."""
    downs = int(round(math.log2(image_size)))
    if 2**downs != image_size or not 4 <= downs <= 10:
        raise ValueError(
            f"U-Net image size must be a power of two from 16 to 1024, got {image_size}"
        )
    return downs


class UNetBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up, then concatenation with the input.

    |-- downsampling -- |submodule| -- upsampling --|
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
        use_bias = norm != "batch"
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
    """U-Net generator with skip connections; depth follows ``image_size`` (log2 of it).

    At 256 x 256 this is the paper's U-Net-256 (8 downsamplings to 1 x 1). Input and output
    are (N, C, H, W) in [-1, 1]; H and W must be multiples of ``2 ** downs``.
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
        # level k (0 = outermost) has ngf * mult[k] inner channels: ngf, 2ngf, 4ngf, 8ngf, 8ngf...
        mult = [min(2**k, 8) for k in range(self.downs)]
        # innermost: down to 1 x 1 and back
        block = UNetBlock(ngf * mult[-2], ngf * mult[-1], innermost=True, norm=norm)
        for k in range(self.downs - 2, 0, -1):
            # dropout 0.5 in the three decoder blocks nearest the bottleneck (C512 with dropout)
            drop = dropout and mult[k] == 8 and self.downs - 1 - k <= 3
            block = UNetBlock(
                ngf * mult[k - 1], ngf * mult[k], submodule=block, norm=norm, dropout=drop
            )
        self.model = UNetBlock(
            out_channels, ngf, in_channels, submodule=block, outermost=True, norm=norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: classifies overlapping patches as real or fake.

    With ``n_layers=3`` each output unit sees a 70 x 70 patch (the paper's default); a
    256 x 256 input gives a 30 x 30 map of logits. For pix2pix the input is the source and
    target images concatenated (``in_channels=6``); for CycleGAN a single image (3).
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
        sn = nn.utils.spectral_norm if spectral_norm else (lambda m: m)
        use_bias = norm != "batch"
        layers: list[nn.Module] = [
            sn(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):  # state size: ndf*mult x H/2^n
            prev, mult = mult, min(2**n, 8)
            layers += [
                sn(nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=use_bias)),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            sn(nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=use_bias)),
            norm_layer(norm, ndf * mult),
            nn.LeakyReLU(0.2, True),
            sn(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)),  # one logit per patch
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_field(n_layers: int = 3) -> int:
    """Receptive field in pixels of a PatchGAN output unit (70 for n_layers=3)."""
    rf = 1
    # last two stride-1 4x4 convs, then n_layers stride-2 4x4 convs (walking backwards)
    for stride in [1, 1] + [2] * n_layers:
        rf = (rf - 1) * stride + 4
    return rf
