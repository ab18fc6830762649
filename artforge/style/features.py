"""The loss network of ``stylize``: VGG19 with ImageNet weights when a weight file is found,
else weight-free random multi-scale filters (Ustyuzhaninov et al. 2017). The choice, the
layer defaults and checks and the messages are the core's; the backend builds the network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artforge.errors import StepError, suggest

VGG_DESC = "VGG19 (ImageNet weights from {path})"
RANDOM_DESC = (
    "random multi-scale filters (Ustyuzhaninov et al. 2017), offline: no VGG19 weights found"
)


@dataclass
class LossNetworkBase:
    """A frozen feature network and the layers the content and style losses read; a backend
    subclasses it with ``content_targets``, ``style_targets`` and ``losses`` in tensors."""

    net: Any
    content_layers: list[str]
    style_layers: list[str]
    kind: str  # "vgg19" | "random"
    description: str

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys([*self.content_layers, *self.style_layers]))


def find_weights(ctx: Any, given: str | None, vgg_files: str, find_cached: Any) -> Path | None:
    """The VGG19 weight file: ``given`` (relative to the recipe; must exist) or the
    backend's usual cache (``find_cached()``); None if there is none."""
    if given:
        path = ctx.resolve_path(given)
        if not path.is_file():
            raise StepError(
                f"VGG19 weight file not found: {path}",
                hint=f"give {vgg_files}, or drop vgg_weights to use the cache or the "
                "offline random features",
            )
        return path
    found = find_cached()
    return Path(found) if found else None


def check_layers(layers: list[str], known: Any, what: str) -> None:
    bad = [k for k in layers if k not in known]
    if bad:
        hint = suggest(bad[0], list(known))
        raise StepError(
            f"{what} has no layer {bad[0]!r}", hint=hint or f"its layers: {', '.join(known)}"
        )


def _canonical(kind: str, names: list[str] | None) -> list[str]:
    # the random network's layers are scale<k>; scale_<k> is accepted as well
    names = list(names or [])
    return [k.replace("scale_", "scale") for k in names] if kind == "random" else names


def layer_spec(rt: Any, kind: str) -> tuple[Any, list[str], list[str]]:
    """(every layer, default content layers, default style layers) of a feature network of
    the backend (its ``feature_nets()`` module: VGG19 names, RandomMultiScaleFeatures)."""
    feat = rt.feature_nets()
    if kind == "vgg19":
        return feat.VGG19_LAYERS, feat.DEFAULT_CONTENT_LAYERS, feat.DEFAULT_STYLE_LAYERS
    r = feat.RandomMultiScaleFeatures
    return r.LAYERS, r.DEFAULT_CONTENT_LAYERS, r.DEFAULT_STYLE_LAYERS


def build_loss_network(ctx: Any, p: Any, rt: Any, seed: int) -> Any:
    """Choose and build the loss network for the step's keys; records the choice in
    ``ctx.info`` and the log."""
    path = None
    if p.features in ("auto", "vgg19"):
        path = find_weights(ctx, p.vgg_weights, rt.vgg_files, rt.find_vgg19)
        if path is None and p.features == "vgg19":
            raise StepError(
                "features: vgg19 needs VGG19 ImageNet weights, and none were found",
                hint=f"give vgg_weights: PATH ({rt.vgg_files}), put one in the framework's "
                "cache, or use features: random",
            )
    kind = "vgg19" if path is not None else "random"
    known, default_c, default_s = layer_spec(rt, kind)
    c = _canonical(kind, p.content_layers) or list(default_c)
    s = _canonical(kind, p.style_layers) or list(default_s)
    check_layers(c + s, known, "VGG19" if kind == "vgg19" else "the random multi-scale network")
    desc = VGG_DESC.format(path=path) if kind == "vgg19" else RANDOM_DESC
    try:
        net = rt.loss_network(kind, path, c, s, seed, desc)
    except StepError:
        raise
    except Exception as exc:
        raise StepError(
            f"cannot load VGG19 weights from {path}: {type(exc).__name__}: {str(exc)[:300]}",
            hint=f"expected {rt.vgg_files}",
        ) from None
    ctx.info["feature_network"] = desc
    if kind == "random":
        ctx.warn(
            "no VGG19 ImageNet weights found: the losses use weight-free random multi-scale "
            "filters (Ustyuzhaninov et al. 2017); give vgg_weights: PATH for the paper's network"
        )
    else:
        ctx.log(f"  feature network: {desc}")
    return net
