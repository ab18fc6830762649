"""Super-resolution for the Keras backend: the core's ``super-resolve`` step on this backend's
runtime (:mod:`artforge_keras.sr.runtime`). No "super-resolver" srgan is registered here (no
adversarial phase yet), so ``method: srgan`` on keras is refused when the recipe loads.

Registration only: nothing here imports keras.
"""

from __future__ import annotations

from artforge.sr_step import registrations

STEPS, MODELS, TRAINERS = registrations("keras", "artforge_keras", srgan=False)
