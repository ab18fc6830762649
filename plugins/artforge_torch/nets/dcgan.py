"""DCGAN generator and discriminator, optionally class-conditional.

Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016 (layout of pytorch/examples ``dcgan``): G maps
z through 4x4 transposed convolutions with BatchNorm and ReLU to a Tanh image; D mirrors it
with strided 4x4 convolutions and LeakyReLU(0.2). The depth follows the image size: 32, 64
or 128 pixels means 3, 4 or 5 doublings from the 4 x 4 seed.

Class-conditional (``n_classes > 0``): G concatenates a learned label embedding to z; D is
a projection discriminator (Miyato & Koyama, "cGANs with Projection Discriminator", ICLR
2018): ``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>``, where phi(x) is the final 4 x 4
feature map (flattened) and psi the DCGAN's last 4x4 convolution (a linear map of it).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import maybe_spectral_norm, norm_layer

IMAGE_SIZES = (32, 64, 128)


def _doublings(image_size: int) -> int:
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"DCGAN image_size must be 32, 64 or 128, got {image_size}")
    return image_size.bit_length() - 3  # 32 -> 3, 64 -> 4, 128 -> 5


class DCGANGenerator(nn.Module):
    """z (N, nz) or (N, nz, 1, 1) [and labels y (N,)] -> images (N, nc, S, S) in [-1, 1].

    At 64 x 64 (ngf=64): nz -> (ngf*8) x 4 x 4 -> (ngf*4) x 8 x 8 -> (ngf*2) x 16 x 16
    -> ngf x 32 x 32 -> nc x 64 x 64. ``embed_dim`` (default nz) is the size of the label
    embedding concatenated to z when ``n_classes > 0``.
    """

    def __init__(
        self,
        nz: int = 100,
        ngf: int = 64,
        nc: int = 3,
        image_size: int = 64,
        n_classes: int = 0,
        embed_dim: int | None = None,
    ):
        super().__init__()
        n = _doublings(image_size)
        self.nz, self.n_classes = nz, n_classes
        self.embed = None
        in_dim = nz
        if n_classes > 0:
            embed_dim = embed_dim or nz
            self.embed = nn.Embedding(n_classes, embed_dim)
            in_dim += embed_dim
        mult = 2 ** (n - 1)  # 8 at 64 x 64
        # input is Z (+ label embedding), going into a convolution; state size: (ngf*mult) x 4 x 4
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, ngf * mult, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * mult),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):  # state size doubles: (ngf*mult/2) x 2s x 2s
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * mult // 2),
                nn.ReLU(True),
            ]
            mult //= 2
        # state size: nc x S x S
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.reshape(z.shape[0], -1)
        if self.embed is not None:
            if y is None:
                raise ValueError("a class-conditional generator needs labels y")
            z = torch.cat([z, self.embed(y)], 1)
        return self.main(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """images (N, nc, S, S) in [-1, 1] [and labels y (N,)] -> raw logits (N,).

    At 64 x 64 (ndf=64): nc x 64 x 64 -> ndf x 32 x 32 -> (ndf*2) x 16 x 16
    -> (ndf*4) x 8 x 8 -> (ndf*8) x 4 x 4 -> 1. No normalisation on the first layer.
    ``norm``: ``batch`` (the paper), ``layer`` or ``none`` (for WGAN-GP, whose penalty is
    per sample and must not mix the batch: Gulrajani et al. 2017), or ``instance``.
    """

    def __init__(
        self,
        nc: int = 3,
        ndf: int = 64,
        image_size: int = 64,
        n_classes: int = 0,
        norm: str = "batch",
        spectral_norm: bool = False,
    ):
        super().__init__()
        n = _doublings(image_size)
        sn = maybe_spectral_norm(spectral_norm)
        use_bias = norm != "batch"
        self.n_classes = n_classes
        # input is nc x S x S; state size: ndf x S/2 x S/2
        layers: list[nn.Module] = [sn(nn.Conv2d(nc, ndf, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        mult = 1
        for _ in range(n - 1):  # state size halves: (ndf*2mult) x s/2 x s/2
            layers += [
                sn(nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=use_bias)),
                norm_layer(norm, ndf * mult * 2),
                nn.LeakyReLU(0.2, True),
            ]
            mult *= 2
        self.features = nn.Sequential(*layers)  # phi(x): (ndf*mult) x 4 x 4
        self.out = sn(nn.Conv2d(ndf * mult, 1, 4, 1, 0))  # psi: a linear map of phi(x)
        self.embed = nn.Embedding(n_classes, ndf * mult * 16) if n_classes > 0 else None
        if self.embed is not None and spectral_norm:
            self.embed = nn.utils.spectral_norm(self.embed)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        logits = self.out(h).flatten()
        if self.embed is not None:
            if y is None:
                raise ValueError("a projection discriminator needs labels y")
            logits = logits + (self.embed(y) * h.flatten(1)).sum(1)
        return logits
