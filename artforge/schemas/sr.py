"""Parameters of the ``super-resolve`` step, shared by the backends.

Methods: the Pillow baselines (``nearest``, ``bicubic``, ``lanczos``, always available) and
the learned ``espcn`` (Shi et al. 2016), ``srresnet`` (Ledig et al. 2017) and ``srgan``
(SRResNet trained with an adversarial loss, Ledig et al. 2017).

A learned model comes from, in order: ``model`` (an earlier step's), ``checkpoint`` (a
file), training on ``train`` (an image set degraded on the fly into low/high-resolution
pairs), or, when none is given, zero-shot training on each input image itself (Shocher et al.
2018, "Zero-shot super-resolution using deep internal learning").

``mode: evaluate`` treats the inputs as ground truth: each is downscaled by ``scale``,
restored, and compared with the original (Y-channel PSNR and SSIM, as in the SR
literature), beside bicubic interpolation of the same low-resolution image.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from artforge.params import InputRef, Params

BASELINE_METHODS = ("nearest", "bicubic", "lanczos")
LEARNED_METHODS = ("espcn", "srresnet", "srgan")
LEARNED_SCALES = (2, 3, 4)


class Degradation(BaseModel):
    """How training pairs are made from high-resolution images (on the fly, per patch)."""

    model_config = ConfigDict(extra="forbid")

    blur: float = Field(
        0.0, ge=0, le=5, description="Gaussian blur before downscaling: sigma drawn from [0, blur]"
    )
    noise: float = Field(
        0.0,
        ge=0,
        le=50,
        description="Gaussian noise on the low-resolution image: std drawn from [0, noise] "
        "(0-255 scale)",
    )
    jpeg: int | None = Field(
        None,
        ge=5,
        le=100,
        description="JPEG-compress the low-resolution image at a quality drawn from [jpeg, 95]",
    )


class SuperResolveParams(Params):
    images: InputRef = Field(
        description="images to upscale (mode: evaluate: the ground truth to downscale and restore)"
    )
    scale: int = Field(2, ge=2, le=8, description="upscaling factor (learned methods: 2, 3 or 4)")
    method: Literal["nearest", "bicubic", "lanczos", "espcn", "srresnet", "srgan"] = Field(
        "espcn",
        description="nearest/bicubic/lanczos: Pillow interpolation; espcn: Shi et al. 2016; "
        "srresnet: Ledig et al. 2017; srgan: SRResNet with an adversarial loss",
    )
    mode: Literal["upscale", "evaluate"] = Field(
        "upscale",
        description="upscale: enlarge the images; evaluate: downscale the images by `scale`, "
        "restore them and report Y-PSNR/SSIM against the originals and against bicubic",
    )
    ground_truth: InputRef | None = Field(
        None,
        description="mode upscale: high-resolution originals (same file names) to score the "
        "results against",
    )
    # where the model comes from
    model: InputRef | None = Field(
        None, description="a model trained by an earlier super-resolve step (${step.model})"
    )
    checkpoint: str | None = Field(
        None, description="a saved model file (.safetensors) written by a super-resolve step"
    )
    train: InputRef | None = Field(
        None,
        description="high-resolution training images; without train, model or checkpoint, "
        "a learned method trains zero-shot on each input image (Shocher et al. 2018)",
    )
    # training
    steps: int = Field(2000, ge=1, le=10_000_000, description="training iterations")
    batch_size: int = Field(16, ge=1, le=1024, description="training batch size")
    patch_size: int = Field(
        64,
        ge=8,
        le=1024,
        description="high-resolution training patch edge in pixels (rounded to a multiple of "
        "scale)",
    )
    lr: float = Field(
        1e-3,
        gt=0,
        description="Adam learning rate (cosine-annealed to 1%; the final model is the "
        "exponential moving average of the weights)",
    )
    loss: Literal["l1", "mse"] = Field("l1", description="pixel loss")
    degradation: Degradation = Field(
        default_factory=Degradation, description="how training pairs are made"
    )
    adversarial_weight: float = Field(
        1e-3, ge=0, description="srgan: weight of the adversarial loss (Ledig et al.: 1e-3)"
    )
    pretrain_fraction: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="srgan: fraction of the steps trained with the pixel loss alone before "
        "the adversarial loss starts",
    )
    perceptual_weight: float | None = Field(
        None,
        ge=0,
        description="weight of a VGG19 conv5_4 feature (perceptual) loss, used only when VGG19 "
        "weights are found (vgg_weights, ARTFORGE_VGG19_WEIGHTS or the torch cache); default: "
        "srgan 0.006 (Ledig et al.'s VGG54), others 0",
    )
    vgg_weights: str | None = Field(None, description="a VGG19 weight file (torchvision keys)")
    max_minutes: float | None = Field(
        None, gt=0, description="stop training after this many minutes even if steps remain"
    )
    # inference
    tile: int | None = Field(
        256,
        ge=8,
        le=8192,
        description="low-resolution tile edge for inference: bounds memory on large images "
        "(None: whole images)",
    )
    tile_overlap: int | None = Field(
        None,
        ge=0,
        le=1024,
        description="low-resolution pixels of context around each tile (default: the "
        "network's receptive-field radius, so tiled results equal whole-image results)",
    )

    @field_validator("method")
    @classmethod
    def _supported(cls, v: str, info: ValidationInfo) -> str:
        # checked when the recipe is loaded: a learned method runs only on a backend that
        # registers it as a "super-resolver" (the keras backend has no srgan yet)
        context = info.context or {}
        registry, backend = context.get("registry"), context.get("backend")
        if v not in LEARNED_METHODS or registry is None or backend is None:
            return v
        have = {c.name for c in registry.components_of("super-resolver", backend)}
        if v not in have:
            others = sorted(
                b
                for (kind, name, b) in registry.components
                if kind == "super-resolver" and name == v and b is not None
            )
            where = f"; it is available on: {', '.join(others)}" if others else ""
            raise ValueError(
                f"method {v} is not available on backend {backend}{where}. Methods on "
                f"{backend}: {', '.join([*BASELINE_METHODS, *sorted(have)])}"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SuperResolveParams:
        learned = self.method in LEARNED_METHODS
        if learned and self.scale not in LEARNED_SCALES:
            raise ValueError(
                f"method {self.method} supports scale 2, 3 or 4, not {self.scale}; "
                "the Pillow baselines (nearest, bicubic, lanczos) take any scale"
            )
        if not learned and (self.model or self.checkpoint or self.train):
            raise ValueError(
                f"method {self.method} is an interpolation: it takes no model, checkpoint or train"
            )
        if sum(x is not None for x in (self.model, self.checkpoint, self.train)) > 1:
            raise ValueError("give at most one of `model`, `checkpoint` or `train`")
        if self.mode == "evaluate" and self.ground_truth is not None:
            raise ValueError(
                "mode evaluate uses the images themselves as ground truth; drop `ground_truth`"
            )
        return self
