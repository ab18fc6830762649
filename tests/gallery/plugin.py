"""A throwaway plugin for gallery tests: a step that maps images to images (same names, so
the gallery shows a before/after slider) and records what a training step records: per-epoch
samples, loss curves, metrics with baselines, a checkpoint, an animated GIF and a warning."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from pydantic import Field

from artforge.api import InputRef, Params, StepType, hookimpl


class ToyTranslateParams(Params):
    images: InputRef = Field(description="images to translate")
    note: str = Field("", description="free text (shown in the gallery)")
    epochs: int = Field(3, ge=1)


def toy_translate(ctx, p):
    src = ctx.images(p.images)
    out = ctx.image_writer("images")
    for i, name in enumerate(src.names):
        img = src.load(i).astype(np.float32)
        day = np.clip(255 - img[..., ::-1] * 0.8 + 40, 0, 255).astype(np.uint8)
        out.add(day, name=name)
    samples = ctx.image_writer("samples")
    first = src.load(0)
    for e in range(1, p.epochs + 1):
        samples.add(
            np.clip(first.astype(np.int32) + 50 * e, 0, 255).astype(np.uint8), name=f"epoch{e:03d}"
        )
    for it in range(60):
        ctx.record("G", it, 2.0 + math.sin(it / 6) * 0.3 + 3.0 / (it + 1))
        ctx.record("D", it, 0.69 + math.cos(it / 5) * 0.05)
        ctx.record("G_L1", it, 30.0 * math.exp(-it / 40))
    model = ctx.model_artifact("model", "generator.bin", arch="toy")
    model.path.write_bytes(b"toy weights" * 64)
    anim = ctx.file_artifact("progress", "progress.gif")
    frames = [
        Image.fromarray(np.full((24, 24, 3), (60 * k, 90, 200 - 50 * k), np.uint8))
        for k in range(4)
    ]
    frames[0].save(anim.path, save_all=True, append_images=frames[1:], duration=150, loop=0)
    ctx.metrics.update(psnr=23.5, baseline_psnr=18.25, ssim=0.78, bicubic_ssim=0.66, count=len(src))
    # per-image scores (a sortable table in the gallery, worst first)
    ctx.metrics["per_image"] = {
        name: {"psnr": 20.0 + (i * 7 % 5) + ctx.seed % 3, "baseline_psnr": 18.0 + i / 4}
        for i, name in enumerate(src.names)
    }
    ctx.info["device"] = "cpu"
    ctx.info["note"] = p.note
    ctx.warn("divergence guard: D loss spiked at iteration 40; restarted from the last checkpoint")
    return {
        "images": out.finish(),
        "samples": samples.finish(),
        "model": model,
        "progress": anim,
    }


class GalleryTestPlugin:
    @hookimpl
    def register_steps(self, register):
        register(
            StepType(
                "toy-translate",
                ToyTranslateParams,
                toy_translate,
                ("images", "samples", "model", "progress"),
                "test step: images to images, with curves, samples, a checkpoint and a GIF",
            )
        )
