"""The training data ``train-gan`` builds for a GAN trainer registered for the Keras backend
(``register_trainers`` with ``data=``; the built-in models are registered the same way): the
core's (:func:`artforge.gan_steps.registered_data`) with this backend's data classes
(:mod:`artforge_keras.data`: uint8 NHWC batches). The contract: docs/plugins.md.
"""

from __future__ import annotations

from typing import Any

from artforge.gan_steps import registered_data


def build_data(ctx: Any, p: Any, kind: str) -> tuple[Any, str]:
    """The training data of ``kind`` from the step's parameters, and a few words on it."""
    from . import data

    return registered_data(ctx, p, kind, data)
