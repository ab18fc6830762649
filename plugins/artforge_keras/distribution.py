"""Data-parallel training of the Keras backend on the GPUs of one machine.

With more than one local GPU visible and ``device: auto`` or ``device: cuda``, the Keras GAN
trainer builds its networks and runs ``fit`` under a ``tf.distribute.MirroredStrategy`` (one
replica per GPU; Keras 3's ``keras.distribution`` API is for the JAX backend only). Keras
splits each global batch of ``batch_size`` between the replicas, as the torch backend does
under ``torchrun``; the optimisers sum the replicas' gradients, so :func:`replica_mean`
divides them by the number of replicas (what Keras' own ``compute_loss`` does to the loss).

``device: cuda:N`` keeps one GPU; ``ARTFORGE_KERAS_STRATEGY=off`` turns mirroring off and
``=mirrored`` asks for it (it falls back to one device, with the reason, when fewer than two
GPUs are visible). On a CPU or a single GPU nothing changes: no strategy, the default
``tf.device`` scope. The selection (:func:`choose`) is plain Python and unit-tested; the
multi-GPU path itself has not run on multi-GPU hardware in this project's CI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from artforge.api import StepError

SETTINGS = ("auto", "mirrored", "off")


@dataclass(frozen=True)
class Choice:
    strategy: str  # "mirrored" or "single"
    replicas: int
    reason: str

    @property
    def mirrored(self) -> bool:
        return self.strategy == "mirrored"


def choose(device: str, gpus: int, setting: str | None = None) -> Choice:
    """Mirror over the local GPUs or not, from the recipe's device, the number of visible GPUs
    and ``ARTFORGE_KERAS_STRATEGY`` (auto, mirrored, off)."""
    setting = (setting or "auto").strip().lower()
    if setting not in SETTINGS:
        raise StepError(
            f"ARTFORGE_KERAS_STRATEGY={setting!r} is not one of {', '.join(SETTINGS)}",
            hint="unset it (auto: mirror when several GPUs are visible)",
        )
    device = (device or "auto").strip().lower()
    if setting == "off":
        return Choice("single", 1, "ARTFORGE_KERAS_STRATEGY=off")
    if gpus < 2:
        return Choice("single", 1, f"{gpus} GPU{'s' if gpus != 1 else ''} visible")
    if device not in ("auto", "cuda", "gpu"):
        return Choice("single", 1, f"device {device} selects one device")
    return Choice("mirrored", gpus, f"{gpus} GPUs visible, device {device}")


def select(device: str) -> tuple[Choice, Any]:
    """The choice for this machine and the strategy object (None on one device)."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    choice = choose(device, gpus, os.environ.get("ARTFORGE_KERAS_STRATEGY"))
    return choice, (tf.distribute.MirroredStrategy() if choice.mirrored else None)


def scope(strategy: Any, rt: Any) -> Any:
    """Where to build the networks and run ``fit``: the strategy's scope, else the runtime's
    device."""
    return strategy.scope() if strategy is not None else rt.scope()


def replica_mean(grads: list[Any]) -> list[Any]:
    """Gradients of one replica's loss, divided by the number of replicas in sync (the
    optimiser sums them over the replicas): identity outside a multi-replica strategy."""
    import tensorflow as tf

    n = tf.distribute.get_strategy().num_replicas_in_sync
    if n == 1:
        return grads
    return [None if g is None else g / tf.cast(n, g.dtype) for g in grads]


def describe(choice: Choice) -> dict[str, Any]:
    return {"strategy": choice.strategy, "replicas": choice.replicas, "reason": choice.reason}
