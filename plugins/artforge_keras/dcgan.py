"""DCGAN (Radford et al. 2015) and the class-conditional DCGAN with a projection discriminator
(Miyato & Koyama 2018) in Keras, on the shared GAN trainer (checkpoints, resume, divergence
guard, EMA, sample grids).

G: transposed convolutions from z (+ a label embedding); D: strided convolutions, and for
cdcgan the projection <embed(y), phi(x)>; Adam(2e-4, beta1 0.5); N(0, 0.02) initialisation;
each step: ``n_critic`` discriminator updates (fresh z each, the batch's own labels for the
generated images), then one generator update. WGAN-GP adds the gradient penalty on
interpolates and uses layer normalisation in D (a batch-coupled norm breaks the per-sample
penalty: Gulrajani et al. 2017).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from artforge.api import derive_seed

from .backend import keras_module
from .data import ImageData, to_uint8_images
from .nets.dcgan import DCGANDiscriminator, DCGANGenerator
from .nets.layers import count_parameters, init_weights
from .nets.losses import GANLoss, gradient_penalty
from .training.checkpoint import save_weights_file
from .training.trainer import GANModel, GANTrainer, adam

keras = keras_module()
ops = keras.ops

LOSSES = ["loss_D", "loss_G", "D_real", "D_fake"]


class DCGAN(GANModel):
    """``compile(g_optimizer=, d_optimizer=, gan_loss=, gp_weight=, n_critic=)``; ``fit`` on
    uint8 images (and int labels for the conditional model)."""

    def __init__(
        self,
        generator,
        discriminator,
        *,
        nz: int,
        n_classes: int,
        seed: int = 0,
        ema=None,
        ema_net=None,
    ):
        super().__init__(name="dcgan")
        self.generator = generator
        self.discriminator = discriminator
        self.nz, self.n_classes = nz, n_classes
        self.init_tracking(LOSSES, seed, ema, ema_net)

    def _g_inputs(self, z, y):
        return [z, y] if self.n_classes else z

    def _d_inputs(self, x, y):
        return [x, y] if self.n_classes else x

    def train_step(self, data):
        import tensorflow as tf

        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(x, "float32") / 127.5 - 1.0
        n = ops.shape(real)[0]
        y = ops.cast(y, "int32") if y is not None else None
        G, D, s = self.generator, self.discriminator, self.settings
        for _ in range(s["n_critic"]):
            z = keras.random.normal((n, self.nz), seed=self.seed_generator)
            fake = ops.stop_gradient(ops.cast(G(self._g_inputs(z, y), training=True), "float32"))
            with tf.GradientTape() as d_tape:
                d_real = D(self._d_inputs(real, y), training=True)
                d_fake = D(self._d_inputs(fake, y), training=True)
                loss_d = self.gan_loss.d_loss(d_real, d_fake)
                if self.gan_loss.kind == "wgan-gp":
                    loss_d = loss_d + gradient_penalty(
                        lambda v, training: D(self._d_inputs(v, y), training=training),
                        real,
                        fake,
                        weight=s["gp_weight"],
                        seed=self.seed_generator,
                    )
                scaled_d = self.d_optimizer.scale_loss(loss_d)
            self.apply(self.d_optimizer, d_tape, scaled_d, D.trainable_variables)
        z = keras.random.normal((n, self.nz), seed=self.seed_generator)
        with tf.GradientTape() as g_tape:
            fake = ops.cast(G(self._g_inputs(z, y), training=True), "float32")
            loss_g = self.gan_loss.g_loss(D(self._d_inputs(fake, y), training=True))
            scaled_g = self.g_optimizer.scale_loss(loss_g)
        self.apply(self.g_optimizer, g_tape, scaled_g, G.trainable_variables)
        self.update_ema()
        return self.report(
            {
                "loss_D": loss_d,
                "loss_G": loss_g,
                "D_real": ops.mean(ops.cast(d_real, "float32")),
                "D_fake": ops.mean(ops.cast(d_fake, "float32")),
            }
        )


def generator_kwargs(p: Any, n_classes: int) -> dict[str, Any]:
    return {"nz": p.nz, "ngf": p.ngf, "nc": 3, "image_size": p.image_size, "n_classes": n_classes}


def build_dcgan(p: Any, n_classes: int, seed: int, loss_scaling: bool = False) -> DCGAN:
    norm = p.norm if p.loss != "wgan-gp" else ("layer" if p.norm == "batch" else p.norm)
    G = init_weights(DCGANGenerator(**generator_kwargs(p, n_classes)), seed=derive_seed(seed, "G"))
    D = init_weights(
        DCGANDiscriminator(
            3, p.ndf, p.image_size, n_classes, norm=norm, spectral_norm=p.spectral_norm
        ),
        seed=derive_seed(seed, "D"),
    )
    ema_net = (
        DCGANGenerator(**generator_kwargs(p, n_classes), name="dcgan_g_ema") if p.ema else None
    )
    model = DCGAN(
        G,
        D,
        nz=p.nz,
        n_classes=n_classes,
        seed=derive_seed(seed, "gan"),
        ema=p.ema,
        ema_net=ema_net,
    )
    model.compile(
        g_optimizer=adam(p.lr_g, p.beta1, p.beta2, loss_scaling),
        d_optimizer=adam(p.lr_d, p.beta1, p.beta2, loss_scaling),
        gan_loss=GANLoss(p.loss),
        gp_weight=p.gp_weight,
        n_critic=p.n_critic,
        jit_compile=bool(p.compile),
    )
    return model


class DCGANTrainer(GANTrainer):
    def __init__(self, ctx: Any, params: Any, data: ImageData, n_classes: int, evaluator=None):
        self.n_classes = n_classes
        self.evaluator = evaluator
        super().__init__(ctx, params, data)
        rng = np.random.default_rng(derive_seed(ctx.seed, "fixed-z"))
        rows = n_classes if n_classes else 8
        self.fixed_z = rng.standard_normal((rows * 8, params.nz)).astype("float32")
        self.fixed_y = np.repeat(np.arange(rows), 8).astype("int32") if n_classes else None

    def build(self) -> None:
        p = self.p
        self.model = build_dcgan(p, self.n_classes, self.ctx.seed, self.rt.loss_scaling)
        self.base_lrs = {"G": p.lr_g, "D": p.lr_d}

    def generator(self):
        return self.model.sample_generator()

    def evaluate(self) -> dict[str, float]:
        """Scores of samples from the evaluator's fixed noise (the driver's quality curves)."""
        ev = self.evaluator
        if ev is None:
            return {}
        inputs = [ev.z, ev.labels.astype("int32")] if self.n_classes else ev.z
        return ev.score(to_uint8_images(self.inference(self.generator(), inputs)))

    def sample_grid(self) -> np.ndarray:
        """Eight samples per row from fixed noise; one row per class for cdcgan."""
        inputs = [self.fixed_z, self.fixed_y] if self.n_classes else self.fixed_z
        imgs = to_uint8_images(self.inference(self.generator(), inputs))
        rows = [
            np.concatenate(list(imgs[r * 8 : (r + 1) * 8]), axis=1) for r in range(len(imgs) // 8)
        ]
        return np.concatenate(rows, axis=0)

    def export(self, ctx: Any) -> dict[str, Any]:
        from artforge.artifacts import file_sha256

        p = self.p
        art = ctx.model_artifact("generator", "generator.weights.h5")
        G = self.generator()
        save_weights_file(art.path, G)
        art.meta.update(
            backend="keras",
            format="keras .weights.h5",
            model=p.model,
            arch="dcgan",
            kwargs=generator_kwargs(p, self.n_classes),
            image_size=p.image_size,
            nz=p.nz,
            n_classes=self.n_classes,
            ema=bool(self.model.ema_generator is not None),
            parameters=count_parameters(self.model.generator),
            sha256=file_sha256(art.path),
        )
        return {"generator": art}
