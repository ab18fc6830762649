"""CycleGAN (Zhu et al. 2017) in Keras: unpaired image-to-image translation, on the shared
Keras GAN trainer (checkpoints, resume, divergence guard, EMA, curves, sample grids).

The same model, parameters, losses, step order and outputs as ``artforge_torch.cyclegan``:
two ResNet generators ``G: A -> B`` and ``F: B -> A``, two unconditional 70x70 PatchGANs
``D_A`` (real A vs F(B)) and ``D_B`` (real B vs G(A)), LSGAN, cycle loss x lambda_cycle (10),
identity loss x lambda_identity * lambda_cycle (0.5 x 10), 50-image history pools, D losses
halved, one Adam(2e-4, beta1 0.5) for both generators and one for both discriminators, the
generators' update first, then the discriminators' on pooled fakes. Loss series:
``loss_D_A``, ``loss_D_B``, ``loss_D`` (their mean: the divergence guard's), ``loss_G``,
``loss_G_GAN``, ``loss_cycle``, ``loss_idt``.

The history pools live in the graph (:class:`ImagePool`, non-trainable weights of the
model), so the compiled ``train_step`` uses them and every checkpoint holds them; their
random draws come from the model's ``SeedGenerator`` (also in the checkpoint). Export: one
``.weights.h5`` holding both generators (:class:`Generators`); translate picks one by
``direction``. A PyTorch CycleGAN artifact (one safetensors file, keys ``AtoB.*`` and
``BtoA.*``) translates here too, converted layer by layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from artforge.api import StepError, derive_seed
from artforge.gan_steps import patchgan_kwargs, train_unpaired_gan
from artforge.gan_steps import resnet_kwargs as generator_kwargs
from artforge.images import unpaired_from_folder  # noqa: F401 - re-exported (tests, registered trainers)

from .backend import keras_module
from .data import UnpairedData, to_float, to_uint8_images
from .nets.cyclegan import PatchDiscriminator, ResnetGenerator
from .nets.layers import count_parameters, init_weights
from .nets.losses import GANLoss, gradient_penalty
from .training.checkpoint import save_weights_file
from .training.trainer import GANModel, GANTrainer, adam

keras = keras_module()
ops = keras.ops

DIRECTIONS = ("AtoB", "BtoA")
LOSSES = ["loss_D_A", "loss_D_B", "loss_D", "loss_G", "loss_G_GAN", "loss_cycle", "loss_idt"]


# -- networks ------------------------------------------------------------------------------------
class Generators(keras.Model):
    """The two generators, ``AtoB`` (G) and ``BtoA`` (F), as one model (one weights file)."""

    def __init__(self, kwargs: dict[str, Any], name: str = "generators"):
        super().__init__(name=name)
        self.AtoB = ResnetGenerator(**kwargs, name=f"{name}_AtoB")
        self.BtoA = ResnetGenerator(**kwargs, name=f"{name}_BtoA")
        self.config = dict(kwargs)
        self.built = True

    def direction(self, direction: str):
        return self.AtoB if direction == "AtoB" else self.BtoA

    def call(self, x, training=False):
        return self.AtoB(x, training=training)


class Discriminators(keras.Model):
    """``A`` judges domain A (real A vs F(B)), ``B`` domain B (real B vs G(A))."""

    def __init__(self, kw: dict[str, Any]):
        super().__init__(name="discriminators")
        self.A = PatchDiscriminator(**kw, name="patchgan_A")
        self.B = PatchDiscriminator(**kw, name="patchgan_B")
        self.built = True

    def call(self, x, training=False):
        return self.A(x, training=training)


class ImagePool(keras.layers.Layer):
    """The history of generated images of ``artforge_torch.nets.cyclegan.ImagePool``
    (Shrivastava et al. 2017) as non-trainable weights: while it fills, each image is stored
    and returned as it is; once full, each new image is, with probability 0.5, swapped with a
    random stored one (the older is returned), else returned as it is. ``size=0``: off."""

    def __init__(self, size: int, image_size: int, channels: int = 3, **kw):
        super().__init__(**kw)
        self.size = int(size)
        shape = (max(self.size, 1), image_size, image_size, channels)
        # under a MirroredStrategy each replica updates its own copy; the first one's is kept
        kw = dict(initializer="zeros", trainable=False, aggregation="only_first_replica")
        self.images = self.add_weight(shape=shape, name="images", dtype="float32", **kw)
        self.count = self.add_weight(shape=(), name="count", dtype="int32", **kw)
        self.built = True

    def query(self, images, seed):
        """(N, H, W, C) new images -> (N, H, W, C): each new or an older stored one."""
        if self.size == 0:
            return images
        import tensorflow as tf

        images = ops.cast(images, "float32")
        out = []
        for i in range(images.shape[0]):
            image = images[i]
            u = keras.random.uniform((), seed=seed)
            j = keras.random.randint((), 0, self.size, seed=seed)
            count = ops.convert_to_tensor(self.count)
            full = count >= self.size
            swap = ops.logical_and(full, u < 0.5)
            idx = ops.where(full, j, ops.minimum(count, self.size - 1))
            stored = ops.convert_to_tensor(self.images)
            old = ops.take(stored, idx, axis=0)
            new = ops.where(ops.logical_or(ops.logical_not(full), swap), image, old)
            self.images.assign(
                tf.tensor_scatter_nd_update(stored, ops.reshape(idx, (1, 1)), new[None])
            )
            self.count.assign(ops.minimum(count + 1, self.size))
            out.append(ops.where(swap, old, image))
        return ops.stack(out)

    def stored(self) -> np.ndarray:
        """The images held now (for tests and inspection)."""
        return np.asarray(self.images)[: int(self.count.numpy())]


def _l1(x, y):
    return ops.mean(ops.abs(ops.cast(x, "float32") - ops.cast(y, "float32")))


class CycleGAN(GANModel):
    """The CycleGAN as a ``keras.Model``: ``compile(g_optimizer=, d_optimizer=, gan_loss=,
    lambda_cycle=, lambda_identity=, gp_weight=)``, then ``fit`` on uint8 (N, S, S, 6)
    batches of (a | b), each half from its own domain's shuffled order."""

    def __init__(
        self,
        generators: Generators,
        discriminators: Discriminators,
        *,
        image_size: int,
        batch_size: int,
        pool_size: int = 50,
        seed: int = 0,
        ema: float | None = None,
        ema_net: Generators | None = None,
    ):
        super().__init__(name="cyclegan")
        self.generator = generators
        self.discriminator = discriminators
        self.batch_size = int(batch_size)
        self.pool_A = ImagePool(pool_size, image_size, name="pool_A")
        self.pool_B = ImagePool(pool_size, image_size, name="pool_B")
        self.init_tracking(LOSSES, seed, ema, ema_net)

    def train_step(self, data):
        import tensorflow as tf

        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.cast(x, "float32") / 127.5 - 1.0
        x = ops.reshape(x, (self.batch_size, x.shape[1], x.shape[2], 6))  # static batch
        a, b = x[..., :3], x[..., 3:]
        G, Fn = self.generator.AtoB, self.generator.BtoA
        D_A, D_B = self.discriminator.A, self.discriminator.B
        s = self.settings
        lam_c = s["lambda_cycle"]
        lam_idt = s["lambda_identity"] * lam_c
        # -- generators: fool both discriminators, cycle back, keep identities
        with tf.GradientTape() as g_tape:
            fake_b = ops.cast(G(a, training=True), "float32")
            rec_a = Fn(fake_b, training=True)
            fake_a = ops.cast(Fn(b, training=True), "float32")
            rec_b = G(fake_a, training=True)
            loss_gan = self.gan_loss.g_loss(D_B(fake_b, training=True)) + self.gan_loss.g_loss(
                D_A(fake_a, training=True)
            )
            loss_cycle = _l1(rec_a, a) + _l1(rec_b, b)
            loss_g = loss_gan + lam_c * loss_cycle
            if lam_idt > 0:
                loss_idt = _l1(G(b, training=True), b) + _l1(Fn(a, training=True), a)
                loss_g = loss_g + lam_idt * loss_idt
            else:
                loss_idt = ops.zeros(())
            scaled_g = self.g_optimizer.scale_loss(loss_g)
        self.apply(self.g_optimizer, g_tape, scaled_g, self.generator.trainable_variables)
        # -- discriminators: real images vs generated ones from the history pools
        pooled_b = self.pool_B.query(ops.stop_gradient(fake_b), self.seed_generator)
        pooled_a = self.pool_A.query(ops.stop_gradient(fake_a), self.seed_generator)
        with tf.GradientTape() as d_tape:
            loss_d_a = self.gan_loss.d_loss(D_A(a, training=True), D_A(pooled_a, training=True))
            loss_d_b = self.gan_loss.d_loss(D_B(b, training=True), D_B(pooled_b, training=True))
            if self.gan_loss.kind == "wgan-gp":
                loss_d_a = loss_d_a + gradient_penalty(
                    D_A, a, pooled_a, weight=s["gp_weight"], seed=self.seed_generator
                )
                loss_d_b = loss_d_b + gradient_penalty(
                    D_B, b, pooled_b, weight=s["gp_weight"], seed=self.seed_generator
                )
            scaled_d = self.d_optimizer.scale_loss(loss_d_a + loss_d_b)
        self.apply(self.d_optimizer, d_tape, scaled_d, self.discriminator.trainable_variables)
        self.update_ema()
        return self.report(
            {
                "loss_D_A": loss_d_a,
                "loss_D_B": loss_d_b,
                "loss_D": 0.5 * (loss_d_a + loss_d_b),
                "loss_G": loss_g,
                "loss_G_GAN": loss_gan,
                "loss_cycle": loss_cycle,
                "loss_idt": loss_idt,
            }
        )


