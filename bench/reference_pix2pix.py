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

import torch
import torch.nn.functional as F
from common import PlainGAN, random_pairs, timed_steps


def build(
    image_size: int, ngf: int, ndf: int, n_layers_d: int, device: torch.device, seed: int = 0
):
    from artforge_torch.nets.init import init_weights
    from artforge_torch.nets.pix2pix import PatchDiscriminator, UNetGenerator

    torch.manual_seed(seed)
    G = init_weights(UNetGenerator(3, 3, image_size, ngf=ngf)).to(device)
    D = init_weights(PatchDiscriminator(6, ndf=ndf, n_layers=n_layers_d)).to(device)
    return G, D


class PlainPix2Pix(PlainGAN):
    """``step(a, b)``: one D update then one G update, exactly as in the paper."""

    def __init__(self, G, D, device: torch.device, lambda_l1: float = 100.0):
        super().__init__(G, D, device)
        self.lambda_l1 = lambda_l1

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


make_batches = random_pairs  # n random pairs in [-1, 1] on the device


def run(
    loop: PlainPix2Pix,
    a: torch.Tensor,
    b: torch.Tensor,
    iterations: int,
    batch_size: int,
    seed: int = 0,
) -> float:
    """Seconds for ``iterations`` plain steps on batches drawn by index (synchronised at the end)."""
    return timed_steps(
        lambda idx: loop.step(a[idx], b[idx]), len(a), a.device, iterations, batch_size, seed
    )
