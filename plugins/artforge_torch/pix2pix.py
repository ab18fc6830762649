"""pix2pix (Isola et al. 2017): conditional GAN for paired image-to-image translation.

G: U-Net; D: 70x70 PatchGAN on concat(source, image); loss: GAN + lambda_l1 * L1;
Adam(2e-4, beta1 0.5) for both; N(0, 0.02) initialisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from artforge.gan_steps import patchgan_kwargs
from artforge.gan_steps import unet_kwargs as generator_kwargs

from .data import to_uint8_images
from .nets.init import init_weights
from .nets.losses import GANLoss, gradient_penalty
from .nets.pix2pix import PatchDiscriminator, UNetGenerator
from .training import GANTrainer
from .training.checkpoint import export_safetensors


class Pix2PixTrainer(GANTrainer):
    def build(self) -> None:
        p = self.p
        G = init_weights(UNetGenerator(**generator_kwargs(p)))
        D = init_weights(PatchDiscriminator(**patchgan_kwargs(p, 6)))
        self.nets = {"G": G, "D": D}
        self.opts = {
            "G": torch.optim.Adam(G.parameters(), lr=p.lr_g, betas=(p.beta1, p.beta2)),
            "D": torch.optim.Adam(D.parameters(), lr=p.lr_d, betas=(p.beta1, p.beta2)),
        }
        self.ema_of = "G"
        self.gan = GANLoss(p.loss)

    def train_step(self, batch: Any) -> dict[str, float]:
        p, rt = self.p, self.rt
        a, b = (self.to_device(t) for t in batch)
        G, D = self.compiled["G"], self.compiled["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        with rt.autocast():
            fake = G(a)
        # -- discriminator: real pairs vs generated pairs
        self.nets["D"].requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        with rt.autocast():
            pred_fake = D(torch.cat([a, fake.detach()], 1))
            pred_real = D(torch.cat([a, b], 1))
            loss_d = self.gan.d_loss(pred_real, pred_fake)
        if p.loss == "wgan-gp":
            loss_d = loss_d + gradient_penalty(
                lambda x: D(torch.cat([a, x], 1)), b, fake, weight=p.gp_weight
            )
        self.scaler.scale(loss_d).backward()
        self.scaler.step(opt_d)
        # -- generator: fool D and stay close to the target (L1)
        self.nets["D"].requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        with rt.autocast():
            loss_gan = self.gan.g_loss(D(torch.cat([a, fake], 1)))
            loss_l1 = F.l1_loss(fake.float(), b.float())
            loss_g = loss_gan + p.lambda_l1 * loss_l1
        self.scaler.scale(loss_g).backward()
        self.scaler.step(opt_g)
        self.scaler.update()
        return {
            "loss_D": loss_d.item(),
            "loss_G": loss_g.item(),
            "loss_G_GAN": loss_gan.item(),
            "loss_L1": loss_l1.item(),
        }

    def generator(self) -> torch.nn.Module:
        return self.ema.shadow if self.ema else self.nets["G"]

    def sample_grid(self) -> np.ndarray:
        a, b = self.data.fixed(4)
        fake = self.generator()(self.to_device(a))
        rows = [
            np.concatenate(list(x), axis=1)
            for x in zip(to_uint8_images(a), to_uint8_images(fake), to_uint8_images(b))
        ]
        return np.concatenate(rows, axis=0)

    def export(self, ctx: Any) -> dict[str, Any]:
        p = self.p
        art = ctx.model_artifact("generator", "generator.safetensors")
        G = self.generator()
        export_safetensors(art.path, G, {"arch": "unet", "model": "pix2pix"})
        from artforge.artifacts import file_sha256

        art.meta.update(
            backend="torch",
            model="pix2pix",
            arch="unet",
            kwargs=generator_kwargs(p),
            image_size=p.image_size,
            multiple=G.multiple,
            ema=bool(self.ema),
            parameters=sum(x.numel() for x in G.parameters()),
            sha256=file_sha256(art.path),
        )
        return {"generator": art}
