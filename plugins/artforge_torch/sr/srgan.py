"""SRGAN (Ledig et al. 2017) on the shared GAN trainer core.

The generator (an SRResNet, pretrained with the pixel loss as in the paper) and the SRGAN
discriminator are trained by :class:`artforge_torch.training.GANTrainer`, which brings
resumable full-state checkpoints, the divergence guard (NaN/inf and discriminator collapse,
with rollback), mixed precision and channels_last on CUDA, and loss curves. The generator's
loss is the content loss (pixel loss, plus the VGG19 feature loss when weights are found)
plus ``adversarial_weight`` times the adversarial loss (1e-3 in the paper); both networks use
Adam at lr 1e-4 (the paper's first phase).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..style.util import batch_to_tensor, to_image
from ..training import GANTrainer

BATCHES_PER_EPOCH = 50


@dataclass
class SRGANSettings:
    """What GANTrainer reads from its params, filled from the super-resolve parameters."""

    iterations: int
    batch_size: int
    loss: str = "l1"
    adversarial_weight: float = 1e-3
    perceptual_weight: float = 0.0
    lr: float = 1e-4
    epochs: int = 1
    decay_epochs: int = 0
    ema: float | None = None
    amp: str = "auto"
    channels_last: bool = True
    compile: bool = False
    samples_every: int = 1_000_000
    checkpoint_every: int = 1
    on_divergence: str = "rollback"
    collapse_patience: int = 200
    collapse_threshold: float = 1e-4
    rollback_factor: float = 0.5
    max_rollbacks: int = 3

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs


class SamplerData:
    """GANTrainer's data interface over the core pair sampler (pairs degraded on the fly):
    each epoch's batches are the sampler's batches from an index drawn from the epoch's seed."""

    def __init__(self, sampler, batches_per_epoch: int = BATCHES_PER_EPOCH):
        self.sampler = sampler
        self.per_epoch = batches_per_epoch
        self._fixed = None

    def batches_per_epoch(self, batch_size: int) -> int:
        return self.per_epoch

    def epoch(self, batch_size: int, generator: torch.Generator):
        from artforge.api import derive_seed

        first = derive_seed(int(generator.initial_seed()), "srgan")
        for lo, hi in self.sampler.batches(first, first + self.per_epoch, batch_size):
            yield batch_to_tensor(list(lo)), batch_to_tensor(list(hi))

    def fixed(self, n: int):
        if self._fixed is None:
            lo, hi = self.sampler.batch(-1, n)
            self._fixed = batch_to_tensor(list(lo)), batch_to_tensor(list(hi))
        return self._fixed


class SRGANTrainer(GANTrainer):
    checkpoint_name = "srgan_checkpoint.pt"

    def __init__(self, ctx, settings: SRGANSettings, data: SamplerData, generator, perceptual=None):
        self.generator_net = generator
        self.perceptual = perceptual
        super().__init__(ctx, settings, data)
        if self.perceptual is not None:
            self.perceptual.to(self.rt.device)

    def build(self) -> None:
        from ..nets.losses import GANLoss
        from ..nets.sr import SRDiscriminator

        p = self.p
        self.nets = {"G": self.generator_net, "D": SRDiscriminator()}
        self.opts = {
            k: torch.optim.Adam(net.parameters(), lr=p.lr, betas=(0.9, 0.999))
            for k, net in self.nets.items()
        }
        self.gan = GANLoss("vanilla")

    def train_step(self, batch: Any) -> dict[str, float]:
        p, rt = self.p, self.rt
        lo, hi = (self.to_device(t) for t in batch)
        G, D = self.compiled["G"], self.compiled["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        with rt.autocast():
            sr = G(lo)
        self.nets["D"].requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        with rt.autocast():
            loss_d = self.gan.d_loss(D(hi), D(sr.detach()))
        self.scaler.scale(loss_d).backward()
        self.scaler.step(opt_d)
        self.nets["D"].requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        with rt.autocast():
            pixel = (F.l1_loss if p.loss == "l1" else F.mse_loss)(sr.float(), hi.float())
            content = pixel
            if self.perceptual is not None and p.perceptual_weight > 0:
                content = content + p.perceptual_weight * F.mse_loss(
                    self.perceptual(sr).float(), self.perceptual(hi).float()
                )
            loss_adv = self.gan.g_loss(D(sr))
            loss_g = content + p.adversarial_weight * loss_adv
        self.scaler.scale(loss_g).backward()
        self.scaler.step(opt_g)
        self.scaler.update()
        return {
            "loss_D": loss_d.item(),
            "loss_G": loss_g.item(),
            "loss_G_GAN": loss_adv.item(),
            "loss_pixel": pixel.item(),
        }

    def sample_grid(self) -> np.ndarray:
        lo, hi = self.data.fixed(4)
        sr = self.nets["G"](self.to_device(lo)).float().cpu()
        up = F.interpolate(lo, size=hi.shape[-2:], mode="bicubic", align_corners=False)
        rows = [
            np.concatenate([to_image(u), to_image(s), to_image(h)], axis=1)
            for u, s, h in zip(up, sr, hi)
        ]
        return np.concatenate(rows, axis=0)

    def export(self, ctx: Any) -> dict[str, Any]:
        return {}
