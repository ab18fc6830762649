"""The loss network of style transfer in Keras: VGG19 with ImageNet weights when a weight file
is found (Keras' own ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` through
``keras.applications.VGG19``, or torchvision's file), else the weight-free random multi-scale
filters (Ustyuzhaninov et al. 2017); and the losses on its features, the same definitions as
the PyTorch backend's (each layer's term a *relative* squared error, so a weight means the
same with either network)."""

from __future__ import annotations

from pathlib import Path

from artforge.api import StepError
from artforge.style.features import RANDOM_DESC, VGG_DESC, LossNetworkBase  # noqa: F401
from artforge.style.features import find_weights as find

from ..backend import keras_module

keras = keras_module()
ops = keras.ops

VGG_FILES = (
    "Keras' VGG19 ImageNet file (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5) or "
    "torchvision's vgg19 state dict (features.N.weight/bias keys) as .pth or .safetensors"
)
EPS = 1e-12


def gram(f):
    from ..nets.losses import gram_matrix

    return gram_matrix(f)


def content_loss(f, target):
    from ..nets import losses

    t = ops.cast(target, "float32")
    return losses.content_loss(f, t) / (ops.mean(ops.square(t)) + EPS)


def style_loss(f, target_gram):
    from ..nets import losses

    g = ops.cast(target_gram, "float32")
    return losses.style_loss({"layer": f}, {"layer": g}) / (ops.sum(ops.square(g)) + EPS)


RANGE_WEIGHT = 100.0


def range_penalty(x):
    """Mean squared distance of the pixels from [0, 1]. The losses are computed on the
    clipped image (the one that is written), where out-of-range pixels get no gradient; this
    term pulls them back instead of letting them drift out of range (where the clipped result
    would lose the style match the optimiser reached)."""
    x = ops.cast(x, "float32")
    return ops.mean(ops.square(x - ops.clip(x, 0.0, 1.0)))


def tv(x):
    from ..nets.losses import tv_loss

    return tv_loss(x)


class LossNetwork(LossNetworkBase):
    """A feature extractor (``net(x, layers)`` -> {layer: NHWC features}) and the losses
    on it. Images are (N, H, W, 3) in [0, 1]."""

    def features(self, x, layers):
        if self.kind == "random":
            return self.net(x, layers=layers)
        out = self.net(x)
        return {k: out[k] for k in layers}

    def content_targets(self, content) -> dict:
        f = self.features(content, self.content_layers)
        return {k: ops.stop_gradient(f[k]) for k in self.content_layers}

    def style_targets(self, style) -> dict:
        """Gram matrices of the style image (averaged over a batch of style images)."""
        f = self.features(style, self.style_layers)
        return {
            k: ops.stop_gradient(ops.mean(gram(f[k]), axis=0, keepdims=True))
            for k in self.style_layers
        }

    def losses(self, x, content_t, style_t):
        """(content, style, total variation) losses of a batch ``x``."""
        f = self.features(x, self.layers if content_t is not None else self.style_layers)
        lc = ops.zeros(())
        if content_t is not None:
            lc = sum(content_loss(f[k], content_t[k]) for k in self.content_layers) / len(
                self.content_layers
            )
        ls = sum(style_loss(f[k], style_t[k]) for k in self.style_layers) / len(self.style_layers)
        return lc, ls, tv(x)


def find_weights(ctx, given: str | None) -> Path | None:
    """The VGG19 weight file: ``given`` (relative to the recipe; must exist), else
    ``$ARTFORGE_VGG19_WEIGHTS``, Keras' cache or torchvision's cache; None if there is none."""
    from ..nets.features import find_vgg19_weights

    return find(ctx, given, VGG_FILES, find_vgg19_weights)


def build_features(kind: str, path: Path | None, layers: list[str], seed: int):
    """The frozen feature network: VGG19 with the weights at ``path``, or random filters."""
    from ..nets import features as feat

    if kind == "vgg19":
        net = feat.VGG19Features(layers=layers)
        load_vgg(net, path)
        net.trainable = False
        return net
    return feat.RandomMultiScaleFeatures(seed=seed)


def load_vgg(net, path: Path) -> None:
    from ..nets.features import load_vgg19_weights

    try:
        load_vgg19_weights(net, path)
    except Exception as exc:
        raise StepError(
            f"cannot load VGG19 weights from {path}: {type(exc).__name__}: {str(exc)[:300]}",
            hint="expected Keras' VGG19 ImageNet file (.h5) or torchvision's vgg19 state dict "
            "(features.N.weight/bias keys) as .pth or .safetensors",
        ) from None


def perceptual_network(path: Path):
    """VGG19 features at conv5_4 (SRGAN's "VGG54"), frozen, returning one tensor."""
    from ..nets import features as feat

    net = feat.VGG19Features(layers=["conv5_4"])
    load_vgg(net, path)
    net.trainable = False
    return lambda x: net(x)["conv5_4"]
