"""A throwaway plugin for core tests: backend-free steps that count their runs."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from artforge.api import InputRef, Params, StepError, StepType, hookimpl

CALLS: dict[str, int] = {}


class GradientParams(Params):
    count: int = Field(3, ge=1)
    size: int = Field(8, ge=2)
    fail_after: int | None = None


class InvertParams(Params):
    images: InputRef
    strength: float = 1.0


def gradient(ctx, p):
    CALLS["gradient"] = CALLS.get("gradient", 0) + 1
    out = ctx.image_writer("images")
    rng = np.random.default_rng(ctx.seed)
    for i in range(p.count):
        if p.fail_after is not None and i == p.fail_after:
            raise KeyboardInterrupt  # simulates Ctrl-C in the middle of a step
        out.add(rng.integers(0, 255, (p.size, p.size, 3), dtype=np.uint8), name=f"g{i}")
    ctx.metrics["count"] = p.count
    return {"images": out.finish()}


def invert(ctx, p):
    CALLS["invert"] = CALLS.get("invert", 0) + 1
    src = ctx.images(p.images)
    if len(src) == 0:
        raise StepError("nothing to invert")
    out = ctx.image_writer("images")
    for i, name in enumerate(src.names):
        img = src.load(i).astype(np.float32)
        out.add(np.clip(255 - img * p.strength, 0, 255).astype(np.uint8), name=name)
    return {"images": out.finish()}


class TestPlugin:
    @hookimpl
    def register_steps(self, register):
        register(StepType("gradient", GradientParams, gradient, ("images",), "random images"))
        register(StepType("invert", InvertParams, invert, ("images",), "invert images"))


RECIPE = """name: core-test
seed: 1
steps:
  - id: src
    uses: gradient
    with: {count: 3}
  - id: inv
    uses: invert
    with: {images: '${src.images}'}
"""
