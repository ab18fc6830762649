"""CycleGAN generator: the residual network of Johnson et al. 2016 as used by CycleGAN.

Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017 (architecture as in the reference pytorch-CycleGAN-and-pix2pix
code: c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3). ``upsample="nearest"``
makes u128 and u64 resize-convolutions (nearest x2, then a 3x3 convolution; Odena, Dumoulin,
Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016) in place of the paper's
transposed convolutions, whose uneven kernel overlap paints a checkerboard; the parameter
count is the same. The discriminator is the
70 x 70 PatchGAN of pix2pix, unconditional: ``PatchDiscriminator(in_channels=3)``. The
discriminators see generated images through an ``ImagePool`` of 50 earlier ones.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import norm_layer
from .pix2pix import PatchDiscriminator

__all__ = [
    "HEADS",
    "UPSAMPLES",
    "ImagePool",
    "PatchDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
]

UPSAMPLES = ("transpose", "nearest")
HEADS = ("rgb", "affine")


class ResnetBlock(nn.Module):
    """x + [reflect-pad, conv3x3, norm, ReLU, (dropout), reflect-pad, conv3x3, norm](x)."""

    def __init__(self, channels: int, norm: str = "instance", dropout: bool = False):
        super().__init__()
        use_bias = norm != "batch"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=use_bias),
            norm_layer(norm, channels),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=use_bias),
            norm_layer(norm, channels),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Images (N, in_channels, H, W) in [-1, 1] -> (N, out_channels, H, W) in [-1, 1].

    Reflection padding, two stride-2 downsamplings, ``n_blocks`` residual blocks (the paper
    uses 6 at 128 x 128 and 9 at 256 x 256), two upsamplings and a Tanh. ``upsample``:
    ``"transpose"`` (the paper's stride-2 transposed convolutions) or ``"nearest"``
    (resize-convolution: nearest x2, then a 3x3 convolution, zero padding 1). ``head``:
    ``"rgb"`` (the paper's: the last convolution paints the image) or ``"affine"`` (the last
    convolution predicts, per pixel, a colour matrix and a bias that transform the input's
    colours: ``y = tanh(x + A(x) x + b(x))``, a local affine colour transform as in
    Gharbi et al., "Deep Bilateral Learning for Real-Time Image Enhancement", SIGGRAPH 2017;
    it starts near the identity and keeps the input's edges, and needs
    ``out_channels * (in_channels + 1)`` output maps instead of ``out_channels``).
    H and W must be multiples of 4.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: bool = False,
        upsample: str = "transpose",
        head: str = "rgb",
    ):
        super().__init__()
        if upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {UPSAMPLES}, got {upsample!r}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.head = head
        self.in_channels, self.out_channels = in_channels, out_channels
        use_bias = norm != "batch"
        # c7s1-64: state size ngf x H x W
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=use_bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        # d128, d256: state size (ngf*4) x H/4 x W/4
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                norm_layer(norm, ngf * mult * 2),
                nn.ReLU(True),
            ]
        # R256 x n_blocks
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        # u128, u64: state size ngf x H x W
        for mult in (4, 2):
            cin, cout = ngf * mult, ngf * mult // 2
            if upsample == "nearest":
                layers += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(cin, cout, 3, padding=1, bias=use_bias),
                ]
            else:
                layers.append(
                    nn.ConvTranspose2d(
                        cin, cout, 3, stride=2, padding=1, output_padding=1, bias=use_bias
                    )
                )
            layers += [norm_layer(norm, cout), nn.ReLU(True)]
        # c7s1-3 (rgb), or c7s1-(out x (in + 1)) colour-transform coefficients (affine)
        if head == "affine":
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels * (in_channels + 1), 7)]
        else:
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head == "rgb":
            return self.model(x)
        n, _, h, w = x.shape
        # coefficient map k = i * (in + 1) + j: output channel i, input channel j (j = in: bias)
        coef = self.model(x).view(n, self.out_channels, self.in_channels + 1, h, w)
        y = (coef[:, :, :-1] * x.unsqueeze(1)).sum(2) + coef[:, :, -1]
        if self.out_channels == self.in_channels:
            y = y + x
        return torch.tanh(y)


class ImagePool:
    """A history of generated images for the discriminator updates.

    Shrivastava et al., "Learning from Simulated and Unsupervised Images through
    Adversarial Training", CVPR 2017, as used by CycleGAN (``size=50``, the ``ImagePool``
    of the reference code): while the pool fills, each image is stored and returned as it
    is; once it holds ``size`` images, each new image is, with probability 0.5, swapped
    with a random stored one (the older image is returned, the new one kept), else returned
    as it is. Images are stored detached. ``size=0`` disables the pool.

    The random draws come from ``generator`` (a CPU ``torch.Generator``; the global RNG
    when None), so a seeded generator makes the sequence of batches deterministic.
    ``state_dict``/``load_state_dict`` save and restore the stored images.
    """

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        if size < 0:
            raise ValueError(f"ImagePool size must be >= 0, got {size}")
        self.size = size
        self.generator = generator
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, C, H, W) new images -> (N, C, H, W), each new or an older stored one."""
        if self.size == 0:
            return images
        g = generator if generator is not None else self.generator
        out = []
        for image in images.detach():
            image = image.clone()
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif float(torch.rand((), generator=g)) < 0.5:
                i = int(torch.randint(self.size, (), generator=g))
                out.append(self.images[i])
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)

    __call__ = query

    def state_dict(self) -> dict:
        return {"size": self.size, "images": list(self.images)}

    def load_state_dict(self, state: dict) -> None:
        self.size = int(state["size"])
        self.images = list(state["images"])[: self.size]
