"""Registration of the GAN steps, networks and trainers (no torch import here)."""

from __future__ import annotations

from artforge.api import StepType
from artforge.schemas.gan import SampleParams, TrainGanParams, TranslateParams

STEPS = [
    StepType(
        name="train-gan",
        params=TrainGanParams,
        run="artforge_torch.gan_steps:train_gan",
        outputs=("generator", "samples"),
        description="Train a GAN (pix2pix, dcgan, cdcgan, cyclegan) with checkpoints, resume and a divergence guard",
        backend="torch",
        version="2",  # 2: the core data pipeline (artforge.training_data): new crops, flips, order
    ),
    StepType(
        name="translate",
        params=TranslateParams,
        run="artforge_torch.gan_steps:translate",
        outputs=("images", "metrics", "baseline", "baseline_mean", "baseline_matrix", "baseline_ridge"),
        description="Apply a trained generator to images of any size (padding or tiling); PSNR/SSIM vs a target",
        backend="torch",
        version="3",  # 3: four baselines (their images are outputs), the margin against the strongest
    ),
    StepType(
        name="sample",
        params=SampleParams,
        run="artforge_torch.sample:sample",
        outputs=("images", "grid", "walk"),
        description="Draw images from a trained dcgan/cdcgan generator: labelled samples, a "
        "per-class grid, a latent walk (slerp) strip and looping GIF; scores vs real images",
        backend="torch",
        version="2",  # 2: precision/recall, diversity, novelty, means_* and flags
    ),
]

MODELS = [
    ("generator", "unet", "artforge_torch.nets.pix2pix:UNetGenerator", "pix2pix U-Net generator (Isola et al. 2017)"),
    ("discriminator", "patchgan", "artforge_torch.nets.pix2pix:PatchDiscriminator", "70x70 PatchGAN discriminator"),
    ("generator", "resnet", "artforge_torch.nets.cyclegan:ResnetGenerator", "CycleGAN ResNet generator, 6 or 9 blocks (Zhu et al. 2017)"),
    ("generator", "dcgan", "artforge_torch.nets.dcgan:DCGANGenerator", "DCGAN generator, optionally class-conditional (Radford et al. 2015)"),
    ("discriminator", "dcgan", "artforge_torch.nets.dcgan:DCGANDiscriminator", "DCGAN discriminator; projection discriminator when conditional (Miyato & Koyama 2018)"),
]

TRAINERS = [
    ("pix2pix", "artforge_torch.pix2pix:Pix2PixTrainer", "paired translation: GAN + lambda * L1", "paired"),
    ("cyclegan", "artforge_torch.cyclegan:CycleGANTrainer", "unpaired translation: two GANs + cycle and identity L1, image pools", "unpaired"),
    ("dcgan", "artforge_torch.dcgan:DCGANTrainer", "images from noise (Radford et al. 2015)", "images"),
    ("cdcgan", "artforge_torch.dcgan:DCGANTrainer", "class-conditional DCGAN, projection discriminator", "images"),
]
