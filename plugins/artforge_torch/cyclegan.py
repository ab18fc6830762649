"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation with cycle consistency.

Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017, as their reference code (pytorch-CycleGAN-and-pix2pix)
trains it, on the shared :class:`GANTrainer` (checkpoints, resume, divergence guard, EMA,
curves, sample grids, AMP):

- two ResNet generators, ``G: A -> B`` and ``F: B -> A`` (``n_blocks`` 6 up to 128 px,
  9 above, unless set), instance norm, no dropout;
- two unconditional 70x70 PatchGANs, ``D_A`` (real A vs F(B)) and ``D_B`` (real B vs G(A));
- LSGAN loss; cycle loss ``lambda_cycle * (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)`` with
  lambda_cycle 10; identity loss ``lambda_identity * lambda_cycle * (|G(b) - b|_1 +
  |F(a) - a|_1)`` with lambda_identity 0.5;
- each discriminator sees generated images through its own 50-image history pool
  (Shrivastava et al. 2017), and its loss is halved;
- one Adam(2e-4, beta1 0.5) for both generators and one for both discriminators; constant
  for ``epochs``, then linear decay to zero over ``decay_epochs``;
- the step order of the reference code: the generators' update (the discriminators
  frozen), then the discriminators' update on pooled, detached fakes.

