"""Super-resolution for the PyTorch backend: the ``super-resolve`` step (the core's, on this
backend's runtime) and its networks. A learned method is available where a "super-resolver"
of its name is registered (checked when a recipe loads).

Registration only: nothing here imports torch.
"""

from __future__ import annotations

from artforge.sr_step import step_type

STEPS = [step_type("torch", "artforge_torch.sr.step:run")]

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
        "super-resolver",
        "srgan",
        "artforge_torch.nets.sr:SRResNet",
        "SRResNet trained with an adversarial loss against the SRGAN discriminator (Ledig et "
        "al. 2017)",
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
        "artforge.sr_train:train_sr",
        "pixel-loss (L1/MSE) training of an SR network (the core's loop on this backend's "
        "session), optional adversarial (SRGAN) and perceptual losses, pairs degraded on the fly",
    ),
]
