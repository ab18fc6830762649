"""Learned super-resolution for the ``super-resolve`` step: get a network (an earlier step's
model, a checkpoint, training on an image set, or zero-shot training on each image), then
upscale with tiled inference."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artforge.api import StepError

from ..style.util import (
    describe_device,
    load_safetensors,
    resolve_device,
    save_safetensors,
)
from .data import PairSampler, zero_shot_fathers
from .tiled import conv_radius, tiled_to_image
from .train import train_sr

MODEL_FILE = "sr.safetensors"
ARCH_OF = {"espcn": "espcn", "srresnet": "srresnet", "srgan": "srresnet"}
PAPERS = {
    "espcn": "ESPCN (Shi et al. 2016)",
    "srresnet": "SRResNet (Ledig et al. 2017)",
    "srgan": "SRGAN (Ledig et al. 2017): SRResNet with an adversarial loss",
}


def build_net(arch: str, scale: int, config: dict[str, Any] | None = None) -> torch.nn.Module:
    from ..nets.sr import ESPCN, SRResNet

    cls = {"espcn": ESPCN, "srresnet": SRResNet}[arch]
    return cls(scale=scale, **(config or {}))


def upscale_tensor(
    net: torch.nn.Module, img: np.ndarray, scale: int, tile: int | None, overlap: int, device
) -> np.ndarray:
    """One uint8 image through ``net`` (tiled), back to uint8: tile by tile into the uint8
    result, so the float memory stays that of one tile (:func:`tiled_to_image`)."""
    with torch.inference_mode():
        return tiled_to_image(net, img, scale, tile, overlap, device)


class Upscaler:
    def __init__(self, ctx, p):
        self.ctx = ctx
        self.p = p
        self.device = resolve_device(ctx.device)
        ctx.info["device"] = describe_device(self.device)
        ctx.info["method"] = PAPERS[p.method]
        self.arch = ARCH_OF[p.method]
        self.model_artifact = None
        self.net: torch.nn.Module | None = None
        self._train_stats: list = []
        self.infer_seconds = 0.0
        self.needs_training = p.model is None and p.checkpoint is None
        self.perceptual, self.perceptual_note = self._perceptual()
        if p.model is not None:
            art = ctx.model_input(p.model)
            self.net = self._load(art.path, f"{p.model} ({art.path.name})")
        elif p.checkpoint is not None:
            path = ctx.resolve_path(p.checkpoint)
            self.net = self._load(path, str(path))
        elif p.train is not None:
            self.net = self._train_on_set()

    # -- model sources ---------------------------------------------------------------------
    def _load(self, path: Path, what: str) -> torch.nn.Module:
        tensors, meta = load_safetensors(path)
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
            net.load_state_dict(tensors)
        except RuntimeError as exc:
            raise StepError(f"{what} does not fit the {arch} network: {exc}") from None
        self.ctx.info["model"] = f"{PAPERS.get(meta.get('method', arch), arch)} from {what}"
        return net.to(self.device).eval()

    def _train_on_set(self) -> torch.nn.Module:
        ctx, p = self.ctx, self.p
        train = ctx.images(p.train)
        if len(train) == 0:
            raise StepError(f"step '{ctx.step_id}': {p.train} holds no training images")
        images = train.load_all()
        sampler = PairSampler(
            images,
            p.scale,
            p.patch_size,
            ctx.seed,
            **p.degradation.model_dump(),
            what=f"training images {p.train}",
        )
        net = self._fit(sampler, ctx.seed, progress_desc="training")
        meta = self._meta(net, trained_on=f"{len(train)} images from {p.train}")
        art = ctx.model_artifact("model", MODEL_FILE, **meta)
        save_safetensors(art.path, net.state_dict(), meta)
        self.model_artifact = art
        ctx.info["model"] = f"{PAPERS[p.method]}, trained on {len(train)} images ({p.train})"
        return net

    def _fit(self, sampler, seed: int, progress_desc: str, tag: str = "", record: bool = True):
        """A fresh network trained on ``sampler``: the pixel loss for all steps, or for SRGAN
        the pixel loss for ``pretrain_fraction`` of them (SRResNet initialisation, as in the
        paper), then the adversarial phase on the shared GAN trainer."""
        ctx, p = self.ctx, self.p
        torch.manual_seed(seed)
        net = build_net(self.arch, p.scale)
        pixel_steps = p.steps
        if p.method == "srgan":
            pixel_steps = int(p.steps * p.pretrain_fraction)
        if pixel_steps > 0:
            progress = ctx.progress(pixel_steps, progress_desc)
            res = train_sr(
                net,
                sampler,
                steps=pixel_steps,
                batch_size=p.batch_size,
                lr=p.lr,
                loss=p.loss,
                device=self.device,
                seed=seed,
                record=ctx.record if record else None,
                progress=progress,
                max_seconds=p.max_minutes * 60 if p.max_minutes else None,
                state_path=ctx.work_dir / f"sr_train{tag}.pt",
                # SRGAN: the pixel-loss phase is the paper's SRResNet-MSE initialisation
                perceptual=self.perceptual if p.method != "srgan" else None,
                perceptual_weight=self.perceptual_weight,
            )
            progress.close()
            self._train_stats.append(res)
            if res.stopped_early:
                ctx.warn(
                    f"training stopped after {res.steps} of {pixel_steps} steps (max_minutes "
                    f"{p.max_minutes})"
                )
        if p.method == "srgan" and p.steps > pixel_steps:
            from .srgan import SamplerData, SRGANSettings, SRGANTrainer

            settings = SRGANSettings(
                iterations=p.steps - pixel_steps,
                batch_size=p.batch_size,
                loss=p.loss,
                adversarial_weight=p.adversarial_weight,
                perceptual_weight=self.perceptual_weight,
            )
            trainer = SRGANTrainer(ctx, settings, SamplerData(sampler), net, self.perceptual)
            trainer.checkpoint_name = f"srgan{tag}.pt"
            trainer.fit()
            net = trainer.nets["G"].to(memory_format=torch.contiguous_format)
            ctx.info["adversarial"] = (
                f"SRGAN phase: {settings.iterations} iterations on the shared GAN trainer "
                f"(SRGAN discriminator, vanilla GAN loss x {p.adversarial_weight:g}, Adam 1e-4)"
            )
        return net.eval()

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
            "backend": "torch",
            **extra,
        }

    def _perceptual(self):
        """The VGG19 feature network of the perceptual loss, or None. Default weight: SRGAN's
        VGG54 loss (Ledig et al. rescale the features by 1/12.75, i.e. weight ~0.006 on
        their mean squared error) when VGG19 weights are found; none for ESPCN/SRResNet."""
        p, ctx = self.p, self.ctx
        auto = p.perceptual_weight is None
        weight = (0.006 if p.method == "srgan" else 0.0) if auto else p.perceptual_weight
        self.perceptual_weight = 0.0
        if weight <= 0 or self.needs_training is False:
            return None, None
        from ..style.loss_net import find_weights, perceptual_network

        path = find_weights(ctx, p.vgg_weights)
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
            return None, None
        self.perceptual_weight = weight
        ctx.info["perceptual_loss"] = (
            f"VGG19 conv5_4 features x {weight:g} (ImageNet weights from {path})"
        )
        return perceptual_network(path, self.device), str(path)

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
            net = self._fit(
                sampler,
                ctx.seed + i,
                progress_desc=f"zero-shot {name}",
                tag=f"_{i}",
                record=i == 0,
            )
        overlap = p.tile_overlap if p.tile_overlap is not None else conv_radius(net)
        t0 = time.perf_counter()
        result = upscale_tensor(net, lo, p.scale, p.tile, overlap, self.device)
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
