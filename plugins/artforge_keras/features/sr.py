"""Super-resolution for the Keras backend: the ``super-resolve`` step (the core's, on this
backend's runtime) and its networks. No "super-resolver" srgan is registered here, so
``method: srgan`` on keras is refused when the recipe loads.

Registration only: nothing here imports keras.
"""

from __future__ import annotations

from artforge.sr_step import step_type

STEPS = [step_type("keras", "artforge_keras.sr.step:run")]

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
        "artforge.sr_train:train_sr",
        "pixel-loss (L1/MSE) training of an SR network (the core's loop on this backend's "
        "session: SRModel.train_step), weight averaging, optional perceptual loss",
    ),
]
