"""DCGAN (Radford et al. 2015) and the class-conditional DCGAN with a projection discriminator
(Miyato & Koyama 2018) on the shared :class:`GANTrainer` (checkpoints, resume, divergence
guard, EMA, curves, sample grids, AMP and channels_last on CUDA).

G: transposed convolutions from z (+ a label embedding); D: strided convolutions, and for
cdcgan the projection <embed(y), phi(x)>; Adam(2e-4, beta1 0.5); N(0, 0.02) initialisation;
BatchNorm in both, LeakyReLU(0.2) in D. Each iteration: ``n_critic`` discriminator updates
(fresh z each, the batch's own labels for the generated images), then one generator update
on the last critic step's samples (as pytorch/examples ``dcgan`` does: one G forward per
iteration when n_critic is 1). WGAN-GP adds the gradient penalty on interpolates and uses
layer normalisation in D (a batch-coupled norm breaks the per-sample penalty: Gulrajani et
al. 2017), as the Keras backend does.

With ``eval_data`` the trainer scores samples at every sample epoch with a classifier fitted
on those real images (:class:`artforge.sample_scores.TrainingEval`): series ``frechet``,
``class_accuracy`` (cdcgan) and ``coverage_entropy``.

Same parameters, outputs, metrics and curves (loss_D, loss_G, D_real, D_fake) as the Keras
backend's ``artforge_keras.dcgan``; the fixed noise of the sample grids is drawn from the
same NumPy seed on both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from artforge.api import StepError, derive_seed
from artforge.images import folder_images  # noqa: F401 - re-exported (tests, registered trainers)

from .data import ImageData, to_uint8_images
from .nets.dcgan import DCGANDiscriminator, DCGANGenerator
from .nets.init import init_weights
from .nets.losses import GANLoss, gradient_penalty
from .training import GANTrainer
from .training.checkpoint import export_safetensors, import_safetensors


def generator_kwargs(p: Any, n_classes: int) -> dict[str, Any]:
    return {"nz": p.nz, "ngf": p.ngf, "nc": 3, "image_size": p.image_size, "n_classes": n_classes}


def discriminator_norm(p: Any) -> str:
    """BatchNorm (the paper) except for WGAN-GP, whose per-sample penalty needs a norm that
    does not mix the batch: layer normalisation there (as the Keras backend)."""
    if p.loss == "wgan-gp" and p.norm == "batch":
        return "layer"
    return p.norm


class DCGANTrainer(GANTrainer):
    def __init__(
        self, ctx: Any, params: Any, data: ImageData, n_classes: int, evaluator: Any = None
    ):
        self.n_classes = n_classes
        self.evaluator = evaluator
        super().__init__(ctx, params, data)
        rng = np.random.default_rng(derive_seed(ctx.seed, "fixed-z"))
        rows = n_classes if n_classes else 8
        self.fixed_z = torch.from_numpy(
            rng.standard_normal((rows * 8, params.nz)).astype(np.float32)
        )
        self.fixed_y = torch.arange(rows).repeat_interleave(8) if n_classes else None

    def build(self) -> None:
        p = self.p
        G = init_weights(DCGANGenerator(**generator_kwargs(p, self.n_classes)))
        D = init_weights(
            DCGANDiscriminator(
                3,
                p.ndf,
                p.image_size,
                self.n_classes,
                norm=discriminator_norm(p),
                spectral_norm=p.spectral_norm,
            )
        )
        self.nets = {"G": G, "D": D}
        self.opts = {
            "G": torch.optim.Adam(G.parameters(), lr=p.lr_g, betas=(p.beta1, p.beta2)),
            "D": torch.optim.Adam(D.parameters(), lr=p.lr_d, betas=(p.beta1, p.beta2)),
        }
        self.ema_of = "G"
        self.gan = GANLoss(p.loss)

    def train_step(self, batch: Any) -> dict[str, float]:
        p, rt = self.p, self.rt
        x, y = batch
        real = self.to_device(x)
        y = None if y is None else y.to(rt.device, non_blocking=True)
        n = real.shape[0]
        G, D = self.compiled["G"], self.compiled["D"]
        opt_g, opt_d, scaler = self.opts["G"], self.opts["D"], self.scaler
        self.nets["D"].requires_grad_(True)
        for k in range(p.n_critic):
            z = torch.randn(n, p.nz, device=rt.device)
            if k == p.n_critic - 1:  # the generator step reuses these samples
                with rt.autocast():
                    fake = G(z, y)
                fake_d = fake.detach()
            else:
                with torch.no_grad(), rt.autocast():
                    fake_d = G(z, y)
            opt_d.zero_grad(set_to_none=True)
            with rt.autocast():
                d_real = D(real, y)
                d_fake = D(fake_d, y)
                loss_d = self.gan.d_loss(d_real, d_fake)
            if p.loss == "wgan-gp":
                loss_d = loss_d + gradient_penalty(D, real, fake_d.float(), y, weight=p.gp_weight)
            scaler.scale(loss_d).backward()
            scaler.step(opt_d)
            scaler.update()  # once per optimiser step: n_critic > 1 steps D again
        # -- generator: make D call its samples real
        self.nets["D"].requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        with rt.autocast():
            loss_g = self.gan.g_loss(D(fake, y))
        scaler.scale(loss_g).backward()
        scaler.step(opt_g)
        scaler.update()
        values = torch.stack(
            [
                loss_d.detach().float(),
                loss_g.detach().float(),
                d_real.detach().float().mean(),
                d_fake.detach().float().mean(),
            ]
        ).tolist()  # one device sync
        return dict(zip(("loss_D", "loss_G", "D_real", "D_fake"), values))

    def generator(self) -> torch.nn.Module:
        return self.ema.shadow if self.ema else self.nets["G"]

    def generate(
        self, z: torch.Tensor, y: torch.Tensor | None, batch_size: int = 256
    ) -> np.ndarray:
        """uint8 images (N, S, S, 3) from the sampling generator in inference mode."""
        G = self.generator()
        was_training = G.training
        G.eval()
        out = []
        with torch.inference_mode(), self.rt.autocast():
            for i in range(0, len(z), batch_size):
                zb = z[i : i + batch_size].to(self.rt.device)
                yb = None if y is None else y[i : i + batch_size].to(self.rt.device)
                out.append(to_uint8_images(G(zb, yb)))
        G.train(was_training)
        return (
            np.concatenate(out)
            if out
            else np.zeros((0, self.p.image_size, self.p.image_size, 3), np.uint8)
        )

    def sample_grid(self) -> np.ndarray:
        """Eight samples per row from fixed noise; one row per class for cdcgan."""
        imgs = self.generate(self.fixed_z, self.fixed_y)
        rows = [
            np.concatenate(list(imgs[r * 8 : (r + 1) * 8]), axis=1) for r in range(len(imgs) // 8)
        ]
        return np.concatenate(rows, axis=0)

    def evaluate(self) -> dict[str, float]:
        """Scores of samples from the evaluator's fixed noise (the driver's quality curves)."""
        if self.evaluator is None:
            return {}
        ev = self.evaluator
        z = torch.from_numpy(ev.z)
        y = torch.from_numpy(ev.labels).long() if self.n_classes else None
        return ev.score(self.generate(z, y))

    def export(self, ctx: Any) -> dict[str, Any]:
        from artforge.artifacts import file_sha256

        p = self.p
        art = ctx.model_artifact("generator", "generator.safetensors")
        G = self.generator()
        export_safetensors(art.path, G, {"arch": "dcgan", "model": p.model})
        art.meta.update(
            backend="torch",
            model=p.model,
            arch="dcgan",
            kwargs=generator_kwargs(p, self.n_classes),
            image_size=p.image_size,
            nz=p.nz,
            n_classes=self.n_classes,
            ema=bool(self.ema),
            parameters=sum(x.numel() for x in self.nets["G"].parameters()),
            sha256=file_sha256(art.path),
        )
        return {"generator": art}


def load_generator(meta: dict[str, Any], path: Path) -> DCGANGenerator:
    """A trained DCGAN generator from its model artifact (meta + safetensors), in eval mode."""
    if meta.get("arch") != "dcgan":
        raise StepError(
            f"expected a dcgan/cdcgan generator, got a '{meta.get('arch')}' model",
            hint="sample from the generator of a train-gan step with model: dcgan or cdcgan",
        )
    if meta.get("backend") not in (None, "torch"):
        raise StepError(
            f"the generator was trained with the {meta.get('backend')} backend; sample it with "
            "the same backend",
            hint=f"set backend: {meta.get('backend')} on the sample step",
        )
    net = DCGANGenerator(**meta["kwargs"])
    import_safetensors(path, net)
    return net.eval()


def train_dcgan(ctx: Any, p: Any) -> dict[str, Any]:
    """The train-gan step for model dcgan / cdcgan (:func:`artforge.gan_steps.train_image_gan`
    with this backend's data and trainer, as the Keras backend's ``train_dcgan``)."""
    from artforge.gan_steps import train_image_gan

    return train_image_gan(
        ctx, p, lambda images, labels: ImageData(images, labels, p.image_size, p.flip), DCGANTrainer
    )
