"""The ``super-resolve`` step, once for every backend: its registration (:func:`step_type`,
one version), the image loop, the scores and the gallery presentation. The learned methods
run through :class:`artforge.sr_learned.Upscaler` on the backend's runtime
(:func:`run_learned`).

mode upscale: enlarge each input image ``scale`` times; mode evaluate: downscale each input
(the ground truth) by ``scale``, restore it and score it (Y-channel PSNR/SSIM). Bicubic
interpolation of the same low-resolution image is always written beside the result and
scored the same way, as the yardstick. One image at a time: decode, upscale, write, score,
drop, so the set is never in memory.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .errors import DataError, StepError
from .registry import StepType
from .schemas.sr import BASELINE_METHODS, SuperResolveParams
from .sr_baselines import downscale, modcrop, upscale, y_psnr, y_ssim

#: the step's version on every backend (enters the cache key): 3 when both backends began
#: to share one training loop and one data pipeline (patches drawn by ``derive_seed``)
VERSION = "3"
OUTPUTS = ("images", "bicubic", "lowres", "model")


def step_type(backend: str, run: str) -> StepType:
    """The ``super-resolve`` step type for ``backend``, whose ``run`` is
    ``lambda ctx, p: run_learned(ctx, p, make_runtime)`` with the backend's runtime."""
    return StepType(
        name="super-resolve",
        params=SuperResolveParams,
        run=run,
        outputs=OUTPUTS,
        description="Upscale images: Pillow baselines, ESPCN, SRResNet or SRGAN (where the "
        "backend registers it); trained on an image set, zero-shot on the input, or from a "
        "checkpoint; tiled inference",
        backend=backend,
        version=VERSION,
    )


def components(nets: str, *, srgan: bool) -> list[tuple[str, str, str, str]]:
    """A backend's SR networks as ``MODELS`` rows (kind, name, factory, description), from its
    networks module ``nets`` (``ESPCN``, ``SRResNet``, ``SRDiscriminator``): a method is
    available on the backend where a "super-resolver" of its name is registered."""
    rows = [
        (
            "super-resolver",
            "espcn",
            f"{nets}:ESPCN",
            "efficient sub-pixel CNN, x2/x3/x4 (Shi et al. 2016)",
        ),
        (
            "super-resolver",
            "srresnet",
            f"{nets}:SRResNet",
            "16 residual blocks and pixel-shuffle upsampling, x2/x3/x4 (Ledig et al. 2017)",
        ),
        (
            "discriminator",
            "srgan",
            f"{nets}:SRDiscriminator",
            "the SRGAN discriminator (Ledig et al. 2017)",
        ),
    ]
    if srgan:
        rows.append(
            (
                "super-resolver",
                "srgan",
                f"{nets}:SRResNet",
                "SRResNet trained with an adversarial loss against the SRGAN discriminator "
                "(Ledig et al. 2017)",
            )
        )
    return rows


def registrations(backend: str, package: str, *, srgan: bool) -> tuple[list, list, list]:
    """A backend plugin's SR registrations, ``STEPS, MODELS, TRAINERS``: the step (its run
    is ``{package}.sr.step:run``), its networks (``{package}.nets.sr``) and the core's
    training loop as the ``super-resolution`` trainer."""
    trainer = (
        "super-resolution",
        "artforge.sr_train:train_sr",
        "pixel-loss (L1/MSE) training of an SR network: the core's loop on the backend's "
        "session"
        + (", then SRGAN's adversarial phase" if srgan else "")
        + "; optional perceptual loss, pairs degraded on the fly",
    )
    return (
        [step_type(backend, f"{package}.sr.step:run")],
        components(f"{package}.nets.sr", srgan=srgan),
        [trainer],
    )


def run_learned(ctx: Any, p: Any, make_runtime: Any) -> dict[str, Any]:
    """The step with the learned methods on the runtime ``make_runtime(ctx)`` builds (made
    only when a learned method runs, so the baselines never import a framework)."""
    from .sr_learned import Upscaler

    return run_super_resolve(ctx, p, lambda: Upscaler(ctx, p, make_runtime(ctx)))


def check_evaluate_sizes(src: Any, scale: int) -> None:
    """Refuse, before any training, an input too small to downscale by ``scale`` and score
    (from the file headers only; unreadable files are reported when they are decoded)."""
    from PIL import Image

    for path, name in zip(src.paths, src.names):
        try:
            with Image.open(path) as im:
                w, h = im.size
        except Exception:  # load_image gives the clear message for a bad file
            continue
        if min(w, h) < 4 * scale:
            raise DataError(
                f"{name}: too small to downscale by {scale} and evaluate ({w}x{h}; at least "
                f"{4 * scale} pixels a side)",
                hint="remove it from the set, or use mode: upscale",
            )


