"""The reference for ``bench_dcgan.py``: DCGAN training written as a plain PyTorch loop, the
way pytorch/examples ``dcgan/main.py`` does it.

The same networks (``DCGANGenerator``, ``DCGANDiscriminator``, N(0, 0.02) init), loss (binary
cross-entropy on logits, the non-saturating G loss), optimisers (Adam 2e-4, beta1 0.5) and,
on CUDA, the same precision policy as the plugin (bf16 autocast where supported, else fp16
with a gradient scaler; channels_last). Per iteration: D on a real batch and on G(z) (one G
forward, detached), then G through D on the same G(z). No trainer, no data pipeline:
batches are drawn by index from a float tensor prepared once, and nothing is synchronised
or logged. It is what one would write by hand, so the ratio plugin / reference is the cost
of everything the plugin adds (data order and flips, divergence guard, curves, progress).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from common import PlainGAN, timed_steps


def build(
    image_size: int,
    nz: int,
    ngf: int,
    ndf: int,
    device: torch.device,
    seed: int = 0,
    n_classes: int = 0,
):
    from artforge_torch.nets.dcgan import DCGANDiscriminator, DCGANGenerator
    from artforge_torch.nets.init import init_weights

    torch.manual_seed(seed)
    G = init_weights(DCGANGenerator(nz, ngf, 3, image_size, n_classes)).to(device)
    D = init_weights(DCGANDiscriminator(3, ndf, image_size, n_classes)).to(device)
    return G, D


class PlainDCGAN(PlainGAN):
    """``step(real, y)``: one D update then one G update, as in pytorch/examples."""

    def __init__(self, G, D, device: torch.device, nz: int = 100, lr: float = 2e-4):
        super().__init__(G, D, device, lr)
        self.nz = nz

    def step(
        self, real: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        G, D, scaler = self.G, self.D, self.scaler
        n = real.shape[0]
        z = torch.randn(n, self.nz, device=self.device)
        with self._autocast():
            fake = G(z, y)
        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            out_real = D(real, y).float()
            out_fake = D(fake.detach(), y).float()
            err_d = 0.5 * (
                F.binary_cross_entropy_with_logits(out_real, torch.ones_like(out_real))
                + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake))
            )
        scaler.scale(err_d).backward()
        scaler.step(self.opt_d)
        scaler.update()
        # (2) update G: maximize log(D(G(z)))
        D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            out = D(fake, y).float()
            err_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        scaler.scale(err_g).backward()
        scaler.step(self.opt_g)
        scaler.update()
        D.requires_grad_(True)
        return err_d.detach(), err_g.detach()


def make_batches(count: int, image_size: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(count, 3, image_size, image_size, generator=g) * 2 - 1
    x = x.to(device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def run(
    plain: PlainDCGAN,
    data: torch.Tensor,
    steps: int,
    batch_size: int,
    seed: int = 0,
    labels: torch.Tensor | None = None,
) -> float:
    """Seconds for ``steps`` iterations on random batches of ``data`` (and ``labels`` for a
    conditional pair), synchronised at the end on CUDA."""
    return timed_steps(
        lambda idx: plain.step(data[idx], None if labels is None else labels[idx]),
        len(data),
        data.device,
        steps,
        batch_size,
        seed,
    )
