"""The reference for ``bench_pix2pix.py``: pix2pix training written as a plain PyTorch loop.

The same networks (``UNetGenerator``, ``PatchDiscriminator``, N(0, 0.02) init), the same
losses (non-saturating GAN loss on logits + 100 * L1) and optimisers (Adam 2e-4, beta1 0.5)
and, on CUDA, the same precision policy as the plugin (bf16 autocast where supported, else
fp16 with a gradient scaler; channels_last). No trainer, no data pipeline: batches are
drawn by index from float tensors prepared once, and nothing is synchronised or logged.
It is what one would write by hand, so the ratio plugin / reference is the cost of
everything the plugin adds (augmentation, divergence guard, curves, progress).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def build(
    image_size: int, ngf: int, ndf: int, n_layers_d: int, device: torch.device, seed: int = 0
):
    from artforge_torch.nets.init import init_weights
    from artforge_torch.nets.pix2pix import PatchDiscriminator, UNetGenerator

    torch.manual_seed(seed)
    G = init_weights(UNetGenerator(3, 3, image_size, ngf=ngf)).to(device)
    D = init_weights(PatchDiscriminator(6, ndf=ndf, n_layers=n_layers_d)).to(device)
    return G, D


class PlainPix2Pix:
    """``step(a, b)``: one D update then one G update, exactly as in the paper."""

    def __init__(self, G, D, device: torch.device, lambda_l1: float = 100.0):
        self.G, self.D, self.device, self.lambda_l1 = G, D, device, lambda_l1
        self.opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        cuda = device.type == "cuda"
        self.dtype = None
        if cuda:
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            G.to(memory_format=torch.channels_last)
            D.to(memory_format=torch.channels_last)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.channels_last = cuda
        G.train()
        D.train()

    def _autocast(self):
        if self.dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, a: torch.Tensor, b: torch.Tensor) -> None:
        G, D, scaler = self.G, self.D, self.scaler
        with self._autocast():
            fake = G(a)
            real_logits = D(torch.cat([a, b], 1))
            fake_logits = D(torch.cat([a, fake.detach()], 1))
            loss_d = 0.5 * (
                F.binary_cross_entropy_with_logits(
                    real_logits.float(), torch.ones_like(real_logits.float())
                )
                + F.binary_cross_entropy_with_logits(
                    fake_logits.float(), torch.zeros_like(fake_logits.float())
                )
            )
        self.opt_d.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(self.opt_d)
        D.requires_grad_(False)
        with self._autocast():
            logits = D(torch.cat([a, fake], 1)).float()
            loss_g = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            loss_g = loss_g + self.lambda_l1 * F.l1_loss(fake.float(), b.float())
        self.opt_g.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(self.opt_g)
        scaler.update()
        D.requires_grad_(True)


def make_batches(n: int, image_size: int, device: torch.device, seed: int = 0):
    """``n`` random pairs in [-1, 1] on the device (content does not change the cost)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 3, image_size, image_size, generator=g) * 2 - 1
    b = torch.rand(n, 3, image_size, image_size, generator=g) * 2 - 1
    a, b = a.to(device), b.to(device)
    if device.type == "cuda":
        a = a.contiguous(memory_format=torch.channels_last)
        b = b.contiguous(memory_format=torch.channels_last)
    return a, b


def run(
    loop: PlainPix2Pix,
    a: torch.Tensor,
    b: torch.Tensor,
    iterations: int,
    batch_size: int,
    seed: int = 0,
) -> float:
    """Seconds for ``iterations`` plain steps on batches drawn by index (synchronised at the end)."""
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(iterations):
        idx = torch.randint(0, len(a), (batch_size,), generator=g).to(a.device)
        loop.step(a[idx], b[idx])
    if a.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0