Naming: ``D_A`` judges domain A and ``D_B`` domain B (the reference code calls them the
other way round, after the generator they train). Loss series: ``loss_D_A``, ``loss_D_B``,
``loss_D`` (their mean, watched by the divergence guard), ``loss_G`` (the total generator
objective), ``loss_G_GAN`` (both adversarial terms), ``loss_cycle`` and ``loss_idt`` (the
sums of both directions' L1 distances, before their weights).

Data: two image sets of any sizes and counts (``source`` = A, ``target`` = B), or a folder
with ``trainA/`` and ``trainB/``; each domain is shuffled on its own every epoch from the
per-epoch generator (deterministic by seed); an epoch is ``max(len(A), len(B))`` images,
the smaller domain wrapping around in further shuffles. Export: one safetensors file
holding both generators (keys ``AtoB.*`` and ``BtoA.*``): ``translate`` with
``direction: AtoB`` applies G, ``BtoA`` applies F.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from artforge.api import StepError
from artforge.gan_steps import patchgan_kwargs, train_unpaired_gan
from artforge.gan_steps import resnet_kwargs as generator_kwargs
from artforge.images import unpaired_from_folder  # noqa: F401 - re-exported (tests, registered trainers)

from .data import UnpairedData, to_uint8_images
from .nets.cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator
from .nets.init import init_weights
from .nets.losses import GANLoss, gradient_penalty
from .training import GANTrainer
from .training.checkpoint import export_safetensors, import_safetensors

DIRECTIONS = ("AtoB", "BtoA")
LOSSES = ("loss_D_A", "loss_D_B", "loss_D", "loss_G", "loss_G_GAN", "loss_cycle", "loss_idt")


def generators(kwargs: dict[str, Any]) -> nn.ModuleDict:
    """The two generators, ``AtoB`` (G) and ``BtoA`` (F), as one module (one state dict)."""
    return nn.ModuleDict({d: ResnetGenerator(**kwargs) for d in DIRECTIONS})


# -- the trainer -------------------------------------------------------------------------------
class CycleGANTrainer(GANTrainer):
    def build(self) -> None:
        p = self.p
        G = init_weights(generators(generator_kwargs(p)))
        D = init_weights(
            nn.ModuleDict({side: PatchDiscriminator(**patchgan_kwargs(p, 3)) for side in "AB"})
        )
        self.nets = {"G": G, "D": D}
        self.opts = {
            "G": torch.optim.Adam(G.parameters(), lr=p.lr_g, betas=(p.beta1, p.beta2)),
            "D": torch.optim.Adam(D.parameters(), lr=p.lr_d, betas=(p.beta1, p.beta2)),
        }
        self.ema_of = "G"
        self.gan = GANLoss(p.loss)
        # the random swaps draw from the global torch RNG, which every checkpoint holds
        self.pools = {"A": ImagePool(p.pool_size), "B": ImagePool(p.pool_size)}

    def _parts(self) -> dict[str, nn.Module]:
        """The four networks to call in a step (torch.compile-d one by one when asked)."""
        parts = getattr(self, "_compiled_parts", None)
        if parts is None:
            G, D = self.nets["G"], self.nets["D"]
            parts = {"G": G["AtoB"], "F": G["BtoA"], "D_A": D["A"], "D_B": D["B"]}
            if self.p.compile and self.rt.is_cuda:
                parts = {k: torch.compile(v) for k, v in parts.items()}
            self._compiled_parts = parts
        return parts

    def train_step(self, batch: Any) -> dict[str, float]:
        p, rt = self.p, self.rt
        a, b = (self.to_device(t) for t in batch)
        n = self._parts()
        G, Fn, D_A, D_B = n["G"], n["F"], n["D_A"], n["D_B"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        lam_idt = p.lambda_identity * p.lambda_cycle
        # -- generators: fool both discriminators (frozen), cycle back, keep identities
        self.nets["D"].requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        with rt.autocast():
            fake_b = G(a)
            rec_a = Fn(fake_b)
            fake_a = Fn(b)
            rec_b = G(fake_a)
            loss_gan = self.gan.g_loss(D_B(fake_b)) + self.gan.g_loss(D_A(fake_a))
            loss_cycle = F.l1_loss(rec_a.float(), a.float()) + F.l1_loss(rec_b.float(), b.float())
            loss_g = loss_gan + p.lambda_cycle * loss_cycle
            if lam_idt > 0:
                loss_idt = F.l1_loss(G(b).float(), b.float()) + F.l1_loss(Fn(a).float(), a.float())
                loss_g = loss_g + lam_idt * loss_idt
            else:
                loss_idt = torch.zeros((), device=a.device)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(opt_g)
        # -- discriminators: real images vs generated ones from the history pools
        self.nets["D"].requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        pooled_b = self.pools["B"].query(fake_b.detach().float())
        pooled_a = self.pools["A"].query(fake_a.detach().float())
        if rt.channels_last:
            pooled_a = pooled_a.contiguous(memory_format=torch.channels_last)
            pooled_b = pooled_b.contiguous(memory_format=torch.channels_last)
        with rt.autocast():
            loss_d_a = self.gan.d_loss(D_A(a), D_A(pooled_a))
            loss_d_b = self.gan.d_loss(D_B(b), D_B(pooled_b))
        if p.loss == "wgan-gp":
            loss_d_a = loss_d_a + gradient_penalty(D_A, a, pooled_a, weight=p.gp_weight)
            loss_d_b = loss_d_b + gradient_penalty(D_B, b, pooled_b, weight=p.gp_weight)
        self.scaler.scale(loss_d_a + loss_d_b).backward()
        self.scaler.step(opt_d)
        self.scaler.update()
        d_a, d_b = loss_d_a.item(), loss_d_b.item()
        return {
            "loss_D_A": d_a,
            "loss_D_B": d_b,
            "loss_D": 0.5 * (d_a + d_b),
            "loss_G": loss_g.item(),
            "loss_G_GAN": loss_gan.item(),
            "loss_cycle": loss_cycle.item(),
            "loss_idt": loss_idt.item(),
        }

    # -- state: the networks etc. (GANTrainer) plus the two image pools -----------------------
    def state(self) -> dict[str, Any]:
        state = super().state()
        state["pools"] = {k: pool.state_dict() for k, pool in self.pools.items()}
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        for k, pool in self.pools.items():
            pool.load_state_dict(state["pools"][k])
            pool.images = [x.to(self.rt.device) for x in pool.images]

    # -- outputs ---------------------------------------------------------------------------------
    def generators(self) -> nn.ModuleDict:
        return self.ema.shadow if self.ema else self.nets["G"]

    def sample_grid(self) -> np.ndarray:
        """Rows A | G(A) | F(G(A)) for four fixed A images, then B | F(B) | G(F(B))."""
        gens = self.generators()
        G, Fn = gens["AtoB"], gens["BtoA"]
        a, b = (self.to_device(x) for x in self.data.fixed(4))
        fake_b, fake_a = G(a), Fn(b)
        cols_a = [to_uint8_images(x) for x in (a, fake_b, Fn(fake_b))]
        cols_b = [to_uint8_images(x) for x in (b, fake_a, G(fake_a))]
        rows = [np.concatenate(list(r), axis=1) for cols in (cols_a, cols_b) for r in zip(*cols)]
        return np.concatenate(rows, axis=0)

    def export(self, ctx: Any) -> dict[str, Any]:
        from artforge.artifacts import file_sha256

        p = self.p
        art = ctx.model_artifact("generator", "generator.safetensors")
        gens = self.generators()
        export_safetensors(
            art.path, gens, {"arch": "resnet", "model": "cyclegan", "directions": "AtoB,BtoA"}
        )
        art.meta.update(
            backend="torch",
            model="cyclegan",
            arch="resnet",
            directions=list(DIRECTIONS),
            kwargs=generator_kwargs(p),
            image_size=p.image_size,
            multiple=4,
            ema=bool(self.ema),
            parameters=sum(x.numel() for x in gens["AtoB"].parameters()),
            sha256=file_sha256(art.path),
        )
        return {"generator": art}


# -- the train-gan step and translate's builder -------------------------------------------------
def train_cyclegan(ctx: Any, p: Any) -> dict[str, Any]:
    def data(a: list[np.ndarray], b: list[np.ndarray], load: int) -> UnpairedData:
        return UnpairedData(a, b, p.image_size, load, p.flip)

    return train_unpaired_gan(ctx, p, data, CycleGANTrainer)


def build_resnet(meta: dict[str, Any], path: Any, direction: str = "AtoB") -> nn.Module:
    """The ``direction`` generator of a CycleGAN artifact (both in one file), or a lone
    ResNet generator's file (keys ``model.*``)."""
    kwargs = dict(meta["kwargs"])
    directions = meta.get("directions")
    if not directions:
        net = ResnetGenerator(**kwargs)
        import_safetensors(path, net)
        return net
    if direction not in directions:
        raise StepError(
            f"the model has no {direction} generator",
            hint=f"use direction: {' or '.join(directions)}",
        )
    gens = generators(kwargs)
    import_safetensors(path, gens)
    return gens[direction]
