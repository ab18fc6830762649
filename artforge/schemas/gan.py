"""Parameters of ``train-gan``, ``translate`` and ``sample``, shared by the backends.

``train-gan`` trains one of the GAN models below; every key has the paper's default:

- ``pix2pix`` (Isola et al. 2017): paired translation ``source`` -> ``target`` (two image
  sets whose file names pair up, or ``folder`` in the aligned A|B format). U-Net generator,
  70x70 PatchGAN, GAN loss + lambda_l1 * L1, Adam(2e-4, beta1 0.5).
- ``dcgan`` / ``cdcgan`` (Radford et al. 2015; class-conditional with a projection
  discriminator): images from noise, ``data`` (labelled for cdcgan).
- ``cyclegan`` (Zhu et al. 2017): unpaired translation between ``source`` (domain A) and
  ``target`` (domain B).

``model`` may also name a GAN trainer a plugin registers for the step's backend
(``register_trainers`` with ``data="paired"``, ``"unpaired"`` or ``"images"``): it is checked
when the recipe is loaded (the loader passes the registry in the validation context), needs
the inputs of its data kind, and gets its own settings from ``options``. ``sample``'s
``generator`` names a generator a plugin registers (``register_models``) and is checked the
same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from artforge.components import component_version, validate_options
from artforge.params import (
    InputRef,
    Params,
    check_registered,
    component_field,
    registered_component,
)

GAN_MODELS = ("pix2pix", "dcgan", "cdcgan", "cyclegan")
GanModel = Literal["pix2pix", "dcgan", "cdcgan", "cyclegan"]
# the data each built-in model trains on (what a registered trainer declares with data=)
MODEL_DATA = {"pix2pix": "paired", "cyclegan": "unpaired", "dcgan": "images", "cdcgan": "images"}
# the train-gan keys only some built-in models read: set for another model, they are refused
# when the recipe loads (a key no model reads is never silently shown in the gallery)
TRANSLATION = ("pix2pix", "cyclegan")
IMAGE_GANS = ("dcgan", "cdcgan")
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "source": TRANSLATION,
    "target": TRANSLATION,
    "direction": TRANSLATION,
    "load_size": TRANSLATION,
    "jitter": TRANSLATION,
    "lambda_l1": ("pix2pix",),
    "lambda_cycle": ("cyclegan",),
    "lambda_identity": ("cyclegan",),
    "n_blocks": ("cyclegan",),
    "pool_size": ("cyclegan",),
    "upsample": ("cyclegan",),
    "head": ("cyclegan",),
    "n_layers_d": TRANSLATION,
    "dropout": TRANSLATION,
    "data": IMAGE_GANS,
    "nz": IMAGE_GANS,
    "n_critic": IMAGE_GANS,
    "eval_samples": IMAGE_GANS,
}


class TrainGanParams(Params):
    model: str = component_field(
        "trainer",
        GAN_MODELS,
        "pix2pix",
        "pix2pix, dcgan, cdcgan or cyclegan, or a GAN trainer a plugin registers for this "
        "backend (`artforge plugins` lists them; its settings go in `options`)",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="a registered trainer's own settings, checked against its Options when the "
        "recipe loads (`artforge plugins` and its plugin's documentation list them)",
    )
    # the chosen trainer's version when it is not "1": in the dump, so in the cache key
    _version: str | None = PrivateAttr(None)
    # -- data -----------------------------------------------------------------------------
    source: InputRef | None = Field(
        None, description="pix2pix: input images (A); cyclegan: domain A"
    )
    target: InputRef | None = Field(
        None,
        description="pix2pix: output images (B), paired with source by file name; cyclegan: domain B",
    )
    data: InputRef | None = Field(
        None, description="dcgan/cdcgan: the training images (labelled for cdcgan)"
    )
    eval_data: InputRef | None = Field(
        None,
        description="dcgan/cdcgan: real labelled images: each sampled epoch, score samples with a "
        "classifier trained on them (series frechet, class_accuracy, coverage_entropy, recall, "
        "precision); use images the GAN does not train on (the digits step's validation)",
    )
    eval_samples: int = Field(
        500, ge=10, le=100_000, description="images generated for each eval_data scoring"
    )
    folder: str | None = Field(
        None,
        description="instead of source/target: a folder of aligned A|B images side by side, or "
        "with sub-folders A/ and B/ of matching file names (relative to the recipe); cyclegan: "
        "a folder with trainA/ and trainB/ (unpaired)",
    )
    direction: Literal["AtoB", "BtoA"] = Field(
        "AtoB", description="which side of `folder` is the input"
    )
    image_size: int = Field(256, description="training resolution, a power of two (16 to 1024)")
    load_size: int | None = Field(
        None,
        description="resize to this before a random image_size crop (default: image_size * 286/256 "
        "when jitter is on)",
    )
    jitter: bool = Field(
        True, description="random resize-and-crop jitter (the paper's augmentation)"
    )
    flip: bool = Field(True, description="random horizontal flips")
    # -- schedule -------------------------------------------------------------------------
    batch_size: int = Field(1, ge=1, le=4096, description="images per iteration (pix2pix: 1)")
    epochs: int = Field(100, ge=1, le=100_000, description="epochs at the initial learning rate")
    decay_epochs: int = Field(
        0,
        ge=0,
        le=100_000,
        description="further epochs with the learning rate decaying linearly to 0",
    )
    iterations: int | None = Field(
        None, ge=1, description="stop after this many iterations instead (overrides epochs)"
    )
    # -- losses and optimiser -------------------------------------------------------------
    loss: Literal["vanilla", "lsgan", "hinge", "wgan-gp"] = Field(
        "vanilla", description="adversarial loss (cyclegan: lsgan, the paper's, unless set)"
    )
    lambda_l1: float = Field(100.0, ge=0, description="pix2pix: weight of the L1 loss")
    lambda_cycle: float = Field(
        10.0, ge=0, description="cyclegan: weight of the cycle-consistency loss"
    )
    lambda_identity: float = Field(
        0.5, ge=0, description="cyclegan: weight of the identity loss, relative to lambda_cycle"
    )
    gp_weight: float = Field(10.0, ge=0, description="wgan-gp: gradient-penalty weight")
    n_critic: int = Field(
        1, ge=1, le=20, description="discriminator steps per generator step (wgan-gp: 5)"
    )
    lr_g: float = Field(2e-4, gt=0, le=1, description="generator learning rate (Adam)")
    lr_d: float = Field(2e-4, gt=0, le=1, description="discriminator learning rate (Adam)")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2")
    # -- networks -------------------------------------------------------------------------
    ngf: int = Field(64, ge=4, le=512, description="generator width (filters in the first layer)")
    ndf: int = Field(64, ge=4, le=512, description="discriminator width")
    n_layers_d: int = Field(3, ge=1, le=6, description="PatchGAN depth (3: 70x70 patches)")
    norm: Literal["batch", "instance", "none"] = Field(
        "batch", description="normalisation layers (cyclegan: instance unless set)"
    )
    dropout: bool = Field(
        True,
        description="pix2pix: dropout 0.5 in the U-Net decoder; cyclegan: in the residual blocks (off unless set)",
    )
    spectral_norm: bool = Field(False, description="spectral normalisation on the discriminator")
    n_blocks: int = Field(
        9,
        ge=1,
        le=32,
        description="cyclegan: residual blocks (unless set: 6 up to 128 px, 9 above)",
    )
    upsample: Literal["transpose", "nearest"] = Field(
        "transpose",
        description="cyclegan: generator upsampling: transpose (the paper's transposed convolutions) "
        "or nearest (resize-convolution: nearest x2 then a 3x3 convolution, no checkerboard)",
    )
    head: Literal["rgb", "affine"] = Field(
        "rgb",
        description="cyclegan: generator output: rgb (the paper's: the image itself) or affine "
        "(a per-pixel colour matrix + bias applied to the input, after Gharbi et al. 2017)",
    )
    pool_size: int = Field(50, ge=0, le=1000, description="cyclegan: image history pool size")
    nz: int = Field(100, ge=1, le=4096, description="dcgan: latent size")
    ema: float | None = Field(
        None, ge=0.0, lt=1.0, description="keep an exponential moving average of G (e.g. 0.999)"
    )
    # -- reliability ----------------------------------------------------------------------
    checkpoint_every: int = Field(
        1, ge=1, description="write a full-state checkpoint every N epochs"
    )
    samples_every: int = Field(
        1, ge=1, description="record a fixed-input sample grid every N epochs"
    )
    on_divergence: Literal["stop", "rollback"] = Field(
        "stop",
        description="stop: fail with a clear message; rollback: reload the last good checkpoint "
        "with lower learning rates",
    )
    collapse_patience: int = Field(
        200,
        ge=1,
        description="iterations with D loss below collapse_threshold that count as collapse",
    )
    collapse_threshold: float = Field(
        1e-4, ge=0, description="D loss under this counts as collapsed"
    )
    rollback_factor: float = Field(0.5, gt=0, lt=1, description="learning-rate factor on rollback")
    max_rollbacks: int = Field(3, ge=0, le=100, description="give up after this many rollbacks")
    # -- performance ----------------------------------------------------------------------
    amp: Literal["auto", "bf16", "fp16", "off"] = Field(
        "auto",
        description="mixed precision on CUDA (auto: bf16 where supported, else fp16 + scaler)",
    )
    channels_last: bool = Field(True, description="channels_last memory format on CUDA")
    compile: bool = Field(False, description="torch.compile the networks (CUDA)")

    @field_validator("model")
    @classmethod
    def _model(cls, v: str, info: ValidationInfo) -> str:
        return check_registered(v, info, kind="trainer", builtin=GAN_MODELS, what="model")

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return validate_options(info, "trainer", info.data.get("model"), v)

    @field_validator(*MODEL_KEYS)
    @classmethod
    def _honoured(cls, v: Any, info: ValidationInfo) -> Any:
        model = info.data.get("model")
        field = cls.model_fields[info.field_name]
        default = field.get_default(call_default_factory=True)
        users = MODEL_KEYS[info.field_name]
        if model in GAN_MODELS and model not in users and v != default:
            raise ValueError(
                f"{info.field_name} is a setting of {' and '.join(users)}; {model} does not "
                "use it (remove it, or choose a model that does)"
            )
        return v

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # no `options` key unless set: the cache keys of built-in models stay as they were;
        # a trainer's version other than "1" enters the dump, so the cache key
        data = handler(self)
        if not self.options:
            data.pop("options", None)
        if self._version is not None:
            data["trainer_version"] = self._version
        return data

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> TrainGanParams:
        s = self.image_size
        if s & (s - 1) or not 16 <= s <= 1024:
            raise ValueError(f"image_size must be a power of two from 16 to 1024, got {s}")
        if self.model not in GAN_MODELS:
            return self._check_registered(info)
        if self.options:
            raise ValueError(
                f"`options` configure a trainer a plugin registers; {self.model} takes none "
                "(its settings are the keys of this step)"
            )
        if self.model in ("pix2pix", "cyclegan") and s < 2 ** (self.n_layers_d + 2):
            raise ValueError(
                f"a PatchGAN with n_layers_d={self.n_layers_d} needs image_size >= "
                f"{2 ** (self.n_layers_d + 2)}; got {s} (lower n_layers_d or raise image_size)"
            )
        if (
            self.model == "pix2pix"
            and self.folder is None
            and (self.source is None or self.target is None)
        ):
            raise ValueError("pix2pix needs `source` and `target` image sets (or a `folder`)")
        if self.model == "cyclegan":
            if self.folder is None and (self.source is None or self.target is None):
                raise ValueError(
                    "cyclegan needs `source` (domain A) and `target` (domain B), or a `folder` "
                    "with trainA/ and trainB/"
                )
            # the paper's settings where the recipe does not set them (Zhu et al. 2017):
            # LSGAN, instance norm, no dropout, 6 residual blocks up to 128 px and 9 above
            unset = {"loss", "norm", "dropout", "n_blocks"} - self.model_fields_set
            if "loss" in unset:
                self.loss = "lsgan"
            if "norm" in unset:
                self.norm = "instance"
            if "dropout" in unset:
                self.dropout = False
            if "n_blocks" in unset:
                self.n_blocks = 6 if s <= 128 else 9
        if self.model in ("dcgan", "cdcgan"):
            if self.data is None and self.folder is None:
                raise ValueError(f"{self.model} needs `data` (an image set) or a `folder`")
            if s not in (32, 64, 128):
                raise ValueError(f"{self.model} supports image_size 32, 64 or 128, got {s}")
        if self.eval_data is not None and self.model not in ("dcgan", "cdcgan"):
            raise ValueError(f"eval_data scores dcgan/cdcgan samples; {self.model} does not use it")
        if self.load_size is not None and self.load_size < s:
            raise ValueError(f"load_size ({self.load_size}) must be at least image_size ({s})")
        return self

    def _check_registered(self, info: ValidationInfo) -> TrainGanParams:
        """A registered trainer: the inputs of its data kind (as the built-in of that kind)."""
        comp = registered_component(info, "trainer", self.model)
        self._version = component_version(info, "trainer", self.model)
        data = comp.data if comp is not None else None
        name = self.model
        if (
            data in ("paired", "unpaired")
            and self.folder is None
            and (self.source is None or self.target is None)
        ):
            what = (
                "pairs: `source` and `target` image sets whose file names pair up, or a "
                "`folder` of aligned A|B images"
                if data == "paired"
                else "two unpaired domains: `source` (A) and `target` (B), or a `folder` with "
                "trainA/ and trainB/"
            )
            raise ValueError(f"{name} trains on {what}")
        if data == "images" and self.data is None and self.folder is None:
            raise ValueError(f"{name} trains on images: give `data` (an image set) or a `folder`")
        if self.eval_data is not None:
            raise ValueError(f"eval_data scores dcgan/cdcgan samples; {name} does not use it")
        if self.load_size is not None and self.load_size < self.image_size:
            raise ValueError(
                f"load_size ({self.load_size}) must be at least image_size ({self.image_size})"
            )
        return self

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs


class TranslateParams(Params):
    model: InputRef = Field(description="a trained generator (`${train.generator}`)")
    images: InputRef = Field(description="images to translate, any size")
    direction: Literal["AtoB", "BtoA"] = Field(
        "AtoB", description="cyclegan: which generator to apply"
    )
    tile: int | None = Field(
        None,
        ge=16,
        description="translate in overlapping tiles of this size (default: whole images up to "
        "1024 px, tiles beyond)",
    )
    overlap: int = Field(32, ge=0, description="tile overlap in pixels (blended)")
    batch_size: int = Field(8, ge=1, le=1024, description="images per forward pass")
    use_ema: bool = Field(True, description="use the EMA generator when the model has one")
    target: InputRef | None = Field(
        None, description="ground truth paired by file name: PSNR/SSIM are recorded against it"
    )
    baseline_source: InputRef | None = Field(
        None,
        description="training inputs for the baselines (fitted from baseline_source to "
        "baseline_target, paired by file name; scored beside the model, the margin is against "
        "the strongest)",
    )
    baseline_target: InputRef | None = Field(None, description="training targets for the baselines")
    baselines: list[Literal["mean_image", "affine", "colour_matrix", "pixel_ridge"]] = Field(
        ["mean_image", "affine", "colour_matrix", "pixel_ridge"],
        min_length=1,
        description="which baselines to fit: the mean training target, a per-channel affine colour "
        "map, a 3x3 colour matrix + bias, a 3x3 + bias per pixel position (ridge)",
    )

    @model_validator(mode="after")
    def _check(self) -> TranslateParams:
        if (self.baseline_source is None) != (self.baseline_target is None):
            raise ValueError("give both baseline_source and baseline_target, or neither")
        if self.baseline_source is not None and self.target is None:
            raise ValueError("the baselines are scored against `target`: give it too")
        return self


class SampleParams(Params):
    model: InputRef | None = Field(
        None, description="a trained dcgan/cdcgan generator (`${train.generator}`)"
    )
    generator: str | None = component_field(
        "generator",
        (),
        None,
        "instead of model: a generator registered by a plugin for this backend (`artforge "
        "plugins` lists them, e.g. cppn from artforge-glitch), built with `options` and random "
        "weights drawn from the step's seed",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="generator: keyword arguments of the registered generator (e.g. nz, "
        "image_size)",
    )
    n: int = Field(64, ge=1, le=100_000, description="images to generate")
    classes: list[int | str] | None = Field(
        None,
        description="cdcgan: the classes to draw (indices or class names), balanced over n "
        "(default: every class)",
    )
    grid: int | None = Field(
        None,
        ge=1,
        le=256,
        description="columns of the grid image; cdcgan: one row per class, up to this many "
        "images each (default: up to 16); dcgan: up to 16 rows (default: about sqrt(n) columns)",
    )
    walk_points: int = Field(
        6, ge=2, le=32, description="random latent points of the latent walk (a closed loop)"
    )
    walk_frames: int = Field(
        8, ge=1, le=120, description="frames per segment of the walk (spherical interpolation)"
    )
    walk_fps: float = Field(12.0, gt=0, le=50, description="frames per second of the walk GIF")
    reference: InputRef | None = Field(
        None,
        description="real labelled images the generator never saw (e.g. the digits step's test "
        "set): score the samples with a classifier fitted on half of them (Frechet distance and "
        "ratio, precision/recall, density/coverage, within-class diversity), beside the same "
        "scores for the other half (real_*) and for class-mean images (means_*)",
    )
    train: InputRef | None = Field(
        None,
        description="the generator's labelled training images (with `reference`): novelty and "
        "copies, the samples' nearest-neighbour distance to them against held-out real images' "
        "(memorisation)",
    )
    inception_weights: str | None = Field(
        None,
        description="a local Inception weights file: also report a standard FID against "
        "`reference` (torch helper)",
    )
    batch_size: int = Field(256, ge=1, le=4096, description="images per forward pass")

    _version: str | None = PrivateAttr(None)

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return validate_options(info, "generator", info.data.get("generator"), v)

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # a registered generator's version other than "1" enters the dump, so the cache key
        data = handler(self)
        if self._version is not None:
            data["generator_version"] = self._version
        return data

    @field_validator("generator")
    @classmethod
    def _generator(cls, v: str | None, info: ValidationInfo) -> str | None:
        # checked when the recipe is loaded (the loader passes the registry); there are no
        # built-in generators, so without a registry a name is left to the step to look up
        if v is None or (info.context or {}).get("registry") is None:
            return v
        return check_registered(v, info, kind="generator", builtin=(), what="generator")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> SampleParams:
        self._version = component_version(info, "generator", self.generator)
        if (self.model is None) == (self.generator is None):
            raise ValueError(
                "give `model` (a trained generator) or `generator` (a registered one), not both"
                if self.model is not None
                else "give `model` (a trained generator, e.g. ${train.generator}) or `generator` "
                "(a registered generator such as cppn)"
            )
        if self.options and self.generator is None:
            raise ValueError("`options` configure a registered `generator`: give it too")
        if self.train is not None and self.reference is None:
            raise ValueError("`train` is read against held-out real images: give `reference` too")
        if self.inception_weights is not None and self.reference is None:
            raise ValueError("inception_weights computes FID against `reference`: give it too")
        return self
