"""The GAN steps, networks and trainers of the PyTorch backend (no torch import here)."""

from __future__ import annotations

from artforge.api import Component
from artforge.gan_steps import gan_step_types

STEPS = gan_step_types("torch", "artforge_torch.gan_steps", "artforge_torch.sample")

MODELS = [
    Component(
        "generator",
        "unet",
        "artforge_torch.nets.pix2pix:UNetGenerator",
        description="pix2pix U-Net generator (Isola et al. 2017)",
    ),
    Component(
        "discriminator",
        "patchgan",
        "artforge_torch.nets.pix2pix:PatchDiscriminator",
        description="70x70 PatchGAN discriminator",
    ),
    Component(
        "generator",
        "resnet",
        "artforge_torch.nets.cyclegan:ResnetGenerator",
        description="CycleGAN ResNet generator, 6 or 9 blocks (Zhu et al. 2017)",
        loader="artforge_torch.cyclegan:build_resnet",
    ),
    Component(
        "generator",
        "dcgan",
        "artforge_torch.nets.dcgan:DCGANGenerator",
        description="DCGAN generator, optionally class-conditional (Radford et al. 2015)",
    ),
    Component(
        "discriminator",
        "dcgan",
        "artforge_torch.nets.dcgan:DCGANDiscriminator",
        description="DCGAN discriminator; projection discriminator when conditional (Miyato & Koyama 2018)",
    ),
]

# train-gan builds the data of each one's kind, then runs a trainer class T(ctx, params, data)
# (fit, export) or a function run(ctx, params) -> outputs
TRAINERS = [
    Component(
        "trainer",
        "pix2pix",
        "artforge_torch.pix2pix:Pix2PixTrainer",
        description="paired translation: GAN + lambda * L1",
        data="paired",
    ),
    Component(
        "trainer",
        "cyclegan",
        "artforge_torch.cyclegan:train_cyclegan",
        description="unpaired translation: two GANs + cycle and identity L1, image pools",
        data="unpaired",
    ),
    Component(
        "trainer",
        "dcgan",
        "artforge_torch.dcgan:train_dcgan",
        description="images from noise (Radford et al. 2015)",
        data="images",
    ),
    Component(
        "trainer",
        "cdcgan",
        "artforge_torch.dcgan:train_dcgan",
        description="class-conditional DCGAN, projection discriminator",
        data="images",
    ),
]