def run_super_resolve(ctx: Any, p: Any, make_upscaler: Any) -> dict[str, Any]:
    """The ``super-resolve`` step on any backend; ``make_upscaler()`` builds the backend's
    ``Upscaler`` (begin / upscale(i, lo, name) / finish, ``model_artifact``, ``infer_seconds``)
    for the learned methods."""
    src = ctx.images(p.images)
    if len(src) == 0:
        raise DataError(f"step '{ctx.step_id}': {p.images} holds no images")
    s = p.scale
    if p.mode == "evaluate":
        check_evaluate_sizes(src, s)
    # upscale mode: the ground truth is looked up by name, decoded with its image
    truth = _GroundTruth(ctx, p, src.names) if p.mode != "evaluate" else None

    out = ctx.image_writer("images", scale=s, method=p.method)
    bic = ctx.image_writer("bicubic", scale=s, method="bicubic")
    lowres = ctx.image_writer("lowres", scale=s) if p.mode == "evaluate" else None
    outputs: dict[str, Any] = {}

    up = None
    if p.method in BASELINE_METHODS:
        ctx.info["method"] = f"{p.method} interpolation (Pillow)"
    else:
        up = make_upscaler()
        if up.model_artifact is not None:
            outputs["model"] = up.model_artifact
        up.begin()

    # one image at a time: decode, upscale, write, score, drop (the set is never in memory)
    scores = _Scores(s)
    pixels, infer_s = 0, 0.0
    for i, name in enumerate(src.names):
        lo, hr = _low_and_truth(src, i, p, truth)
        if up is None:
            t0 = time.perf_counter()
            res = upscale(lo, s, p.method)
            infer_s += time.perf_counter() - t0
        else:
            res = up.upscale(i, lo, name)
        b = upscale(lo, s, "bicubic")
        out.add(res, name=name)
        bic.add(b, name=name)
        if lowres is not None:
            lowres.add(lo, name=name)
        if hr is not None:
            scores.add(name, res, b, hr)
        pixels += res.shape[0] * res.shape[1]
        del lo, hr, res, b
    if up is not None:
        up.finish()
        infer_s = up.infer_seconds

    outputs["images"] = out.finish()
    outputs["bicubic"] = bic.finish()
    if lowres is not None:
        outputs["lowres"] = lowres.finish()

    ctx.metrics["scale"] = s
    ctx.metrics["images"] = len(src)
    if scores.count:
        scores.report(ctx)
        ctx.info["scores"] = f"Y-channel (BT.601) PSNR/SSIM, {s} border pixels shaved, against " + (
            "the originals downscaled by bicubic" if p.mode == "evaluate" else p.ground_truth
        )
    ctx.metrics["megapixels_per_second"] = round(pixels / 1e6 / max(infer_s, 1e-9), 3)
    ctx.info["compare"] = {"before": f"${{{ctx.step_id}.bicubic}}", "after": "images"}
    return outputs


def _low_and_truth(src, i: int, p, truth) -> tuple[np.ndarray, np.ndarray | None]:
    """Input ``i`` decoded: (the low-resolution image, its ground truth or None)."""
    s = p.scale
    if p.mode == "evaluate":
        hr = modcrop(src.load(i), s)
        if min(hr.shape[:2]) < 4 * s:
            raise DataError(f"{src.names[i]}: too small to downscale by {s} and evaluate")
        return downscale(hr, s), hr
    lo = src.load(i)
    return lo, truth.load(src.names[i], lo)


class _GroundTruth:
    """``ground_truth`` images by file name, decoded one at a time; the names without one are
    warned about up front."""

    def __init__(self, ctx, p, names: list[str]):
        self.p = p
        self.gt = ctx.images(p.ground_truth) if p.ground_truth is not None else None
        self.by_name = {n: i for i, n in enumerate(self.gt.names)} if self.gt is not None else {}
        missing = [n for n in names if n not in self.by_name]
        if self.gt is not None and missing:
            ctx.warn(
                f"{len(missing)} image(s) have no ground truth of the same name in "
                f"{p.ground_truth} and are not scored (e.g. {missing[0]})"
            )

    def load(self, name: str, lo: np.ndarray) -> np.ndarray | None:
        if name not in self.by_name:
            return None
        hr = self.gt.load(self.by_name[name])
        want = (lo.shape[0] * self.p.scale, lo.shape[1] * self.p.scale)
        if hr.shape[:2] != want:
            raise StepError(
                f"ground truth {name} is {hr.shape[1]}x{hr.shape[0]}, expected "
                f"{want[1]}x{want[0]} (the input times {self.p.scale})"
            )
        return hr


class _Scores:
    """Y-PSNR/SSIM of the results and of bicubic, image by image (four floats each)."""

    KEYS = ("y_psnr", "y_ssim", "bicubic_y_psnr", "bicubic_y_ssim")

    def __init__(self, scale: int):
        self.scale = scale
        self.values: dict[str, list[float]] = {k: [] for k in self.KEYS}
        self.per_image: dict[str, dict[str, float]] = {}

    @property
    def count(self) -> int:
        return len(self.values["y_psnr"])

    def add(self, name: str, res: np.ndarray, b: np.ndarray, hr: np.ndarray) -> None:
        s = self.scale
        row = {
            "y_psnr": y_psnr(res, hr, s),
            "y_ssim": y_ssim(res, hr, s),
            "bicubic_y_psnr": y_psnr(b, hr, s),
            "bicubic_y_ssim": y_ssim(b, hr, s),
        }
        for k in self.KEYS:
            self.values[k].append(row[k])
        self.per_image[name] = {k: round(v, 4) for k, v in row.items()}

    def report(self, ctx) -> None:
        m, v = ctx.metrics, self.values
        m["y_psnr"] = round(float(np.mean(v["y_psnr"])), 3)
        m["bicubic_y_psnr"] = round(float(np.mean(v["bicubic_y_psnr"])), 3)
        m["y_ssim"] = round(float(np.mean(v["y_ssim"])), 4)
        m["bicubic_y_ssim"] = round(float(np.mean(v["bicubic_y_ssim"])), 4)
        m["psnr_gain_db"] = round(m["y_psnr"] - m["bicubic_y_psnr"], 3)
        if len(self.per_image) <= 12:
            m["per_image"] = self.per_image
