"""The GAN steps, networks and trainers of the Keras backend (no keras import here)."""

from __future__ import annotations

from artforge.api import Component
from artforge.gan_steps import gan_step_types

STEPS = gan_step_types("keras", "artforge_keras.gan_steps", "artforge_keras.sample", " on Keras 3")

MODELS = [
    Component(
        "generator",
        "unet",
        "artforge_keras.nets.pix2pix:UNetGenerator",
        description="pix2pix U-Net generator (Isola et al. 2017)",
    ),
    Component(
        "discriminator",
        "patchgan",
        "artforge_keras.nets.pix2pix:PatchDiscriminator",
        description="70x70 PatchGAN discriminator",
    ),
    Component(
        "generator",
        "dcgan",
        "artforge_keras.nets.dcgan:DCGANGenerator",
        description="DCGAN generator, optionally class-conditional (Radford et al. 2015)",
    ),
    Component(
        "discriminator",
        "dcgan",
        "artforge_keras.nets.dcgan:DCGANDiscriminator",
        description="DCGAN discriminator; projection discriminator when conditional (Miyato & Koyama 2018)",
    ),
    Component(
        "generator",
        "resnet",
        "artforge_keras.nets.cyclegan:ResnetGenerator",
        description="CycleGAN ResNet generator, 6 or 9 blocks (Zhu et al. 2017)",
        loader="artforge_keras.cyclegan:build_resnet",
    ),
]

# train-gan builds the data of each one's kind, then runs a trainer class T(ctx, params, data)
# (fit, export) or a function run(ctx, params) -> outputs
TRAINERS = [
    Component(
        "trainer",
        "pix2pix",
        "artforge_keras.pix2pix:Pix2PixTrainer",
        description="paired translation: GAN + lambda * L1 (keras.Model with train_step)",
        data="paired",
    ),
    Component(
        "trainer",
        "cyclegan",
        "artforge_keras.cyclegan:train_cyclegan",
        description="unpaired translation: two GANs + cycle and identity L1, image pools in the graph",
        data="unpaired",
    ),
    Component(
        "trainer",
        "dcgan",
        "artforge_keras.gan_steps:train_dcgan",
        description="images from noise (Radford et al. 2015)",
        data="images",
    ),
    Component(
        "trainer",
        "cdcgan",
        "artforge_keras.gan_steps:train_dcgan",
        description="class-conditional DCGAN, projection discriminator",
        data="images",
    ),
]
