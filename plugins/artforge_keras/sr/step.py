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

from artforge.api import StepError
from artforge.images import check_tile, scaled_tiles
from artforge.sr_step import run_super_resolve

MODEL_FILE = "sr.weights.h5"
ARCH_OF = {"espcn": "espcn", "srresnet": "srresnet", "srgan": "srresnet"}
PAPERS = {
    "espcn": "ESPCN (Shi et al. 2016)",
    "srresnet": "SRResNet (Ledig et al. 2017)",
    "srgan": "SRGAN (Ledig et al. 2017): SRResNet with an adversarial loss",
}


def run(ctx, p):
    """The ``super-resolve`` step on the Keras backend (see :mod:`artforge.sr_step`)."""
    return run_super_resolve(ctx, p, lambda: Upscaler(ctx, p))

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
        """Every image of ``lows`` upscaled (the step streams them through :meth:`upscale`)."""
        self.begin()
        results = [self.upscale(i, lo, name) for i, (lo, name) in enumerate(zip(lows, names))]
        self.finish()
        return results

    def begin(self) -> None:
        """Before the first image."""
        if self.net is None:
            self.ctx.info["training"] = (
                "zero-shot (Shocher et al. 2018): a network per image, trained on the image "
                "and smaller copies of it degraded by the same x"
                f"{self.p.scale} bicubic downscaling"
            )

    def upscale(self, i: int, lo: np.ndarray, name: str) -> np.ndarray:
        """Image ``i`` of the set (``name``) upscaled; zero-shot: a network trained on it."""
        from .train import PairSampler, zero_shot_fathers

        p, ctx = self.p, self.ctx
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
                what=f"zero-shot image {name}",
            )
            with self.rt.scope():
                net = self._fit(
                    sampler,
                    ctx.seed + i,
                    progress_desc=f"zero-shot {name}",
                    tag=f"_{i}",
                    record=i == 0,
                )
        overlap = p.tile_overlap if p.tile_overlap is not None else conv_radius(net)
        fn = _inference(net, self.rt)
        t0 = time.perf_counter()
        result = tiled_to_image(fn, lo, p.scale, p.tile, overlap)
        self.infer_seconds += time.perf_counter() - t0
        return result

    def finish(self) -> None:
        """After the last image: the training metrics."""
        ctx, stats = self.ctx, self._train_stats
        if stats:
            ctx.metrics["train_steps"] = int(np.mean([r.steps for r in stats]))
            ctx.metrics["train_seconds"] = round(sum(r.seconds for r in stats), 2)
            ctx.metrics["final_train_loss"] = round(
                float(np.mean([r.final_loss for r in stats])), 5
            )
            if stats[0].resumed_from:
                ctx.info["resumed_from_step"] = stats[0].resumed_from


_FNS: dict[int, Any] = {}


def _inference(net, rt):
    """``net`` in inference mode, one ``tf.function`` for every input size."""
    key = id(net)
    if key not in _FNS or _FNS[key][0] is not net:
        from ..gan_steps import inference_fn

        _FNS.clear()
        _FNS[key] = (net, inference_fn(net, rt))
    return _FNS[key][1]
