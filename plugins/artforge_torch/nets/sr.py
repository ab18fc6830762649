"""Super-resolution networks: ESPCN, SRResNet and the SRGAN discriminator.

Unlike the GAN networks, these take and return images in [0, 1] (N, C, H, W): the
generators map an (N, C, H, W) low-resolution image to (N, C, H*scale, W*scale). Their
outputs are not clamped (clamp when converting to pixels). Zero padding throughout, so an
image can be processed in overlapping tiles with the same result (see ``sr.tiled``).
``config`` holds the constructor arguments other than ``scale``, to rebuild a saved network.
"""

from __future__ import annotations

import torch
from torch import nn

SCALES = (2, 3, 4)


def _check_scale(scale: int) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale must be 2, 3 or 4, got {scale}")


class ESPCN(nn.Module):
    """Efficient sub-pixel CNN.

    Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
    Sub-Pixel Convolutional Neural Network", CVPR 2016: (f1, n1) = (5, 64), (f2, n2) =
    (3, 32), f3 = 3, tanh activations, and a final sub-pixel convolution (PixelShuffle) to
    the high-resolution image. All convolutions run at low resolution.
    """

    def __init__(self, scale: int = 2, channels: int = 3, features: int = 64):
        super().__init__()
        _check_scale(scale)
        self.scale = scale
        self.config = {"channels": channels, "features": features}
        self.body = nn.Sequential(
            # state size: features x H x W
            nn.Conv2d(channels, features, 5, padding=2),
            nn.Tanh(),
            # state size: (features/2) x H x W
            nn.Conv2d(features, features // 2, 3, padding=1),
            nn.Tanh(),
            # state size: (channels*r^2) x H x W -> channels x rH x rW
            nn.Conv2d(features // 2, channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SRResidualBlock(nn.Module):
    """x + [conv3x3, BN, PReLU, conv3x3, BN](x) (SRResNet's B residual blocks)."""

    def __init__(self, features: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.BatchNorm2d(features),
            nn.PReLU(),
            nn.Conv2d(features, features, 3, padding=1),
            nn.BatchNorm2d(features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class SRResNet(nn.Module):
    """SRResNet, the generator of SRGAN.

    Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
    Adversarial Network", CVPR 2017: a 9x9 conv + PReLU head, ``n_blocks`` (16) residual
    blocks with BatchNorm and PReLU, a conv + BN closed by a global skip connection,
    pixel-shuffle upsampling stages (x2 each; x3 is one x3 stage) and a 9x9 tail.
    """

    def __init__(self, scale: int = 4, channels: int = 3, features: int = 64, n_blocks: int = 16):
        super().__init__()
        _check_scale(scale)
        self.scale = scale
        self.config = {"channels": channels, "features": features, "n_blocks": n_blocks}
        # state size: features x H x W throughout the body
        self.head = nn.Sequential(nn.Conv2d(channels, features, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(
            *[SRResidualBlock(features) for _ in range(n_blocks)],
            nn.Conv2d(features, features, 3, padding=1),
            nn.BatchNorm2d(features),
        )
        stages = [3] if scale == 3 else [2] * (scale // 2)
        up: list[nn.Module] = []
        for r in stages:  # features x H x W -> (features*r^2) x H x W -> features x rH x rW
            up += [
                nn.Conv2d(features, features * r * r, 3, padding=1),
                nn.PixelShuffle(r),
                nn.PReLU(),
            ]
        self.upsample = nn.Sequential(*up)
        # state size: channels x (scale*H) x (scale*W)
        self.tail = nn.Conv2d(features, channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.body(h)
        return self.tail(self.upsample(h))


class SRDiscriminator(nn.Module):
    """The SRGAN discriminator (Ledig et al. 2017), VGG style: images in [0, 1] -> logits (N,).

    Eight 3x3 convolutions (64, 64, 128, 128, 256, 256, 512, 512 filters; stride 2 on every
    second one), BatchNorm after all but the first, LeakyReLU(0.2), then Dense(1024),
    LeakyReLU, Dense(1) (the sigmoid is in the loss). The paper's 96 x 96 input gives a
    512 x 6 x 6 map; other sizes are average-pooled to 6 x 6 first.
    """

    def __init__(self, channels: int = 3, features: int = 64, pooled: int = 6):
        super().__init__()
        self.config = {"channels": channels, "features": features, "pooled": pooled}
        layers: list[nn.Module] = [
            nn.Conv2d(channels, features, 3, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        cin = features
        for i, mult in enumerate((1, 2, 2, 4, 4, 8, 8)):  # state size: 512 x H/16 x W/16
            stride = 2 if i % 2 == 0 else 1
            layers += [
                nn.Conv2d(cin, features * mult, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(features * mult),
                nn.LeakyReLU(0.2, True),
            ]
            cin = features * mult
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * pooled * pooled, 1024),
            nn.LeakyReLU(0.2, True),
            nn.Linear(1024, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x))).flatten()
