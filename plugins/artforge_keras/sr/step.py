"""The ``super-resolve`` step of the Keras backend: the same parameters, outputs, metrics and
curves as the PyTorch backend's.

mode upscale: enlarge each input ``scale`` times; mode evaluate: downscale each input (the
ground truth) by ``scale``, restore it and score it (Y-channel PSNR/SSIM, beside bicubic).
Learned methods (ESPCN, SRResNet) get their network from ``model``, ``checkpoint`` (Keras
``.weights.h5``, or a torch backend ``.safetensors`` converted layer by layer), training on
``train``, or zero-shot training on each image; inference is tiled with a context of the
network's receptive-field radius, so tiles equal whole-image results.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from artforge.api import DataError, StepError
from artforge.images import check_tile, scaled_tiles
from artforge.schemas.sr import BASELINE_METHODS
from artforge.sr_baselines import downscale, modcrop, upscale, y_psnr, y_ssim

MODEL_FILE = "sr.weights.h5"
ARCH_OF = {"espcn": "espcn", "srresnet": "srresnet", "srgan": "srresnet"}
PAPERS = {
    "espcn": "ESPCN (Shi et al. 2016)",
    "srresnet": "SRResNet (Ledig et al. 2017)",
    "srgan": "SRGAN (Ledig et al. 2017): SRResNet with an adversarial loss",
}


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


# -- networks ----------------------------------------------------------------------------------
def build_net(arch: str, scale: int, config: dict[str, Any] | None = None):
    from ..nets.sr import ESPCN, SRResNet

    cls = {"espcn": ESPCN, "srresnet": SRResNet}[arch]
    return cls(scale=scale, **(config or {}))


def conv_radius(net) -> int:
    """An upper bound of the receptive-field radius in input pixels of a network whose
    convolutions run in layer order (ESPCN, SRResNet): each convolution adds kernel // 2
    pixels at its resolution, and a pixel shuffle divides the later ones by its factor."""
    from ..backend import keras_module
    from ..nets.layers import PixelShuffle

    keras = keras_module()
    radius, factor = 0.0, 1
    for layer in net.layers:
        if isinstance(layer, keras.layers.Conv2D):
            radius += layer.dilation_rate[0] * (layer.kernel_size[0] // 2) / factor
        elif isinstance(layer, PixelShuffle):
            factor *= layer.factor
    return int(math.ceil(radius)) + 1


def tiled_pieces(fn, cut, h: int, w: int, scale: int, tile: int, overlap: int):
    """The output tile by tile: ``(rows, cols, piece)`` with ``piece`` ``fn``'s output for the
    output area ``[rows, cols]``, its input cut by ``cut(ya, yb, xa, xb)`` (an (N, yb - ya,
    xb - xa, C) array) with ``overlap`` pixels of context; only one tile is alive at a time."""
    for ya, yb, xa, xb, rows, cols, keep_rows, keep_cols in scaled_tiles(
        h, w, tile, overlap, scale
    ):
        piece = fn(cut(ya, yb, xa, xb))
        check_tile(piece.shape[1:3], (yb - ya, xb - xa), scale)
        yield rows, cols, piece[:, keep_rows, keep_cols]


def tiled_forward(fn, x: np.ndarray, scale: int, tile: int | None, overlap: int) -> np.ndarray:
    """``fn(x)`` for an (N, H, W, C) input in ``tile``-sized pieces with ``overlap`` pixels of
    context; only each tile's own area is kept (a full-size float result;
    :func:`tiled_to_image` stores uint8 tile by tile instead)."""
    n, h, w, _ = x.shape
    if tile is None or (h <= tile and w <= tile):
        return fn(x)
    out = None
    for rows, cols, piece in tiled_pieces(
        fn, lambda ya, yb, xa, xb: x[:, ya:yb, xa:xb], h, w, scale, tile, overlap
    ):
        if out is None:
            out = np.empty((n, h * scale, w * scale, piece.shape[3]), np.float32)
        out[:, rows, cols] = piece
    return out


def tiled_to_image(fn, img: np.ndarray, scale: int, tile: int | None, overlap: int) -> np.ndarray:
    """One uint8 (H, W, 3) image through ``fn`` in ``tile``-sized pieces into a preallocated
    uint8 (H * scale, W * scale, 3) result: each tile goes to float in [0, 1] on its own and
    its output is stored as uint8 at once, so the float memory is one tile's whatever the
    image size; equal to ``to_image(tiled_forward(fn, x, ...))`` for ``x`` the whole image."""

    def cut(ya: int, yb: int, xa: int, xb: int) -> np.ndarray:
        return np.asarray(img[ya:yb, xa:xb], np.float32)[None, ..., :3] / 255.0

    h, w = img.shape[:2]
    if tile is None or (h <= tile and w <= tile):
        return to_image(fn(cut(0, h, 0, w)))
    out = np.empty((h * scale, w * scale, 3), np.uint8)
    for rows, cols, piece in tiled_pieces(fn, cut, h, w, scale, tile, overlap):
        out[rows, cols] = to_image(piece)
    return out


def to_image(y: np.ndarray) -> np.ndarray:
    """float (1, H, W, 3) in [0, 1] -> uint8 (H, W, 3), rounded and clipped."""
    return np.round(np.clip(np.asarray(y, np.float32)[0], 0, 1) * 255.0).astype(np.uint8)


class Upscaler:
    def __init__(self, ctx, p):
        from ..backend import fresh_session, runtime

        self.ctx = ctx
        self.p = p
        if p.method == "srgan":
            raise StepError(
                f"step '{ctx.step_id}': method srgan is not available in the keras backend yet",
                hint="use method: srresnet or espcn, or run this step with backend: torch",
            )
        fresh_session(ctx.seed)
        self.rt = runtime(ctx.device, "auto")
        self.rt.apply_policy()
        ctx.info.update({k: v for k, v in self.rt.describe().items() if k != "device_name"})
        ctx.info["method"] = PAPERS[p.method]
        self.arch = ARCH_OF[p.method]
        self.model_artifact = None
        self.net = None
        self._train_stats: list = []
        self.infer_seconds = 0.0
        self.needs_training = p.model is None and p.checkpoint is None
        self.perceptual, self.perceptual_note = self._perceptual()
        with self.rt.scope():
            if p.model is not None:
                art = ctx.model_input(p.model)
                self.net = self._load(art.path, f"{p.model} ({art.path.name})")
            elif p.checkpoint is not None:
                path = ctx.resolve_path(p.checkpoint)
                self.net = self._load(path, str(path))
            elif p.train is not None:
                self.net = self._train_on_set()

    # -- model sources ---------------------------------------------------------------------
    def _load(self, path: Path, what: str):
        from .train import read_meta

        if not Path(path).is_file():
            raise StepError(f"checkpoint not found: {path}")
        try:
            meta = read_meta(path)
        except Exception as exc:
            raise StepError(
                f"cannot read checkpoint {path}: {exc}",
                hint="expected a .weights.h5 (keras) or .safetensors (torch) file written by "
                "a super-resolve step",
            ) from None
        arch, scale = meta.get("arch"), meta.get("scale")
        if arch != self.arch:
            raise StepError(
                f"{what} holds a {arch or 'non-artforge'} network; method {self.p.method} "
                f"needs {self.arch}",
                hint=f"set method to the one the model was trained with ({arch})" if arch else None,
            )
        if scale != self.p.scale:
            raise StepError(
                f"{what} was trained for x{scale}, but this step asks for x{self.p.scale}",
                hint=f"set scale: {scale}, or train a model for x{self.p.scale}",
            )
        net = build_net(arch, scale, meta.get("config"))
        try:
            if Path(path).suffix == ".safetensors":
                from safetensors.numpy import load_file

                from ..nets.convert import load_torch_state

                load_torch_state(net, load_file(str(path)))
                self.ctx.info["weights"] = "trained by the torch backend, converted layer by layer"
            else:
                net.load_weights(str(path))
        except Exception as exc:
            raise StepError(f"{what} does not fit the {arch} network: {exc}") from None
        self.ctx.info["model"] = f"{PAPERS.get(meta.get('method', arch), arch)} from {what}"
        return net

    def _train_on_set(self):
        from .train import PairSampler, save_model

        ctx, p = self.ctx, self.p
        train = ctx.images(p.train)
        if len(train) == 0:
            raise StepError(f"step '{ctx.step_id}': {p.train} holds no training images")
        sampler = PairSampler(
            train.load_all(),
            p.scale,
            p.patch_size,
            ctx.seed,
            **p.degradation.model_dump(),
            what=f"training images {p.train}",
        )
        net = self._fit(sampler, ctx.seed, progress_desc="training")
        meta = self._meta(net, trained_on=f"{len(train)} images from {p.train}")
        art = ctx.model_artifact("model", MODEL_FILE, **meta)
        save_model(art.path, net, meta)
        self.model_artifact = art
        ctx.info["model"] = f"{PAPERS[p.method]}, trained on {len(train)} images ({p.train})"
        return net

    def _fit(self, sampler, seed: int, progress_desc: str, tag: str = "", record: bool = True):
        from ..backend import set_seed
        from ..nets.torch_random import torch_default_init
        from .train import train_sr

        ctx, p = self.ctx, self.p
        set_seed(seed)
        # the weights the torch backend starts from for the same seed
        net = torch_default_init(build_net(self.arch, p.scale), seed)
        progress = ctx.progress(p.steps, progress_desc)
        res = train_sr(
            net,
            sampler,
            steps=p.steps,
            batch_size=p.batch_size,
            lr=p.lr,
            loss=p.loss,
            seed=seed,
            record=ctx.record if record else None,
            progress=progress,
            max_seconds=p.max_minutes * 60 if p.max_minutes else None,
            state_path=ctx.work_dir / f"sr_train{tag}.weights.h5",
            perceptual=self.perceptual,
            perceptual_weight=self.perceptual_weight,
        )
        progress.close()
        self._train_stats.append(res)
        if res.stopped_early:
            ctx.warn(
                f"training stopped after {res.steps} of {p.steps} steps (max_minutes "
                f"{p.max_minutes})"
            )
        return net

    def _meta(self, net, **extra) -> dict[str, Any]:
        p = self.p
        return {
            "arch": self.arch,
            "method": p.method,
            "scale": p.scale,
            "config": getattr(net, "config", {}) or {},
            "steps": p.steps,
            "patch_size": p.patch_size,
            "loss": p.loss,
            "degradation": p.degradation.model_dump(),
            "backend": "keras",
            "format": "keras .weights.h5",
            **extra,
        }

    def _perceptual(self):
        """VGG19 conv5_4 features for the perceptual loss, or None (default weight 0 for
        ESPCN/SRResNet; only with ImageNet weights, random features measure nothing)."""
        p, ctx = self.p, self.ctx
        auto = getattr(p, "perceptual_weight", None) is None
        weight = 0.0 if auto else float(p.perceptual_weight)
        self.perceptual_weight = 0.0
        if weight <= 0 or not self.needs_training:
            return None, None
        from ..style.loss_net import find_weights, perceptual_network

        path = find_weights(ctx, p.vgg_weights)
        if path is None:
            ctx.warn(
                "perceptual_weight is set but no VGG19 ImageNet weights were found "
                "(offline): training uses the pixel loss alone; give vgg_weights: PATH"
            )
            return None, None
        self.perceptual_weight = weight
        ctx.info["perceptual_loss"] = (
            f"VGG19 conv5_4 features x {weight:g} (ImageNet weights from {path})"
        )
        return perceptual_network(path), str(path)

    # -- inference -------------------------------------------------------------------------
    def run(self, lows: list[np.ndarray], names: list[str]) -> list[np.ndarray]:
        from .train import PairSampler, zero_shot_fathers

        p, ctx = self.p, self.ctx
        results = []
        if self.net is None:
            ctx.info["training"] = (
                "zero-shot (Shocher et al. 2018): a network per image, trained on the image "
                "and smaller copies of it degraded by the same x"
                f"{p.scale} bicubic downscaling"
            )
        for i, lo in enumerate(lows):
            net = self.net
            if net is None:
                fathers, weights = zero_shot_fathers(
                    lo, p.scale, min_size=max(2 * p.scale, min(lo.shape[:2]) // 2)
                )
                sampler = PairSampler(
                    fathers,
                    p.scale,
                    p.patch_size,
                    ctx.seed + i,
                    weights=weights,
                    **p.degradation.model_dump(),
                    what=f"zero-shot image {names[i]}",
                )
                with self.rt.scope():
                    net = self._fit(
                        sampler,
                        ctx.seed + i,
                        progress_desc=f"zero-shot {names[i]}",
                        tag=f"_{i}",
                        record=i == 0,
                    )
            overlap = p.tile_overlap if p.tile_overlap is not None else conv_radius(net)
            fn = _inference(net, self.rt)
            t0 = time.perf_counter()
            results.append(tiled_to_image(fn, lo, p.scale, p.tile, overlap))
            self.infer_seconds += time.perf_counter() - t0
        stats = self._train_stats
        if stats:
            ctx.metrics["train_steps"] = int(np.mean([r.steps for r in stats]))
            ctx.metrics["train_seconds"] = round(sum(r.seconds for r in stats), 2)
            ctx.metrics["final_train_loss"] = round(
                float(np.mean([r.final_loss for r in stats])), 5
            )
            if stats[0].resumed_from:
                ctx.info["resumed_from_step"] = stats[0].resumed_from
        return results


_FNS: dict[int, Any] = {}


def _inference(net, rt):
    """``net`` in inference mode, one ``tf.function`` for every input size."""
    key = id(net)
    if key not in _FNS or _FNS[key][0] is not net:
        from ..gan_steps import inference_fn

        _FNS.clear()
        _FNS[key] = (net, inference_fn(net, rt))
    return _FNS[key][1]
