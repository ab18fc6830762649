"""Style transfer for the Keras backend: the ``stylize`` step and its optimisers.

Registration only: nothing here imports keras.
"""

from __future__ import annotations

from artforge.style.step import step_type

# the step (schema, outputs, version) is the core's; this backend supplies its runtime
STEPS = [step_type("keras", "artforge_keras.style.runtime:run")]

MODELS = [
    (
        "style-transformer",
        "johnson",
        "artforge_keras.nets.transformer:TransformerNet",
        "image-transformation network (residual blocks, instance norm), Johnson et al. 2016",
    ),
]

STYLE_OPTIMISERS = [
    (
        "gatys",
        "artforge_keras.style.gatys:GatysOptimiser",
        "optimise the image: content, Gram-matrix style and TV losses, L-BFGS (PyTorch's update rule) or Adam, coarse-to-fine, colour preservation (Gatys et al. 2016)",
    ),
    (
        "johnson",
        "artforge_keras.style.feedforward:train_transformer",
        "train a feed-forward transformation network for one style (Johnson et al. 2016)",
    ),
]

TRAINERS = [
    (
        "fast-style",
        "artforge_keras.style.feedforward:train_transformer",
        "perceptual-loss training of a style transformation network (keras.Model train_step)",
    ),
]
