"""Backend-free training: the GAN training loop (:mod:`.driver`) every backend runs on."""

from .driver import DivergenceGuard, GANDriver, lr_factor

__all__ = ["DivergenceGuard", "GANDriver", "lr_factor"]
