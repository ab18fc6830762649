"""Super-resolution for the Keras backend: the ``super-resolve`` step and its networks.

Registration only: nothing here imports keras.
"""

from __future__ import annotations

from artforge.api import StepType
from artforge.schemas.sr import SuperResolveParams

STEPS = [
    StepType(
        name="super-resolve",
        params=SuperResolveParams,
        run="artforge_keras.sr.step:run",
        outputs=("images", "bicubic", "lowres", "model"),
        description="Upscale images on Keras 3/TensorFlow: Pillow baselines, ESPCN or SRResNet "
        "(srgan: torch only for now); trained on an image set, zero-shot on the input, or from "
        "a checkpoint (keras or torch); tiled inference",
        backend="keras",
        version="1",
    )
]

MODELS = [
    (
        "super-resolver",
        "espcn",
        "artforge_keras.nets.sr:ESPCN",
        "efficient sub-pixel CNN, x2/x3/x4 (Shi et al. 2016)",
    ),
    (
        "super-resolver",
        "srresnet",
        "artforge_keras.nets.sr:SRResNet",
        "16 residual blocks and pixel-shuffle upsampling, x2/x3/x4 (Ledig et al. 2017)",
    ),
    (
        "discriminator",
        "srgan",
        "artforge_keras.nets.sr:SRDiscriminator",
        "the SRGAN discriminator (Ledig et al. 2017)",
    ),
]

TRAINERS = [
    (
        "super-resolution",
        "artforge_keras.sr.train:train_sr",
        "pixel-loss (L1/MSE) training of an SR network (keras.Model train_step), cosine learning rate, weight averaging, optional perceptual loss",
    ),
]