def build_cyclegan(p: Any, seed: int, loss_scaling: bool = False) -> CycleGAN:
    """Networks (N(0, 0.02) init), pools, optimisers and losses of ``model: cyclegan``."""
    kw = generator_kwargs(p)
    gens = Generators(kw)
    for d in DIRECTIONS:
        init_weights(gens.direction(d), seed=derive_seed(seed, "G", d))
    discs = Discriminators(patchgan_kwargs(p, 3))
    for side in ("A", "B"):
        init_weights(getattr(discs, side), seed=derive_seed(seed, "D", side))
    ema_net = Generators(kw, name="generators_ema") if p.ema else None
    model = CycleGAN(
        gens,
        discs,
        image_size=p.image_size,
        batch_size=p.batch_size,
        pool_size=p.pool_size,
        seed=derive_seed(seed, "gan"),
        ema=p.ema,
        ema_net=ema_net,
    )
    model.compile(
        g_optimizer=adam(p.lr_g, p.beta1, p.beta2, loss_scaling),
        d_optimizer=adam(p.lr_d, p.beta1, p.beta2, loss_scaling),
        gan_loss=GANLoss(p.loss),
        lambda_cycle=p.lambda_cycle,
        lambda_identity=p.lambda_identity,
        gp_weight=p.gp_weight,
        jit_compile=bool(p.compile),
    )
    return model


