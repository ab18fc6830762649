"""The ``super-resolve`` step (PyTorch backend).

mode upscale: enlarge each input image ``scale`` times; mode evaluate: downscale each input
(the ground truth) by ``scale``, restore it and score it. Learned methods get their network
from ``model``, ``checkpoint``, training on ``train``, or zero-shot training on each image.
Bicubic interpolation of the same low-resolution image is always written beside the result
and scored the same way, as the yardstick.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from artforge.api import DataError, StepError
from artforge.schemas.sr import BASELINE_METHODS
from artforge.sr_baselines import downscale, modcrop, upscale, y_psnr, y_ssim

MODEL_FILE = "sr.safetensors"


def run(ctx, p):
    src = ctx.images(p.images)
    if len(src) == 0:
        raise DataError(f"step '{ctx.step_id}': {p.images} holds no images")
    s = p.scale
    lows: list[np.ndarray] = []
    truths: list[np.ndarray | None] = []
    if p.mode == "evaluate":
        for i in range(len(src)):
            hr = modcrop(src.load(i), s)
            if min(hr.shape[:2]) < 4 * s:
                raise DataError(f"{src.names[i]}: too small to downscale by {s} and evaluate")
            truths.append(hr)
            lows.append(downscale(hr, s))
    else:
        lows = [src.load(i) for i in range(len(src))]
        truths = _ground_truth(ctx, p, src, lows)

    out = ctx.image_writer("images", scale=s, method=p.method)
    bic = ctx.image_writer("bicubic", scale=s, method="bicubic")
    lowres = ctx.image_writer("lowres", scale=s) if p.mode == "evaluate" else None
    outputs: dict[str, Any] = {}

    t0 = time.perf_counter()
    if p.method in BASELINE_METHODS:
        results = [upscale(lo, s, p.method) for lo in lows]
        ctx.info["method"] = f"{p.method} interpolation (Pillow)"
        infer_s = time.perf_counter() - t0
    else:
        from .learned import Upscaler

        up = Upscaler(ctx, p)
        results = up.run(lows, src.names)
        if up.model_artifact is not None:
            outputs["model"] = up.model_artifact
        infer_s = up.infer_seconds

    scores: dict[str, list[float]] = {k: [] for k in ("y_psnr", "y_ssim", "bic_psnr", "bic_ssim")}
    per_image: dict[str, dict[str, float]] = {}
    for name, lo, res, hr in zip(src.names, lows, results, truths):
        b = upscale(lo, s, "bicubic")
        out.add(res, name=name)
        bic.add(b, name=name)
        if lowres is not None:
            lowres.add(lo, name=name)
        if hr is not None:
            row = {
                "y_psnr": y_psnr(res, hr, s),
                "y_ssim": y_ssim(res, hr, s),
                "bicubic_y_psnr": y_psnr(b, hr, s),
                "bicubic_y_ssim": y_ssim(b, hr, s),
            }
            for k, key in (
                ("y_psnr", "y_psnr"),
                ("y_ssim", "y_ssim"),
                ("bic_psnr", "bicubic_y_psnr"),
                ("bic_ssim", "bicubic_y_ssim"),
            ):
                scores[k].append(row[key])
            per_image[name] = {k: round(v, 4) for k, v in row.items()}

    outputs["images"] = out.finish()
    outputs["bicubic"] = bic.finish()
    if lowres is not None:
        outputs["lowres"] = lowres.finish()

    ctx.metrics["scale"] = s
    ctx.metrics["images"] = len(src)
    if scores["y_psnr"]:
        ctx.metrics["y_psnr"] = round(float(np.mean(scores["y_psnr"])), 3)
        ctx.metrics["bicubic_y_psnr"] = round(float(np.mean(scores["bic_psnr"])), 3)
        ctx.metrics["y_ssim"] = round(float(np.mean(scores["y_ssim"])), 4)
        ctx.metrics["bicubic_y_ssim"] = round(float(np.mean(scores["bic_ssim"])), 4)
        ctx.metrics["psnr_gain_db"] = round(
            ctx.metrics["y_psnr"] - ctx.metrics["bicubic_y_psnr"], 3
        )
        if len(per_image) <= 12:
            ctx.metrics["per_image"] = per_image
        ctx.info["scores"] = f"Y-channel (BT.601) PSNR/SSIM, {s} border pixels shaved, against " + (
            "the originals downscaled by bicubic" if p.mode == "evaluate" else p.ground_truth
        )
    pixels = sum(r.shape[0] * r.shape[1] for r in results)
    ctx.metrics["megapixels_per_second"] = round(pixels / 1e6 / max(infer_s, 1e-9), 3)
    ctx.info["compare"] = {"before": f"${{{ctx.step_id}.bicubic}}", "after": "images"}
    return outputs


def _ground_truth(ctx, p, src, lows) -> list[np.ndarray | None]:
    if p.ground_truth is None:
        return [None] * len(lows)
    gt = ctx.images(p.ground_truth)
    by_name = {n: i for i, n in enumerate(gt.names)}
    truths: list[np.ndarray | None] = []
    missing = []
    for name, lo in zip(src.names, lows):
        if name not in by_name:
            missing.append(name)
            truths.append(None)
            continue
        hr = gt.load(by_name[name])
        want = (lo.shape[0] * p.scale, lo.shape[1] * p.scale)
        if hr.shape[:2] != want:
            raise StepError(
                f"ground truth {name} is {hr.shape[1]}x{hr.shape[0]}, expected "
                f"{want[1]}x{want[0]} (the input times {p.scale})"
            )
        truths.append(hr)
    if missing:
        ctx.warn(
            f"{len(missing)} image(s) have no ground truth of the same name in "
            f"{p.ground_truth} and are not scored (e.g. {missing[0]})"
        )
    return truths
