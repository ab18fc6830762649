"""pix2pix (Isola et al. 2017) in Keras: conditional GAN for paired image-to-image translation.

G: U-Net; D: 70x70 PatchGAN on concat(source, image); loss: GAN + lambda_l1 * L1;
Adam(2e-4, beta1 0.5) for both; N(0, 0.02) initialisation. The step is the PyTorch
backend's, in the same order: G(a); D's update on (a, G(a)) and (a, b); G's update against
the updated D.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from artforge.api import derive_seed
from artforge.gan_steps import patchgan_kwargs
from artforge.gan_steps import unet_kwargs as generator_kwargs

from .backend import keras_module
from .data import to_float, to_uint8_images
from .nets.layers import count_parameters, init_weights
from .nets.losses import GANLoss, gradient_penalty
from .nets.pix2pix import PatchDiscriminator, UNetGenerator
from .training.checkpoint import save_weights_file
from .training.trainer import GANModel, GANTrainer, adam

keras = keras_module()
ops = keras.ops

LOSSES = ["loss_D", "loss_G", "loss_G_GAN", "loss_L1"]


class Pix2Pix(GANModel):
    """The pix2pix GAN as a ``keras.Model``: ``compile(g_optimizer=, d_optimizer=,
    gan_loss=, lambda_l1=, gp_weight=)``, then ``fit`` on uint8 (N, S, S, 6) batches of
    (source | target)."""

    def __init__(
        self, generator, discriminator, *, seed: int = 0, ema: float | None = None, ema_net=None
    ):
        super().__init__(name="pix2pix")
        self.generator = generator
        self.discriminator = discriminator
        self.init_tracking(LOSSES, seed, ema, ema_net)

    def train_step(self, data):
        import tensorflow as tf

        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.cast(x, "float32") / 127.5 - 1.0
        a, b = x[..., :3], x[..., 3:]
        G, D = self.generator, self.discriminator
        s = self.settings
        with tf.GradientTape() as g_tape:
            fake = ops.cast(G(a, training=True), "float32")
            with g_tape.stop_recording():
                # -- discriminator: real pairs vs generated pairs
                with tf.GradientTape() as d_tape:
                    pred_fake = D(ops.concatenate([a, ops.stop_gradient(fake)], -1), training=True)
                    pred_real = D(ops.concatenate([a, b], -1), training=True)
                    loss_d = self.gan_loss.d_loss(pred_real, pred_fake)
                    if self.gan_loss.kind == "wgan-gp":
                        loss_d = loss_d + gradient_penalty(
                            lambda y, training: D(ops.concatenate([a, y], -1), training=training),
                            b,
                            fake,
                            weight=s["gp_weight"],
                            seed=self.seed_generator,
                        )
                    scaled_d = self.d_optimizer.scale_loss(loss_d)
                self.apply(self.d_optimizer, d_tape, scaled_d, D.trainable_variables)
            # -- generator: fool the updated D and stay close to the target (L1)
            loss_gan = self.gan_loss.g_loss(D(ops.concatenate([a, fake], -1), training=True))
            loss_l1 = ops.mean(ops.abs(fake - b))
            loss_g = loss_gan + s["lambda_l1"] * loss_l1
            scaled_g = self.g_optimizer.scale_loss(loss_g)
        self.apply(self.g_optimizer, g_tape, scaled_g, G.trainable_variables)
        self.update_ema()
        return self.report(
            {"loss_D": loss_d, "loss_G": loss_g, "loss_G_GAN": loss_gan, "loss_L1": loss_l1}
        )


def build_pix2pix(p: Any, seed: int, loss_scaling: bool = False) -> Pix2Pix:
    """Networks (N(0, 0.02) init), optimisers and losses of ``train-gan`` ``model: pix2pix``."""
    G = init_weights(UNetGenerator(**generator_kwargs(p)), seed=derive_seed(seed, "G"))
    D = init_weights(
        PatchDiscriminator(**patchgan_kwargs(p, 6)),
        seed=derive_seed(seed, "D"),
    )
    ema_net = UNetGenerator(**generator_kwargs(p), name="unet_ema") if p.ema else None
    model = Pix2Pix(G, D, seed=derive_seed(seed, "gan"), ema=p.ema, ema_net=ema_net)
    model.compile(
        g_optimizer=adam(p.lr_g, p.beta1, p.beta2, loss_scaling),
        d_optimizer=adam(p.lr_d, p.beta1, p.beta2, loss_scaling),
        gan_loss=GANLoss(p.loss),
        lambda_l1=p.lambda_l1,
        gp_weight=p.gp_weight,
        jit_compile=bool(p.compile),
    )
    return model


class Pix2PixTrainer(GANTrainer):
    def build(self) -> None:
        p = self.p
        self.model = build_pix2pix(p, self.ctx.seed, self.rt.loss_scaling)
        self.base_lrs = {"G": p.lr_g, "D": p.lr_d}

    def generator(self):
        return self.model.sample_generator()

    def sample_grid(self) -> np.ndarray:
        fixed = self.data.fixed(4)
        a, b = fixed[..., :3], fixed[..., 3:]
        fake = to_uint8_images(self.inference(self.generator(), to_float(a)))
        rows = [np.concatenate(list(x), axis=1) for x in zip(a, fake, b)]
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
            model="pix2pix",
            arch="unet",
            kwargs=generator_kwargs(p),
            image_size=p.image_size,
            multiple=2 ** int(np.log2(p.image_size)),
            ema=bool(self.model.ema_generator is not None),
            parameters=count_parameters(G if G.trainable else self.model.generator),
            sha256=file_sha256(art.path),
        )
        return {"generator": art}
