"""Registration of the Keras 3 (TensorFlow) backend, through the hooks any plugin uses.

The feature modules in ``FEATURES`` list what this backend offers (``STEPS``, ``MODELS``,
``TRAINERS``, ``STYLE_OPTIMISERS``); :func:`artforge.components.backend_hooks`, shared by
every backend, makes the hooks that register them (module attributes ``register_*``). Imports nothing heavy: the feature modules import only
pydantic and artforge, never keras or tensorflow, which the factories and step functions
import when a recipe needs them.
"""

from __future__ import annotations

from artforge.api import Backend
from artforge.components import backend_hooks

FEATURES = (
    "artforge_keras.features.gan",
    "artforge_keras.features.style",
    "artforge_keras.features.sr",
)

BACKEND = Backend(
    name="keras",
    requires=("keras", "tensorflow"),
    install='pip install -e ".[keras]"  (tensorflow-cpu and keras 3)',
    description="Keras 3 on TensorFlow: GPU with a mixed-precision policy when present, else the CPU",
)

# register_backends, register_steps, register_models, register_trainers and
# register_style_optimisers: the hooks of every backend plugin, made by one helper
globals().update(backend_hooks(BACKEND, FEATURES))
