"""The core's own steps, registered exactly like a third-party plugin's.

Backend-free (Pillow and numpy): ``images``, ``synthetic-scenes``, ``collage`` and ``digits``
(scikit-learn's bundled digits).
Only schemas live here; the step code is imported when a step runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from artforge.hookspecs import hookimpl
from artforge.params import InputRef, Params
from artforge.registry import StepType


class ImagesParams(Params):
    path: str | None = Field(
        None, description="a folder, an image file or a glob, relative to the recipe file"
    )
    skimage: list[str] | None = Field(
        None,
        description="names of photographs bundled with scikit-image (astronaut, chelsea, coffee, "
        "rocket, ...) instead of a path",
    )
    size: int | None = Field(
        None, ge=8, le=4096, description="scale the shorter side to this many pixels"
    )
    crop: Literal["center", "none"] = Field(
        "center", description="center: crop to a size x size square; none: keep the aspect ratio"
    )
    limit: int | None = Field(
        None, ge=1, description="use at most this many images (sorted by name)"
    )
    recursive: bool = Field(False, description="also look in sub-folders")
    grayscale: bool = Field(False, description="convert to grayscale (stored as RGB)")
    max_pixels: int = Field(
        64 * 1024 * 1024, ge=1, description="refuse images with more pixels (decompression bombs)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ImagesParams:
        if (self.path is None) == (self.skimage is None):
            raise ValueError("give exactly one of `path` or `skimage`")
        return self


class ScenesParams(Params):
    count: int = Field(200, ge=1, le=100_000, description="number of training pairs")
    holdout: int = Field(
        32,
        ge=0,
        le=100_000,
        description="number of held-out test pairs (`holdout_*`: report on these)",
    )
    validation: int = Field(
        0,
        ge=0,
        le=100_000,
        description="number of validation pairs (`val_*`: make recipe choices on these, never on "
        "the holdout); other scenes than the training and holdout ones",
    )
    size: int = Field(64, ge=32, le=512, description="image edge in pixels (32 to 512)")
    unpaired: bool = Field(
        False,
        description="unpaired data for CycleGAN: the day set shows `count` other scenes than the "
        "night set (disjoint, in shuffled order); the holdout and validation pairs stay paired",
    )


class CollageParams(Params):
    sets: list[InputRef] = Field(min_length=1, description="image sets, one column each")
    labels: list[str] | None = Field(None, description="a label per set (default: the references)")
    title: str | None = Field(None, description="a title written above each sheet")
    cell: int = Field(128, ge=16, le=2048, description="cell edge in pixels")
    margin: int = Field(8, ge=0, le=256, description="space between cells in pixels")
    background: str = Field("#1e1e24", description="background colour (#rrggbb or a colour name)")
    text_color: str = Field("#f0f0f0", description="label colour")
    rows_per_sheet: int = Field(
        8, ge=1, le=1000, description="rows per sheet; more rows make more sheets"
    )
    limit: int | None = Field(None, ge=1, description="use at most this many images of each set")
    layout: Literal["columns", "grid"] = Field(
        "columns",
        description="columns: set k is column k and row i shows image i of every set; "
        "grid: all images of all sets in a grid of `columns` columns",
    )
    columns: int = Field(8, ge=1, le=100, description="columns of the grid layout")


class DigitsParams(Params):
    size: int = Field(32, ge=16, le=128, description="image edge in pixels (16 to 128)")
    holdout: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="fraction of each class held out as the test split (`test`, also output "
        "as `holdout`; stratified)",
    )
    validation: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="fraction of each class held out as the validation split (`validation`: for "
        "choices and training-time scores; disjoint from train and test)",
    )
    classes: list[int] | None = Field(
        None,
        min_length=1,
        description="use only these digits, e.g. [0, 3, 7]; labels are their positions in "
        "this list (0..K-1), meta.classes their names",
    )
    limit: int | None = Field(
        None,
        ge=1,
        description="use at most this many images in all (before the split), an even share "
        "of each class",
    )
    invert: bool = Field(False, description="black digits on white instead of white on black")
    blur: float = Field(
        0.25,
        ge=0,
        le=2,
        description="Gaussian blur sigma in source pixels (1 source pixel = size/10 output "
        "pixels with pad 1) for smooth strokes; 0: none",
    )
    pad: int = Field(
        1, ge=0, le=4, description="black border around the 8x8 digit, in source pixels"
    )
    split_seed: int | None = Field(
        None,
        ge=0,
        description="seed of the split and of `limit`'s choice (default: the step's seed)",
    )

    @field_validator("classes")
    @classmethod
    def _digits(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            bad = [d for d in value if not 0 <= d <= 9]
            if bad:
                raise ValueError(f"classes are digits 0 to 9, got {bad[0]}")
            if len(set(value)) != len(value):
                raise ValueError("classes must not repeat a digit")
        return value

    @model_validator(mode="after")
    def _enough(self) -> DigitsParams:
        k = len(self.classes) if self.classes is not None else 10
        if self.limit is not None and self.limit < k:
            raise ValueError(f"limit ({self.limit}) must be at least the number of classes ({k})")
        if self.holdout + self.validation >= 1:
            raise ValueError(
                f"holdout ({self.holdout}) + validation ({self.validation}) must leave digits to "
                "train on (sum below 1)"
            )
        return self


@hookimpl
def register_steps(register):
    register(
        StepType(
            name="images",
            params=ImagesParams,
            run="artforge.steps.images:run",
            outputs=("images",),
            description="Load a folder, file or glob of images (or bundled photographs), resized and cropped",
        )
    )
    register(
        StepType(
            name="synthetic-scenes",
            params=ScenesParams,
            run="artforge.steps.scenes_step:run",
            outputs=("night", "day", "holdout_night", "holdout_day", "val_night", "val_day"),
            version="2",  # 2: validation pairs; unpaired days from other scenes than the nights
            description="Paired night/day renderings of procedural landscapes and towns (the main job's data)",
        )
    )
    register(
        StepType(
            name="collage",
            params=CollageParams,
            run="artforge.steps.collage:run",
            outputs=("sheets",),
            description="A labelled grid of one or more image sets, one sheet or several",
        )
    )
    register(
        StepType(
            name="digits",
            params=DigitsParams,
            run="artforge.steps.digits:run",
            outputs=("train", "validation", "test", "holdout"),
            description="scikit-learn's 1797 bundled handwritten digits, upscaled, labelled, "
            "with stratified train / validation / test splits",
            version="2",  # 2: validation and test outputs
        )
    )


@hookimpl
def register_style_optimisers(register):
    register(
        "patch",
        "artforge.patchstyle:PatchStyle",  # numpy only, imported when a recipe uses it
        backend=None,
        description="patch-based style transfer (Elad & Milanfar 2017): the style's own "
        "patches, matched coarse to fine, robustly blended, fused with the content; "
        "weight-free, offline",
    )
