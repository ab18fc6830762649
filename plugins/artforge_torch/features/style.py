"""Style transfer for the PyTorch backend: the ``stylize`` step and its optimisers.

Registration only: nothing here imports torch (the step function and the optimisers are
imported when a recipe runs them).
"""

from __future__ import annotations

from artforge.style.step import step_type

# the step (schema, outputs, version) is the core's; this backend supplies its runtime
STEPS = [step_type("torch", "artforge_torch.style.runtime:run")]

MODELS = [
    (
        "style-transformer",
        "johnson",
        "artforge_torch.nets.transformer:TransformerNet",
        "image-transformation network (residual blocks, instance norm), Johnson et al. 2016",
    ),
]

STYLE_OPTIMISERS = [
    (
        "gatys",
        "artforge_torch.style.gatys:GatysOptimiser",
        "optimise the image: content, Gram-matrix style and TV losses, L-BFGS or Adam, "
        "coarse-to-fine, colour preservation (Gatys et al. 2016)",
    ),
    (
        "johnson",
        "artforge_torch.style.feedforward:FeedForwardStyle",
        "train a feed-forward transformation network for one style (Johnson et al. 2016)",
    ),
]

TRAINERS = [
    (
        "fast-style",
        "artforge_torch.style.feedforward:train_transformer",
        "perceptual-loss training of a style transformation network (Johnson et al. 2016)",
    ),
]