# -- the trainer -----------------------------------------------------------------------------------
class CycleGANTrainer(GANTrainer):
    def build(self) -> None:
        p = self.p
        self.model = build_cyclegan(p, self.ctx.seed, self.rt.loss_scaling)
        self.base_lrs = {"G": p.lr_g, "D": p.lr_d}

    def generators(self) -> Generators:
        return self.model.sample_generator()

    def sample_grid(self) -> np.ndarray:
        """Rows A | G(A) | F(G(A)) for four fixed A images, then B | F(B) | G(F(B))."""
        gens = self.generators()
        a, b = self.data.fixed(4)
        fake_b = self.inference(gens.AtoB, to_float(a))
        fake_a = self.inference(gens.BtoA, to_float(b))
        cols_a = [a, to_uint8_images(fake_b), to_uint8_images(self.inference(gens.BtoA, fake_b))]
        cols_b = [b, to_uint8_images(fake_a), to_uint8_images(self.inference(gens.AtoB, fake_a))]
        rows = [np.concatenate(list(r), axis=1) for cols in (cols_a, cols_b) for r in zip(*cols)]
        return np.concatenate(rows, axis=0)

    def export(self, ctx: Any) -> dict[str, Any]:
        from artforge.artifacts import file_sha256

        p = self.p
        art = ctx.model_artifact("generator", "generator.weights.h5")
        gens = self.generators()
        save_weights_file(art.path, gens)
        art.meta.update(
            backend="keras",
            format="keras .weights.h5",
            model="cyclegan",
            arch="resnet",
            directions=list(DIRECTIONS),
            kwargs=generator_kwargs(p),
            image_size=p.image_size,
            multiple=4,
            ema=bool(self.model.ema_generator is not None),
            parameters=count_parameters(self.model.generator.AtoB),
            sha256=file_sha256(art.path),
        )
        return {"generator": art}


# -- the train-gan step and translate's builder ---------------------------------------------------
def train_cyclegan(ctx: Any, p: Any) -> dict[str, Any]:
    def data(a: list[np.ndarray], b: list[np.ndarray], load: int) -> UnpairedData:
        return UnpairedData(a, b, p.image_size, load, p.flip, seed=ctx.seed)

    return train_unpaired_gan(ctx, p, data, CycleGANTrainer, " (keras)")


def build_resnet(meta: dict[str, Any], path: Any, direction: str = "AtoB"):
    """The ``direction`` generator of a CycleGAN artifact: Keras' ``.weights.h5`` of both
    generators, or the PyTorch backend's safetensors (keys ``AtoB.*``, ``BtoA.*``); a lone
    ResNet generator's file (no ``directions`` in the meta) works too."""
    kwargs = dict(meta["kwargs"])
    directions = meta.get("directions")
    path = Path(path)
    if directions and direction not in directions:
        raise StepError(
            f"the model has no {direction} generator",
            hint=f"use direction: {' or '.join(directions)}",
        )
    torch_file = path.suffix == ".safetensors" or meta.get("backend") == "torch"
    try:
        if torch_file:
            from safetensors.numpy import load_file

            from .nets.convert import load_torch_state

            state = load_file(str(path))
            if directions:
                prefix = f"{direction}."
                state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            net = ResnetGenerator(**kwargs)
            load_torch_state(net, state)
            return net
        if not directions:
            net = ResnetGenerator(**kwargs)
            net.load_weights(str(path))
            return net
        gens = Generators(kwargs)
        gens.load_weights(str(path))
        return gens.direction(direction)
    except Exception as exc:
        raise StepError(
            f"cannot load the weights {path} into the resnet network: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from None
