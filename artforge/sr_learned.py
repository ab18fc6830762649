"""The learned methods of ``super-resolve`` (ESPCN, SRResNet, SRGAN), once for every backend.

:class:`Upscaler` gets a network (an earlier step's model, a checkpoint, training on an
image set, or zero-shot training on each input, Shocher et al. 2018), trains it with
:func:`artforge.sr_train.train_sr`, writes the model file and its metadata, and upscales
tile by tile (:func:`tiled_to_image`, planned by :func:`artforge.images.scaled_tiles`). The
tensor work comes from the backend's *runtime* (:class:`SRRuntime`), so a backend supplies
only networks, a train step, a forward pass and its file format.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import StepError
from .images import check_tile, scaled_tiles
from .seeding import derive_seed
from .sr_train import PairSampler, TrainSession, ema_decay_for, train_sr, zero_shot_fathers

ARCH_OF = {"espcn": "espcn", "srresnet": "srresnet", "srgan": "srresnet"}
PAPERS = {
    "espcn": "ESPCN (Shi et al. 2016)",
    "srresnet": "SRResNet (Ledig et al. 2017)",
    "srgan": "SRGAN (Ledig et al. 2017): SRResNet with an adversarial loss",
}
#: the default perceptual-loss weight (SRGAN's VGG54: Ledig et al. rescale the features by
#: 1/12.75, i.e. ~0.006 on their mean squared error), used only when VGG19 weights are found
SRGAN_PERCEPTUAL = 0.006

Forward = Callable[[np.ndarray], np.ndarray]


class SRRuntime(Protocol):
    """The tensor half of ``super-resolve`` a backend supplies (``make_runtime(ctx)``).

    Attributes: ``backend`` (its name, written into model metadata), ``model_file`` (the
    trained model's file name), ``state_suffix`` (training-state files).
    """

    backend: str
    model_file: str
    state_suffix: str

    def scope(self) -> contextlib.AbstractContextManager: ...

    def build(self, arch: str, scale: int, config: dict | None, seed: int) -> Any:
        """A fresh network (weights drawn from ``seed``)."""

    def config_of(self, net: Any) -> dict: ...

    def read_meta(self, path: Path) -> dict:
        """The ``artforge`` metadata of a model file (raise if unreadable)."""

    def load_weights(self, net: Any, path: Path) -> str | None:
        """Load a model file into ``net``; returns a note for the record, or None."""

    def save(self, path: Path, net: Any, meta: dict) -> None: ...

    def find_vgg(self, given: str | None) -> Path | None:
        """The VGG19 weight file for the perceptual loss, or None."""

    def perceptual_network(self, path: Path) -> Any: ...

    def session(
        self, net: Any, *, loss: str, ema_decay: float | None, perceptual: Any, weight: float
    ) -> TrainSession: ...

    def radius(self, net: Any) -> int:
        """An upper bound of the network's receptive-field radius in input pixels."""

    def forward(self, net: Any) -> Forward:
        """``net`` as float32 N x H x W x 3 in [0, 1] -> float32 N x sH x sW x 3."""

    def adversarial(self, net: Any, sampler: PairSampler, tag: str, **settings: Any) -> Any:
        """SRGAN's adversarial phase (only for a runtime that supports ``srgan``)."""


class RuntimeBase:
    """What both backends' runtimes share: the step context, the network's ``config``, and
    no adversarial phase (a runtime that registers ``srgan`` overrides it)."""

    #: extra metadata of the model files this backend writes (e.g. their format)
    model_meta: dict[str, Any] = {}

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def config_of(self, net: Any) -> dict:
        return getattr(net, "config", {}) or {}

    def adversarial(self, net: Any, sampler: PairSampler, tag: str, **settings: Any) -> Any:
        # refused when the recipe loads (no "super-resolver" srgan registered); kept for callers
        raise StepError(f"method srgan is not available on the {self.backend} backend")


def to_image(y: np.ndarray) -> np.ndarray:
    """float (1, H, W, 3) in [0, 1] -> uint8 (H, W, 3), rounded and clipped."""
    return np.round(np.clip(np.asarray(y, np.float32)[0], 0, 1) * 255.0).astype(np.uint8)


def tiled_pieces(
    fn: Forward, cut: Callable[[int, int, int, int], np.ndarray], h, w, scale, tile, overlap
) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """The output tile by tile: ``(rows, cols, piece)`` with ``piece`` ``fn``'s output for
    the output area ``[rows, cols]``, its input cut by ``cut(ya, yb, xa, xb)`` with
    ``overlap`` pixels of context; only one tile is alive at a time."""
    for ya, yb, xa, xb, rows, cols, keep_rows, keep_cols in scaled_tiles(
        h, w, tile, overlap, scale
    ):
        piece = fn(cut(ya, yb, xa, xb))
        check_tile(piece.shape[1:3], (yb - ya, xb - xa), scale)
        yield rows, cols, piece[:, keep_rows, keep_cols]


def tiled_forward(fn: Forward, x: np.ndarray, scale: int, tile: int | None, overlap: int):
    """``fn(x)`` for an (N, H, W, C) float input in ``tile``-sized pieces (a full-size float
    result; :func:`tiled_to_image` stores uint8 tile by tile instead)."""
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


def tiled_to_image(
    fn: Forward, img: np.ndarray, scale: int, tile: int | None, overlap: int
) -> np.ndarray:
    """One uint8 (H, W, 3) image through ``fn`` in ``tile``-sized pieces into a preallocated
    uint8 (H * scale, W * scale, 3) result: each tile goes to float on its own and its output
    is stored as uint8 at once, so the float memory is one tile's whatever the image size.
    Once ``overlap`` covers the receptive-field radius, equal to whole-image inference."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, -1)

    def cut(ya: int, yb: int, xa: int, xb: int) -> np.ndarray:
        return np.asarray(a[ya:yb, xa:xb, :3], np.float32)[None] / np.float32(255.0)

    h, w = a.shape[:2]
    if tile is None or (h <= tile and w <= tile):
        return to_image(fn(cut(0, h, 0, w)))
    out = np.empty((h * scale, w * scale, 3), np.uint8)
    for rows, cols, piece in tiled_pieces(fn, cut, h, w, scale, tile, overlap):
        out[rows, cols] = to_image(piece)
    return out


class Upscaler:
    """The learned methods on any backend: ``begin`` / ``upscale(i, lo, name)`` / ``finish``,
    ``model_artifact`` and ``infer_seconds`` (what :func:`artforge.sr_step.run_super_resolve`
    calls)."""

    def __init__(self, ctx: Any, p: Any, rt: SRRuntime):
        self.ctx, self.p, self.rt = ctx, p, rt
        ctx.info["method"] = PAPERS[p.method]
        self.arch = ARCH_OF[p.method]
        self.model_artifact = None
        self.net: Any = None
        self._stats: list = []
        self._forwards: dict[int, tuple[Any, Forward]] = {}
        self.infer_seconds = 0.0
        self.needs_training = p.model is None and p.checkpoint is None
        self.perceptual, self.perceptual_weight = self._perceptual()
        with rt.scope():
            if p.model is not None:
                art = ctx.model_input(p.model)
                self.net = self._load(Path(art.path), f"{p.model} ({Path(art.path).name})")
            elif p.checkpoint is not None:
                path = ctx.resolve_path(p.checkpoint)
                self.net = self._load(path, str(path))
            elif p.train is not None:
                self.net = self._train_on_set()

    # -- model sources ---------------------------------------------------------------------
    def _load(self, path: Path, what: str) -> Any:
        if not path.is_file():
            raise StepError(f"checkpoint not found: {path}")
        try:
            meta = self.rt.read_meta(path)
        except Exception as exc:
            raise StepError(
                f"cannot read model file {path}: {exc}",
                hint=f"expected a {self.rt.model_file} written by a super-resolve step",
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
        net = self.rt.build(arch, scale, meta.get("config"), self.ctx.seed)
        try:
            note = self.rt.load_weights(net, path)
        except Exception as exc:
            raise StepError(f"{what} does not fit the {arch} network: {exc}") from None
        if note:
            self.ctx.info["weights"] = note
        self.ctx.info["model"] = f"{PAPERS.get(meta.get('method', arch), arch)} from {what}"
        return net

    def _train_on_set(self) -> Any:
        ctx, p = self.ctx, self.p
        train = ctx.images(p.train)
        if len(train) == 0:
            raise StepError(f"step '{ctx.step_id}': {p.train} holds no training images")
        sampler = PairSampler(
            train.load_all(),
            p.scale,
            p.patch_size,
            derive_seed(ctx.seed, "sr-train"),
            **p.degradation.model_dump(),
            what=f"training images {p.train}",
        )
        net = self._fit(sampler, ctx.seed, "training")
        meta = self._meta(net, trained_on=f"{len(train)} images from {p.train}")
        art = ctx.model_artifact("model", self.rt.model_file, **meta)
        self.rt.save(Path(art.path), net, meta)
        self.model_artifact = art
        ctx.info["model"] = f"{PAPERS[p.method]}, trained on {len(train)} images ({p.train})"
        return net

    def _fit(self, sampler: PairSampler, seed: int, desc: str, tag: str = "", record=True):
        """A fresh network trained on ``sampler``: the pixel loss for all steps, or for SRGAN
        for ``pretrain_fraction`` of them (the paper's SRResNet-MSE initialisation), then the
        runtime's adversarial phase."""
        ctx, p, rt = self.ctx, self.p, self.rt
        net = rt.build(self.arch, p.scale, None, seed)
        pixel_steps = int(p.steps * p.pretrain_fraction) if p.method == "srgan" else p.steps
        if pixel_steps > 0:
            srgan = p.method == "srgan"
            session = rt.session(
                net,
                loss=p.loss,
                ema_decay=ema_decay_for(pixel_steps),
                perceptual=None if srgan else self.perceptual,
                weight=0.0 if srgan else self.perceptual_weight,
            )
            progress = ctx.progress(pixel_steps, desc)
            res = train_sr(
                session,
                sampler,
                steps=pixel_steps,
                batch_size=p.batch_size,
                lr=p.lr,
                record=ctx.record if record else None,
                progress=progress,
                max_seconds=p.max_minutes * 60 if p.max_minutes else None,
                state_path=ctx.work_dir / f"sr_train{tag}-{pixel_steps}{rt.state_suffix}",
            )
            progress.close()
            self._stats.append(res)
            if res.stopped_early:
                ctx.warn(
                    f"training stopped after {res.steps} of {pixel_steps} steps (max_minutes "
                    f"{p.max_minutes})"
                )
        if p.method == "srgan" and p.steps > pixel_steps:
            iterations = p.steps - pixel_steps
            net = rt.adversarial(
                net,
                sampler,
                tag,
                iterations=iterations,
                batch_size=p.batch_size,
                loss=p.loss,
                adversarial_weight=p.adversarial_weight,
                perceptual=self.perceptual,
                perceptual_weight=self.perceptual_weight,
            )
            ctx.info["adversarial"] = (
                f"SRGAN phase: {iterations} iterations on the GAN trainer (SRGAN "
                f"discriminator, vanilla GAN loss x {p.adversarial_weight:g}, Adam 1e-4)"
            )
        return net

    def _meta(self, net: Any, **extra: Any) -> dict[str, Any]:
        p = self.p
        return {
            "arch": self.arch,
            "method": p.method,
            "scale": p.scale,
            "config": self.rt.config_of(net),
            "steps": p.steps,
            "patch_size": p.patch_size,
            "loss": p.loss,
            "degradation": p.degradation.model_dump(),
            "backend": self.rt.backend,
            **getattr(self.rt, "model_meta", {}),
            **extra,
        }

    def _perceptual(self) -> tuple[Any, float]:
        """The VGG19 conv5_4 feature network of the perceptual loss and its weight, or (None,
        0). Default weight: SRGAN's VGG54 loss when VGG19 weights are found; none for
        ESPCN/SRResNet (random features measure nothing useful)."""
        p, ctx = self.p, self.ctx
        auto = p.perceptual_weight is None
        weight = (SRGAN_PERCEPTUAL if p.method == "srgan" else 0.0) if auto else p.perceptual_weight
        if weight <= 0 or not self.needs_training:
            return None, 0.0
        path = self.rt.find_vgg(p.vgg_weights)
        if path is None:
            if auto:
                ctx.info["perceptual_loss"] = (
                    "none: no VGG19 ImageNet weights found (offline), so the content loss is "
                    "the pixel loss (SRGAN-MSE in Ledig et al.)"
                )
            else:
                ctx.warn(
                    "perceptual_weight is set but no VGG19 ImageNet weights were found "
                    "(offline): training uses the pixel loss alone; give vgg_weights: PATH"
                )
            return None, 0.0
        ctx.info["perceptual_loss"] = (
            f"VGG19 conv5_4 features x {weight:g} (ImageNet weights from {path})"
        )
        return self.rt.perceptual_network(path), float(weight)

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
                f"and smaller copies of it degraded by the same x{self.p.scale} bicubic "
                "downscaling"
            )

    def upscale(self, i: int, lo: np.ndarray, name: str) -> np.ndarray:
        """Image ``i`` of the set (``name``) upscaled; zero-shot: a network trained on it."""
        p, ctx = self.p, self.ctx
        net = self.net
        if net is None:
            fathers, weights = zero_shot_fathers(
                lo, p.scale, min_size=max(2 * p.scale, min(lo.shape[:2]) // 2)
            )
            seed = derive_seed(ctx.seed, "zero-shot", i)
            sampler = PairSampler(
                fathers,
                p.scale,
                p.patch_size,
                seed,
                weights=weights,
                **p.degradation.model_dump(),
                what=f"zero-shot image {name}",
            )
            with self.rt.scope():
                net = self._fit(sampler, seed, f"zero-shot {name}", tag=f"_{i}", record=i == 0)
        overlap = p.tile_overlap if p.tile_overlap is not None else self.rt.radius(net)
        fn = self._forward(net)
        t0 = time.perf_counter()
        result = tiled_to_image(fn, lo, p.scale, p.tile, overlap)
        self.infer_seconds += time.perf_counter() - t0
        return result

    def _forward(self, net: Any) -> Forward:
        """The runtime's forward pass of ``net``, made once per network."""
        if id(net) not in self._forwards or self._forwards[id(net)][0] is not net:
            self._forwards = {id(net): (net, self.rt.forward(net))}
        return self._forwards[id(net)][1]

    def finish(self) -> None:
        """After the last image: the training metrics."""
        ctx, stats = self.ctx, self._stats
        if stats:
            ctx.metrics["train_steps"] = int(np.mean([r.steps for r in stats]))
            ctx.metrics["train_seconds"] = round(sum(r.seconds for r in stats), 2)
            ctx.metrics["final_train_loss"] = round(
                float(np.mean([r.final_loss for r in stats])), 5
            )
            if stats[0].resumed_from:
                ctx.info["resumed_from_step"] = stats[0].resumed_from
