"""Parameters of the ``stylize`` step (neural style transfer), shared by the backends.

``method: auto`` (the default) is ``patch`` offline, when no VGG19 weights are found, and
``optimise`` with them: the patch method beats the colour-only baseline and Gatys with the
offline random features on every photograph of recipes/stylize.yaml (README, "Style transfer").

Two methods of the loss network:

* ``optimise``: Gatys, Ecker & Bethge (2016), "Image style transfer using convolutional
  neural networks": the image itself is optimised (L-BFGS or Adam) so that its CNN features
  match the content image's and the Gram matrices of its features match the style image's.
* ``feed-forward``: Johnson, Alahi & Fei-Fei (2016), "Perceptual losses for real-time style
  transfer": an image-transformation network is trained once for the style with the same
  losses, then stylizes each image in one forward pass.

``method`` may also name a style optimiser a plugin registers for the step's backend
(``register_style_optimisers``): it is checked when the recipe is loaded, is called once per
content image with the style image and these parameters, and gets its own settings from
``options``. ``gatys`` and ``johnson``, the names under which the backends register the two
methods above, are the same as ``optimise`` and ``feed-forward``.

The style image is a built-in procedural style (``builtin:<name>``), an image file (relative
to the recipe), or a reference to another step's images (``${step.output}``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_serializer, model_validator

from artforge.params import InputRef, Params, check_registered, component_field, parse_ref

BUILTIN_PREFIX = "builtin:"
STYLE_METHODS = ("auto", "optimise", "feed-forward")
# the registered style optimisers that are the built-in methods (see the module docstring)
METHOD_ALIASES = {"gatys": "optimise", "johnson": "feed-forward"}


def check_supported(method: str, info: ValidationInfo) -> None:
    """A backend declares the built-in methods it runs by registering their style optimisers
    (``gatys`` for optimise, ``johnson`` for feed-forward) for its backend; a recipe naming a
    method its backend lacks is refused when it loads (with file and line)."""
    context = info.context or {}
    registry, backend = context.get("registry"), context.get("backend")
    name = {v: k for k, v in METHOD_ALIASES.items()}.get(method)
    if registry is None or backend is None or name is None:
        return
    if any(
        k == "style-optimiser" and n == name and b in (backend, None)
        for k, n, b in registry.components
    ):
        return
    from pydantic_core import PydanticCustomError

    others = sorted(
        {b for k, n, b in registry.components if k == "style-optimiser" and n == name} - {None}
    )
    raise PydanticCustomError(
        "artforge_name",
        "{message}",
        {
            "message": f"method {method} is not supported by backend {backend}",
            "hint": (f"backends that run it: {', '.join(others)}; " if others else "")
            + "method: patch runs on every backend",
        },
    )


def builtin_style_names() -> list[str]:
    """Names of the procedural styles that ship with artforge ([] if unavailable)."""
    try:
        from artforge.styles import STYLES
    except ImportError:
        return []
    return sorted(STYLES)


class StylizeParams(Params):
    images: InputRef = Field(description="content images to stylize")
    style: str = Field(
        description="the style image: 'builtin:<name>' (a procedural style that ships with "
        "artforge), an image file relative to the recipe, or a reference ${step.output} to "
        "another step's images"
    )
    style_index: int = Field(
        0, ge=0, description="which image of a referenced style image set to use"
    )
    method: str = component_field(
        "style-optimiser",
        STYLE_METHODS,
        "auto",
        "auto (the default): patch when no VGG19 weights are found (offline), optimise when "
        "they are; optimise: Gatys et al. 2016, the image is optimised (slow, any style); "
        "feed-forward: Johnson et al. 2016, train a transformation network for the style, "
        "then one forward pass per image (gatys and johnson are the same); patch: Elad & "
        "Milanfar 2017, the style's own patches matched coarse to fine (weight-free, numpy, "
        "every backend; visible strokes offline; settings in `options`); or a style "
        "optimiser a plugin registers for this backend (`artforge plugins` lists them; its "
        "settings go in `options`)",
        aliases=METHOD_ALIASES,
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="a registered style optimiser's own settings (see its plugin's documentation)",
    )
    features: Literal["auto", "vgg19", "random"] = Field(
        "auto",
        description="loss network: vgg19 (ImageNet weights from vgg_weights or the usual torch "
        "cache), random (weight-free random multi-scale filters, Ustyuzhaninov et al. 2017), "
        "auto (vgg19 when weights are found, else random)",
    )
    vgg_weights: str | None = Field(
        None,
        description="a VGG19 weight file with torchvision's `vgg19` keys (.pth or "
        ".safetensors); default: look in the framework's usual cache",
    )
    content_layers: list[str] | None = Field(
        None, description="feature layers of the content loss (default: the paper's, conv4_2)"
    )
    style_layers: list[str] | None = Field(
        None,
        description="feature layers of the style loss (default: the paper's, conv1_1 to conv5_1)",
    )
    content_weight: float = Field(
        1.0,
        ge=0,
        description="weight of the content loss (alpha); the content and style losses are "
        "relative squared errors (each layer's error over its target's squared norm), so the "
        "weights mean the same with either feature network",
    )
    style_weight: float = Field(
        10.0,
        ge=0,
        description="weight of the style loss (beta): the style strength (1: a hint of the "
        "style, 10: clearly stylized, 100: mostly style)",
    )
    tv_weight: float = Field(
        1.0, ge=0, description="weight of the total-variation (smoothness) loss on [0,1] pixels"
    )
    steps: int = Field(
        200,
        ge=1,
        le=100_000,
        description="optimise: iterations at each scale; feed-forward: training iterations",
    )
    optimiser: Literal["lbfgs", "adam"] = Field(
        "lbfgs", description="optimise: L-BFGS (the paper's) or Adam"
    )
    lr: float | None = Field(
        None,
        gt=0,
        description="learning rate (default: 1 for L-BFGS, 0.02 for Adam on [0,1] pixels, "
        "1e-3 for feed-forward training)",
    )
    init: Literal["content", "noise"] = Field(
        "content", description="optimise: start from the content image or from noise"
    )
    size: int | None = Field(
        512,
        ge=16,
        le=8192,
        description="longer edge of the output in pixels (None: the content image's own size)",
    )
    style_size: int | None = Field(
        None, ge=16, le=8192, description="longer edge of the style image (default: size)"
    )
    scales: int | None = Field(
        None,
        ge=1,
        le=6,
        description="optimise: coarse-to-fine levels, each twice the size of the previous "
        "(default: add levels until the coarsest is at most 256 pixels)",
    )
    preserve_color: bool = Field(
        False,
        description="transfer luminance only and keep the content image's colours "
        "(Gatys et al. 2016, 'Preserving color in neural artistic style transfer')",
    )
    # feed-forward
    train_images: InputRef | None = Field(
        None, description="feed-forward: content images to train on (default: images)"
    )
    train_size: int = Field(
        256, ge=16, le=2048, description="feed-forward: training crop edge in pixels"
    )
    batch_size: int = Field(4, ge=1, le=256, description="feed-forward: training batch size")
    width: int = Field(
        32,
        ge=4,
        le=128,
        description="feed-forward: channels of the transformation network's first layer "
        "(Johnson et al.: 32; 16 is four times cheaper)",
    )
    model: InputRef | None = Field(
        None,
        description="feed-forward: a network trained by an earlier stylize step "
        "(${step.model}); skips training",
    )
    checkpoint: str | None = Field(
        None, description="feed-forward: a saved transformation network (.safetensors)"
    )

    @field_validator("method")
    @classmethod
    def _method(cls, v: str, info: ValidationInfo) -> str:
        v = check_registered(
            v,
            info,
            kind="style-optimiser",
            builtin=STYLE_METHODS,
            what="method",
            aliases=METHOD_ALIASES,
        )
        check_supported(v, info)
        return v

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # no `options` key unless set: the cache keys of the built-in methods stay as they were
        data = handler(self)
        if not self.options:
            data.pop("options", None)
        return data

    @field_validator("style")
    @classmethod
    def _style(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("give a style image: builtin:<name>, a file or ${step.output}")
        if v.startswith("${") and parse_ref(v) is None:
            raise ValueError(f"{v!r} is not a reference like ${{step.output}}")
        if v.startswith(BUILTIN_PREFIX):
            names = builtin_style_names()
            name = v[len(BUILTIN_PREFIX) :]
            if names and name not in names:
                from artforge.errors import suggest

                hint = suggest(name, names)
                raise ValueError(
                    f"unknown built-in style {name!r}"
                    + (f"; {hint}" if hint else "")
                    + f" (built-in styles: {', '.join(names)})"
                )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StylizeParams:
        if self.method != "feed-forward" and (self.model or self.checkpoint):
            raise ValueError("`model` and `checkpoint` apply to method: feed-forward only")
        if self.options and self.method == "auto":
            raise ValueError(
                "`options` need a named method: method auto may run optimise, which takes "
                "none; give method: patch (or the registered method they are for)"
            )
        if self.options and self.method in STYLE_METHODS:
            raise ValueError(
                f"`options` configure a style optimiser a plugin registers; {self.method} "
                "takes none (its settings are the keys of this step)"
            )
        if self.model and self.checkpoint:
            raise ValueError("give at most one of `model` or `checkpoint`")
        if self.content_layers == [] or self.style_layers == []:
            raise ValueError("content_layers and style_layers need at least one layer each")
        return self
