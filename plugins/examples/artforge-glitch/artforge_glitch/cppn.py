"""A CPPN (compositional pattern-producing network, Stanley 2007) for the PyTorch backend.

A small fully connected network maps every pixel's coordinates (x, y), its distance r to the
centre and a latent vector z to a colour. With random weights and a mix of tanh, sine and
Gaussian activations it draws smooth abstract shapes at any resolution. ``CPPN`` follows the
DCGAN generator's convention, ``z (N, nz) -> images (N, nc, S, S) in [-1, 1]``, so a step
that samples registered generators can use it; ``run`` is the ``cppn-art`` step.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from artforge.api import StepError, derive_seed

ACTIVATIONS = ("tanh", "sin", "gaussian", "mixed")


class CPPN(nn.Module):
    """z (N, nz) -> images (N, nc, S, S) in [-1, 1], S = ``image_size`` or ``size=``.

    Args:
        nz: size of the latent vector z (different z, same weights: variations on a theme).
        hidden: units per hidden layer.
        layers: number of hidden layers.
        nc: output channels (3: RGB, 1: grey).
        activation: ``tanh``, ``sin``, ``gaussian``, or ``mixed`` (a third of the units each).
        image_size: the default output size; ``forward(z, size=...)`` renders any size.
        scale: the coordinates span [-scale, scale]: larger zooms out (more detail).
    """

    def __init__(
        self,
        nz: int = 8,
        hidden: int = 32,
        layers: int = 4,
        nc: int = 3,
        activation: str = "mixed",
        image_size: int = 64,
        scale: float = 2.0,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}")
        if layers < 1 or hidden < 1 or nc < 1 or nz < 0:
            raise ValueError("layers, hidden and nc must be at least 1, nz at least 0")
        self.nz, self.nc, self.image_size, self.scale = nz, nc, image_size, scale
        self.activation = activation
        self.inp = nn.Linear(3 + nz, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, nc)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(
        self, generator: torch.Generator | None = None, weight_std: float = 1.0
    ) -> None:
        """Random weights N(0, 4 weight_std^2 / fan_in), biases N(0, weight_std^2 / 4).

        Four times the variance that keeps activations steady: large enough for sharp,
        saturated shapes, small enough not to dissolve into noise. The output has no bias, so
        no colour dominates.
        """
        for layer in (self.inp, *self.hidden, self.out):
            std = weight_std * math.sqrt(4.0 / layer.weight.shape[1])
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            bias_std = 0.0 if layer is self.out else 0.5 * weight_std
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * bias_std)

    def coordinates(self, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """(size * size, 3): x and y in [-scale, scale] (row-major) and r = sqrt(x^2 + y^2)."""
        t = torch.linspace(-self.scale, self.scale, size, device=device)
        y, x = torch.meshgrid(t, t, indexing="ij")
        r = torch.sqrt(x * x + y * y)
        return torch.stack([x, y, r], -1).reshape(-1, 3)

    def _act(self, h: torch.Tensor, kind: str | None = None) -> torch.Tensor:
        kind = kind or self.activation
        if kind == "tanh":
            return torch.tanh(h)
        if kind == "sin":
            return torch.sin(h)
        if kind == "gaussian":
            return torch.exp(-h * h)
        a, b = h.shape[-1] // 3, 2 * h.shape[-1] // 3  # mixed: a third of the units each
        return torch.cat(
            [
                self._act(h[..., :a], "tanh"),
                self._act(h[..., a:b], "sin"),
                self._act(h[..., b:], "gaussian"),
            ],
            -1,
        )

    def forward(
        self, z: torch.Tensor, size: int | None = None, chunk: int = 1 << 16
    ) -> torch.Tensor:
        size = size or self.image_size
        z = z.reshape(z.shape[0], -1)
        if z.shape[1] != self.nz:
            raise ValueError(f"expected z of size {self.nz}, got {z.shape[1]}")
        n = z.shape[0]
        coords = self.coordinates(size, z.device)
        parts = []
        for start in range(0, coords.shape[0], chunk):  # bounded memory at any size
            c = coords[start : start + chunk]
            x = torch.cat([c.expand(n, -1, -1), z[:, None, :].expand(-1, c.shape[0], -1)], -1)
            h = self._act(self.inp(x))
            for layer in self.hidden:
                h = self._act(layer(h))
            parts.append(torch.tanh(self.out(h)))
        img = torch.cat(parts, 1)  # (N, size * size, nc)
        return img.transpose(1, 2).reshape(n, self.nc, size, size)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else the CPU; ``cuda[:N]`` must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StepError(
            f"device '{name}' was asked for, but CUDA is not available",
            hint="use device: auto or cpu",
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise StepError(
            "device 'mps' was asked for, but it is not available", hint="use device: auto or cpu"
        )
    return torch.device(name)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(nc, H, W) in [-1, 1] -> uint8 H x W x 3."""
    a = ((img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    a = a.permute(1, 2, 0).numpy()
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a


def build(p, seed: int) -> CPPN:
    """A CPPN with the step's settings and random weights drawn from ``seed``."""
    net = CPPN(
        nz=p.nz,
        hidden=p.hidden,
        layers=p.layers,
        nc=1 if p.grayscale else 3,
        activation=p.activation,
        image_size=p.size,
        scale=p.scale,
    )
    net.reset_parameters(torch.Generator().manual_seed(seed), p.weight_std)
    return net


def run(ctx, p):
    """The ``cppn-art`` step: ``count`` images from random CPPNs, seeded by ``ctx.seed``.

    Image i depends only on the seed, i and the settings (not on ``count``). With
    ``shared_weights`` every image comes from one network and its own z: a family of
    variations; otherwise each image has its own network.
    """
    device = resolve_device(ctx.device)
    ctx.info["device"] = str(device)
    out = ctx.image_writer("images")
    shared = (
        build(p, derive_seed(ctx.seed, "weights")).to(device).eval() if p.shared_weights else None
    )
    progress = ctx.progress(p.count, "drawing CPPNs")
    for i in range(p.count):
        net = shared if shared is not None else build(p, derive_seed(ctx.seed, "weights", i))
        net = net.to(device).eval()
        z = torch.randn(
            1, p.nz, generator=torch.Generator().manual_seed(derive_seed(ctx.seed, "z", i))
        )
        with torch.no_grad():
            img = net(z.to(device) * p.z_scale)
        out.add(to_uint8(img[0]), name=f"cppn{i:04d}")
        progress.update()
    progress.close()
    ctx.metrics["images"] = p.count
    ctx.info["network"] = f"CPPN {p.layers} x {p.hidden} {p.activation}, z {p.nz}"
    return {"images": out.finish(generator="cppn", size=p.size)}
