"""Super-resolution for the PyTorch backend: the ``super-resolve`` step and its networks.

Registration only: nothing here imports torch.
"""

from __future__ import annotations

from artforge.api import StepType
from artforge.schemas.sr import SuperResolveParams

STEPS = [
    StepType(
        name="super-resolve",
        params=SuperResolveParams,
        run="artforge_torch.sr.step:run",
        outputs=("images", "bicubic", "lowres", "model"),
        description="Upscale images: Pillow baselines, ESPCN, SRResNet or SRGAN; trained on an "
        "image set, zero-shot on the input, or from a checkpoint; tiled inference",
        backend="torch",
        version="2",
    )
]

MODELS = [
    (
        "super-resolver",
        "espcn",
        "artforge_torch.nets.sr:ESPCN",
        "efficient sub-pixel CNN, x2/x3/x4 (Shi et al. 2016)",
    ),
    (
        "super-resolver",
        "srresnet",
        "artforge_torch.nets.sr:SRResNet",
        "16 residual blocks and pixel-shuffle upsampling, x2/x3/x4 (Ledig et al. 2017)",
    ),
    (
        "discriminator",
        "srgan",
        "artforge_torch.nets.sr:SRDiscriminator",
        "the SRGAN discriminator (Ledig et al. 2017)",
    ),
]

TRAINERS = [
    (
        "super-resolution",
        "artforge_torch.sr.train:train_sr",
        "pixel-loss (L1/MSE) training of an SR network, optional adversarial (SRGAN) and "
        "perceptual losses, pairs degraded on the fly",
    ),
]
