"""Registration of the Keras GAN steps, networks and trainers (no keras import here)."""

from __future__ import annotations

from artforge.api import StepType
from artforge.schemas.gan import SampleParams, TrainGanParams, TranslateParams

STEPS = [
    StepType(
        name="train-gan",
        params=TrainGanParams,
        run="artforge_keras.gan_steps:train_gan",
        outputs=("generator", "samples"),
        description="Train a GAN on Keras 3/TensorFlow (pix2pix, dcgan, cdcgan, cyclegan) with "
        "checkpoints, resume and a divergence guard",
        backend="keras",
        version="2",  # 2: the core data pipeline (artforge.training_data): new crops, flips, order
    ),
    StepType(
        name="translate",
        params=TranslateParams,
        run="artforge_keras.gan_steps:translate",
        outputs=(
            "images",
            "metrics",
            "baseline",
            "baseline_mean",
            "baseline_matrix",
            "baseline_ridge",
        ),
        description="Apply a trained generator (Keras, or converted from torch) to images of any "
        "size (padding or tiling); PSNR/SSIM vs a target",
        backend="keras",
        version="3",  # 3: four baselines, the margin against the strongest (as the torch step)
    ),
    StepType(
        name="sample",
        params=SampleParams,
        run="artforge_keras.sample:sample",
        outputs=("images", "grid", "walk"),
        description="Draw images from a trained dcgan/cdcgan generator (Keras, or converted from "
        "torch): labelled samples, a per-class grid, a latent walk (slerp) strip and looping "
        "GIF; scores vs real images",
        backend="keras",
        version="2",  # 2: precision/recall, diversity, novelty, means_* and flags
    ),
]

MODELS = [
    (
        "generator",
        "unet",
        "artforge_keras.nets.pix2pix:UNetGenerator",
        "pix2pix U-Net generator (Isola et al. 2017)",
    ),
    (
        "discriminator",
        "patchgan",
        "artforge_keras.nets.pix2pix:PatchDiscriminator",
        "70x70 PatchGAN discriminator",
    ),
    (
        "generator",
        "dcgan",
        "artforge_keras.nets.dcgan:DCGANGenerator",
        "DCGAN generator, optionally class-conditional (Radford et al. 2015)",
    ),
    (
        "discriminator",
        "dcgan",
        "artforge_keras.nets.dcgan:DCGANDiscriminator",
        "DCGAN discriminator; projection discriminator when conditional (Miyato & Koyama 2018)",
    ),
    (
        "generator",
        "resnet",
        "artforge_keras.nets.cyclegan:ResnetGenerator",
        "CycleGAN ResNet generator, 6 or 9 blocks (Zhu et al. 2017)",
    ),
]

TRAINERS = [
    (
        "pix2pix",
        "artforge_keras.pix2pix:Pix2PixTrainer",
        "paired translation: GAN + lambda * L1 (keras.Model with train_step)",
        "paired",
    ),
    (
        "cyclegan",
        "artforge_keras.cyclegan:CycleGANTrainer",
        "unpaired translation: two GANs + cycle and identity L1, image pools in the graph",
        "unpaired",
    ),
    (
        "dcgan",
        "artforge_keras.dcgan:DCGANTrainer",
        "images from noise (Radford et al. 2015)",
        "images",
    ),
    (
        "cdcgan",
        "artforge_keras.dcgan:DCGANTrainer",
        "class-conditional DCGAN, projection discriminator",
        "images",
    ),
]
