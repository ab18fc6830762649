"""Registration of the PyTorch backend, through the hooks any plugin uses.

The feature modules in ``FEATURES`` list what this backend offers (``STEPS``, ``MODELS``,
``TRAINERS``, ``STYLE_OPTIMISERS``); :func:`artforge.components.backend_hooks`, shared by
every backend, makes the hooks that register them (module attributes ``register_*``). Imports nothing heavy: the feature modules import only
pydantic and artforge, never torch, which the factories and step functions import when a
recipe needs them.
"""

from __future__ import annotations

from artforge.api import Backend
from artforge.components import backend_hooks

FEATURES = (
    "artforge_torch.features.gan",
    "artforge_torch.features.style",
    "artforge_torch.features.sr",
)

BACKEND = Backend(
    name="torch",
    requires=("torch",),
    install='pip install torch==2.13.0 (CPU) or the CUDA build for your GPU, then pip install -e ".[torch]"',
    description="PyTorch: CUDA with autocast and channels_last when present, else the CPU",
)

# register_backends, register_steps, register_models, register_trainers and
# register_style_optimisers: the hooks of every backend plugin, made by one helper
globals().update(backend_hooks(BACKEND, FEATURES))
