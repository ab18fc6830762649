"""Super-resolution for the PyTorch backend: the core's ``super-resolve`` step on this
backend's runtime (:mod:`artforge_torch.sr.runtime`), and its networks, SRGAN included.

Registration only: nothing here imports torch.
"""

from __future__ import annotations

from artforge.sr_step import components, step_type

STEPS = [step_type("torch", "artforge_torch.sr.step:run")]
MODELS = components("artforge_torch.nets.sr", srgan=True)
TRAINERS = [
    (
        "super-resolution",
        "artforge.sr_train:train_sr",
        "pixel-loss (L1/MSE) training of an SR network (the core's loop on this backend's "
        "session), optional adversarial (SRGAN) and perceptual losses, pairs degraded on the fly",
    ),
]
