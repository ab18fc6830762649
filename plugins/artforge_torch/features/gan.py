"""Registration of the GAN steps, networks and trainers (no torch import here)."""

from __future__ import annotations

from artforge.api import StepType
from artforge.schemas.gan import TrainGanParams, TranslateParams

STEPS = [
    StepType(
        name="train-gan",
        params=TrainGanParams,
        run="artforge_torch.gan_steps:train_gan",
        outputs=("generator", "samples"),
        description="Train a GAN (pix2pix, dcgan, cdcgan, cyclegan) with checkpoints, resume and a divergence guard",
        backend="torch",
    ),
    StepType(
        name="translate",
        params=TranslateParams,
        run="artforge_torch.gan_steps:translate",
        outputs=("images", "metrics", "baseline"),
        description="Apply a trained generator to images of any size (padding or tiling); PSNR/SSIM vs a target",
        backend="torch",
        version="2",  # 2: the colour baseline's images are an output
    ),
]

MODELS = [
    ("generator", "unet", "artforge_torch.nets.pix2pix:UNetGenerator", "pix2pix U-Net generator (Isola et al. 2017)"),
    ("discriminator", "patchgan", "artforge_torch.nets.pix2pix:PatchDiscriminator", "70x70 PatchGAN discriminator"),
]

TRAINERS = [
    ("pix2pix", "artforge_torch.pix2pix:Pix2PixTrainer", "paired translation: GAN + lambda * L1"),
]
