"""The reference for ``bench_cyclegan.py``: CycleGAN training written as a plain PyTorch loop,
the way ``optimize_parameters`` of the reference code (pytorch-CycleGAN-and-pix2pix) does it.

The same networks (two ``ResnetGenerator``, two unconditional ``PatchDiscriminator``, instance
norm, N(0, 0.02) init), losses (LSGAN, lambda_cycle 10, identity 0.5 x 10, D losses halved),
the 50-image history pools (``ImagePool``), optimisers (one Adam(2e-4, beta1 0.5) over both
generators, one over both discriminators) and, on CUDA, the same precision policy as the
plugin (bf16 autocast where supported, else fp16 with a gradient scaler; channels_last).
Per iteration: the four generator passes, the generators' update with the discriminators
frozen, then the discriminators' update on pooled, detached fakes. No trainer, no data
pipeline: batches are drawn by index from float tensors prepared once, and nothing is
synchronised or logged, so the ratio plugin / reference is the cost of everything the
plugin adds (per-domain shuffles, crops and flips, divergence guard, curves, progress).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from common import PlainGAN, random_pairs, timed_steps


def build(ngf: int, ndf: int, n_blocks: int, n_layers_d: int, device: torch.device, seed: int = 0):
    """G: A -> B, F: B -> A, D_A, D_B on ``device``."""
    from artforge_torch.nets.cyclegan import PatchDiscriminator, ResnetGenerator
    from artforge_torch.nets.init import init_weights

    torch.manual_seed(seed)
    gens = [
        init_weights(ResnetGenerator(3, 3, ngf, n_blocks, "instance")).to(device) for _ in range(2)
    ]
    discs = [
        init_weights(PatchDiscriminator(3, ndf=ndf, n_layers=n_layers_d, norm="instance")).to(
            device
        )
        for _ in range(2)
    ]
    return (*gens, *discs)


def _lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    pred = pred.float()
    return F.mse_loss(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))


class PlainCycleGAN(PlainGAN):
    """``step(a, b)``: the generators' update, then the discriminators', as in the paper.
    :class:`PlainGAN`'s two Adams run over both generators (G, F) and both discriminators
    (D_A, D_B), each pair held in one ``ModuleList`` (the same parameters, in order)."""

    def __init__(
        self,
        G,
        Fn,
        D_A,
        D_B,
        device: torch.device,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
    ):
        from artforge_torch.nets.cyclegan import ImagePool

        super().__init__(torch.nn.ModuleList([G, Fn]), torch.nn.ModuleList([D_A, D_B]), device)
        self.G, self.F, self.D_A, self.D_B = G, Fn, D_A, D_B
        self.lambda_cycle, self.lambda_idt = lambda_cycle, lambda_identity * lambda_cycle
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)

    def step(self, a: torch.Tensor, b: torch.Tensor) -> None:
        G, Fn, D_A, D_B, scaler = self.G, self.F, self.D_A, self.D_B, self.scaler
        D_A.requires_grad_(False)
        D_B.requires_grad_(False)
        with self._autocast():
            fake_b = G(a)
            rec_a = Fn(fake_b)
            fake_a = Fn(b)
            rec_b = G(fake_a)
            loss_g = _lsgan(D_B(fake_b), True) + _lsgan(D_A(fake_a), True)
            loss_g = loss_g + self.lambda_cycle * (
                F.l1_loss(rec_a.float(), a.float()) + F.l1_loss(rec_b.float(), b.float())
            )
            loss_g = loss_g + self.lambda_idt * (
                F.l1_loss(G(b).float(), b.float()) + F.l1_loss(Fn(a).float(), a.float())
            )
        self.opt_g.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(self.opt_g)
        D_A.requires_grad_(True)
        D_B.requires_grad_(True)
        pa = self.pool_a.query(fake_a.detach().float())
        pb = self.pool_b.query(fake_b.detach().float())
        with self._autocast():
            loss_d = 0.5 * (_lsgan(D_A(a), True) + _lsgan(D_A(pa), False))
            loss_d = loss_d + 0.5 * (_lsgan(D_B(b), True) + _lsgan(D_B(pb), False))
        self.opt_d.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(self.opt_d)
        scaler.update()


make_batches = random_pairs  # n random images per domain in [-1, 1] on the device


def run(
    loop: PlainCycleGAN,
    a: torch.Tensor,
    b: torch.Tensor,
    iterations: int,
    batch_size: int,
    seed: int = 0,
) -> float:
    """Seconds for ``iterations`` plain steps, each domain's batch drawn by its own indices
    (synchronised at the end); ``a`` and ``b`` hold as many images."""
    return timed_steps(
        lambda idx: loop.step(a[idx[:batch_size]], b[idx[batch_size:]]),
        len(a),
        a.device,
        iterations,
        2 * batch_size,
        seed,
    )
