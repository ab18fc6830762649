"""The ``super-resolve`` step on the Keras backend: the core's step
(:mod:`artforge.sr_step`) with this backend's runtime (:mod:`.runtime`)."""

from __future__ import annotations

from artforge.sr_step import run_learned


def make_runtime(ctx):
    from .runtime import KerasSRRuntime

    return KerasSRRuntime(ctx)


def run(ctx, p):
    """The ``super-resolve`` step on the Keras backend (see :mod:`artforge.sr_step`)."""
    return run_learned(ctx, p, make_runtime)
