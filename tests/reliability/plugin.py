"""A throwaway plugin for the reliability tests: steps that run out of memory, need a backend
that is not installed, write hostile strings for the gallery, or misbehave with paths."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from artforge.api import Backend, ImageSet, Params, StepType, hookimpl

HOSTILE = [
    '<script>alert("xss1")</script>',
    "\"><img src=x onerror=alert('xss2')>",
    "javascript:alert('xss3')",
    "</script><script>alert('xss4')</script>",
    "{{ 7 * 7 }}{% raw %}",
    "' onmouseover='alert(5)' x='",
    "</title></style></textarea><svg onload=alert(6)>",
]


class OomParams(Params):
    kind: Literal["cuda", "torch", "memory"] = "cuda"
    batch_size: int = Field(64, ge=1)
    tile: int | None = 512


def oom(ctx, p):
    ctx.image_writer("images").add(np.zeros((4, 4, 3), np.uint8), name="partial")
    if p.kind == "torch":
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    if p.kind == "memory":
        raise MemoryError
    raise RuntimeError(
        "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity; "
        "5.10 GiB already allocated)"
    )


class NoParams(Params):
    pass


CALLED: list[str] = []


def needs_backend(ctx, p):
    CALLED.append(ctx.step_id)
    out = ctx.image_writer("images")
    out.add(np.full((4, 4, 3), 9, np.uint8), name="one")
    return {"images": out.finish()}


class HostileParams(Params):
    note: str = Field("", description="free text shown in the gallery")


def hostile(ctx, p):
    out = ctx.image_writer("images", caption=HOSTILE[0])
    for i, text in enumerate(HOSTILE):
        out.add(np.full((8, 8, 3), 30 * i, np.uint8), name=text)
    for i, text in enumerate(HOSTILE):
        ctx.warn(text)
        ctx.metrics[text] = i
        ctx.metrics[f"m{i}"] = text
        ctx.info[f"i{i}"] = text
        ctx.record(text, 0, 1.0)
        ctx.record(text, 1, 0.5)
    model = ctx.model_artifact("model", "weights.bin", note=HOSTILE[3], arch=HOSTILE[1])
    model.path.write_bytes(b"weights")
    return {"images": out.finish(title=HOSTILE[6]), "model": model}


class OutsideParams(Params):
    where: str


def outside(ctx, p):
    """A buggy plugin: returns an image set rooted outside its step folder."""
    return {"images": ImageSet(Path(p.where), ["x.png"])}


class ReliabilityPlugin:
    @hookimpl
    def register_backends(self, register):
        register(
            Backend(
                "fakebk",
                requires=("artforge_reliability_no_such_module",),
                install="pip install artforge-fakebk",
                description="a backend whose framework is never installed",
            )
        )

    @hookimpl
    def register_steps(self, register):
        register(StepType("oom", OomParams, oom, ("images",), "runs out of GPU memory"))
        register(StepType("needs-fake", NoParams, needs_backend, ("images",), backend="fakebk"))
        register(StepType("keras-probe", NoParams, needs_backend, ("images",), backend="keras"))
        register(StepType("hostile", HostileParams, hostile, ("images", "model"), "XSS"))
        register(StepType("outside", OutsideParams, outside, ("images",), "escapes"))
