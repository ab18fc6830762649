"""The one registration of the ``colour-gan`` model, for both backends.

Imports neither torch nor TensorFlow: the networks and trainers are named by strings and
imported only when a recipe trains or translates with them.
"""

from pydantic import Field

from artforge.api import Options, hookimpl


class ColourGanOptions(Options):
    """The model's own settings: a recipe's ``options:`` of ``model: colour-gan``."""

    width: int = Field(16, ge=1, le=256, description="hidden channels of the colour network")


@hookimpl
def register_models(register):
    for backend in ("torch", "keras"):
        register(
            "generator",
            "colournet",
            f"artforge_colournet.{backend}_nets:ColourNet",
            backend=backend,
            description="a per-pixel colour network: two 1x1 convolutions",
        )


@hookimpl
def register_trainers(register):
    for backend in ("torch", "keras"):
        register(
            "colour-gan",
            f"artforge_colournet.{backend}_runtime:ColourGanTrainer",
            backend=backend,
            description="paired colour translation: a ColourNet generator, the pix2pix loss",
            data="paired",
            options=ColourGanOptions,
            version="1",
        )
