"""Super-resolution for the Keras backend: the core's ``super-resolve`` step on this backend's
runtime (:mod:`artforge_keras.sr.runtime`). No "super-resolver" srgan is registered here, so
``method: srgan`` on keras is refused when the recipe loads.

Registration only: nothing here imports keras.
"""

from __future__ import annotations

from artforge.sr_step import components, step_type

STEPS = [step_type("keras", "artforge_keras.sr.step:run")]
MODELS = components("artforge_keras.nets.sr", srgan=False)
TRAINERS = [
    (
        "super-resolution",
        "artforge.sr_train:train_sr",
        "pixel-loss (L1/MSE) training of an SR network: the core's loop on this backend's "
        "session (SRModel.train_step), weight averaging, optional perceptual loss",
    ),
]
