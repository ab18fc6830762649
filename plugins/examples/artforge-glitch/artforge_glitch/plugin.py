"""The entry point of artforge-glitch: declares its steps, its generator, its style method
and its command.

Light on purpose: pydantic and ``artforge.api`` only. numpy effects and torch are imported
when a step runs (``run="module:function"``) or a factory is loaded, never at registration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from artforge.api import InputRef, Params, StepType, hookimpl


class PixelSortParams(Params):
    images: InputRef = Field(description="the images to sort, e.g. ${scenes.day}")
    low: float = Field(0.25, ge=0, le=1, description="sort pixels at least this bright (0-1)")
    high: float = Field(0.8, ge=0, le=1, description="and at most this bright (0-1)")
    direction: Literal["rows", "columns"] = Field(
        "rows", description="sort along rows (horizontal streaks) or columns (vertical)"
    )
    key: Literal["brightness", "hue", "saturation"] = Field(
        "brightness", description="what the pixels of a run are sorted by"
    )
    reverse: bool = Field(False, description="sort from high to low")
    max_run: int | None = Field(
        None, ge=2, description="split runs longer than this many pixels (shorter streaks)"
    )

    @model_validator(mode="after")
    def _thresholds(self) -> PixelSortParams:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not be above high ({self.high})")
        return self


class KaleidoscopeParams(Params):
    images: InputRef = Field(description="the images to fold, e.g. ${art.images}")
    segments: int = Field(6, ge=1, le=64, description="n: n-fold rotational and mirror symmetry")
    rotation: float = Field(0.0, description="turn the sampled wedge by this many degrees")
    zoom: float = Field(1.0, gt=0, le=16, description="above 1 samples a larger part of the source")
    center_x: float = Field(0.5, ge=0, le=1, description="wedge centre, fraction of the width")
    center_y: float = Field(0.5, ge=0, le=1, description="wedge centre, fraction of the height")


class CppnArtParams(Params):
    count: int = Field(8, ge=1, le=10_000, description="number of images")
    size: int = Field(128, ge=8, le=4096, description="image edge in pixels")
    nz: int = Field(8, ge=0, le=256, description="size of the latent vector z")
    hidden: int = Field(32, ge=3, le=512, description="units per hidden layer")
    layers: int = Field(4, ge=1, le=32, description="hidden layers")
    activation: Literal["mixed", "tanh", "sin", "gaussian"] = Field(
        "mixed", description="mixed: a third of the units each of tanh, sin and gaussian"
    )
    scale: float = Field(2.0, gt=0, le=100, description="coordinate range: larger zooms out")
    weight_std: float = Field(1.0, gt=0, le=10, description="random weight scale: higher is busier")
    z_scale: float = Field(1.0, ge=0, le=10, description="scale of the latent vectors")
    shared_weights: bool = Field(
        False, description="one network for all images, each with its own z (variations)"
    )
    grayscale: bool = Field(False, description="one channel, stored as RGB")


@hookimpl
def register_steps(register):
    register(
        StepType(
            name="pixel-sort",
            params=PixelSortParams,
            run="artforge_glitch.pixelsort:run",
            outputs=("images",),
            description="Glitch: sort runs of pixels between two brightness thresholds along rows or columns",
        )
    )
    register(
        StepType(
            name="kaleidoscope",
            params=KaleidoscopeParams,
            run="artforge_glitch.kaleidoscope:run",
            outputs=("images",),
            description="Glitch: fold images into an n-fold mirrored kaleidoscope",
        )
    )
    register(
        StepType(
            name="cppn-art",
            params=CppnArtParams,
            run="artforge_glitch.cppn:run",
            outputs=("images",),
            description="Abstract art from random CPPNs (tanh/sin/gaussian of x, y, r, z) at any size",
            backend="torch",
        )
    )


@hookimpl
def register_models(register):
    register(
        "generator",
        "cppn",
        "artforge_glitch.cppn:CPPN",
        backend="torch",
        description="CPPN: z -> images of any size from pixel coordinates (random weights)",
    )


@hookimpl
def register_style_optimisers(register):
    register(
        "glitch-transfer",
        "artforge_glitch.transfer:glitch_transfer",  # numpy, imported when a recipe uses it
        backend=None,
        description="the style's palette (per-channel histograms), red and blue shifted apart",
    )


@hookimpl
def register_commands(cli):
    import click

    @cli.command("glitch")
    @click.argument("source", type=click.Path(dir_okay=False, exists=True))
    @click.argument("target", type=click.Path(dir_okay=False))
    @click.option(
        "--effect",
        type=click.Choice(["pixel-sort", "kaleidoscope"]),
        default="pixel-sort",
        show_default=True,
    )
    @click.option("--low", default=0.25, show_default=True, help="pixel-sort: lower brightness")
    @click.option("--high", default=0.8, show_default=True, help="pixel-sort: upper brightness")
    @click.option(
        "--direction", type=click.Choice(["rows", "columns"]), default="rows", show_default=True
    )
    @click.option("--segments", default=6, show_default=True, help="kaleidoscope: symmetry")
    def glitch(source, target, effect, low, high, direction, segments):
        """Apply a glitch effect to the image SOURCE and write the PNG TARGET."""
        from artforge.api import load_image, save_png

        img = load_image(source)
        if effect == "pixel-sort":
            from artforge_glitch.pixelsort import pixel_sort

            result = pixel_sort(img, low=low, high=high, direction=direction)
        else:
            from artforge_glitch.kaleidoscope import kaleidoscope

            result = kaleidoscope(img, segments=segments)
        save_png(target, result)
        click.echo(f"wrote {target} ({effect}, {result.shape[1]}x{result.shape[0]})")
