"""pix2pix networks in Keras: the U-Net generator and the PatchGAN discriminator.

Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial Networks",
CVPR 2017, layer for layer as ``artforge_torch.nets.pix2pix`` (the reference
pytorch-CycleGAN-and-pix2pix code): encoder C64-C128-C256-C512-C512-..., 4x4 convolutions of
stride 2, LeakyReLU(0.2) going down, ReLU coming up, dropout 0.5 in the decoder blocks
between 512-channel levels, skip connections and a Tanh output. NHWC images in [-1, 1].
"""

from __future__ import annotations

import math

from ..backend import keras_module
from .layers import LeakyReLU, conv, conv_transpose, norm_layer, sn_conv

keras = keras_module()
layers = keras.layers


def unet_downs(image_size: int) -> int:
    """Number of stride-2 downsamplings: log2(size), i.e. down to a 1 x 1 bottleneck."""
    downs = int(round(math.log2(image_size))) if image_size > 0 else 0
    if 2**downs != image_size or not 4 <= downs <= 10:
        raise ValueError(
            f"U-Net image size must be a power of two from 16 to 1024, got {image_size}"
        )
    return downs


def _unet_block(x, path, outer, inner, in_channels, sub, outermost, innermost, norm, dropout):
    """One U-Net level (``UNetBlock``): down, the inner levels, up, concat with the input."""
    use_bias = norm != "batch"
    m = f"{path}.model"
    if outermost:
        h = conv(inner, 4, 2, 1, bias=use_bias, name=f"{m}.0", even_input=True)(x)
        h = sub(h, f"{m}.1")
        h = layers.ReLU()(h)
        h = conv_transpose(outer, 4, 2, 1, bias=True, name=f"{m}.3")(h)
        return layers.Activation("tanh", dtype="float32")(h)
    h = layers.LeakyReLU(0.2)(x)
    h = conv(inner, 4, 2, 1, bias=use_bias, name=f"{m}.1", even_input=True)(h)
    if innermost:
        h = layers.ReLU()(h)
        h = conv_transpose(outer, 4, 2, 1, bias=use_bias, name=f"{m}.3")(h)
        h = norm_layer(norm, name=f"{m}.4")(h)
    else:
        h = norm_layer(norm, name=f"{m}.2")(h)
        h = sub(h, f"{m}.3")
        h = layers.ReLU()(h)
        h = conv_transpose(outer, 4, 2, 1, bias=use_bias, name=f"{m}.5")(h)
        h = norm_layer(norm, name=f"{m}.6")(h)
        if dropout:
            h = layers.Dropout(0.5)(h)
    return layers.Concatenate(axis=-1)([x, h])


class UNetGenerator(keras.Model):
    """U-Net generator; its depth follows ``image_size`` (log2 of it): U-Net-256 at 256.

    Input and output are (N, H, W, C) in [-1, 1]; H and W must be multiples of
    ``2 ** downs`` (``multiple``).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        image_size: int = 256,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = True,
        name: str = "unet",
    ):
        downs = unet_downs(image_size)
        mult = [min(2**k, 8) for k in range(downs)]

        def level(k):
            """The block at depth k (1 = just below the outermost) as ``f(x, path)``."""
            if k == downs - 1:
                return lambda x, path: _unet_block(
                    x, path, ngf * mult[-2], ngf * mult[-1], None, None, False, True, norm, False
                )
            drop = dropout and mult[k - 1] == 8
            return lambda x, path: _unet_block(
                x,
                path,
                ngf * mult[k - 1],
                ngf * mult[k],
                None,
                level(k + 1),
                False,
                False,
                norm,
                drop,
            )

        inputs = keras.Input((None, None, in_channels), name="image")
        outputs = _unet_block(
            inputs, "model", out_channels, ngf, in_channels, level(1), True, False, norm, False
        )
        super().__init__(inputs, outputs, name=name)
        self.downs = downs
        self.multiple = 2**downs
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "image_size": image_size,
            "ngf": ngf,
            "norm": norm,
            "dropout": dropout,
        }


class PatchDiscriminator(keras.Model):
    """PatchGAN: one raw logit per overlapping patch; ``n_layers=3`` sees 70 x 70 patches and
    maps a 256 x 256 input to (N, 30, 30, 1). Input: pix2pix source and target concatenated
    (``in_channels=6``), CycleGAN a single image (3)."""

    def __init__(
        self,
        in_channels: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral_norm: bool = False,
        name: str = "patchgan",
    ):
        use_bias = norm != "batch"
        sn = spectral_norm
        inputs = keras.Input((None, None, in_channels), name="pair")
        i = 0
        h = sn_conv(ndf, 4, 2, 1, True, name=f"model.{i}", enabled=sn)(inputs)
        h = LeakyReLU(0.2)(h)
        i += 2
        mult = 1
        for n in range(1, n_layers):
            mult = min(2**n, 8)
            h = sn_conv(ndf * mult, 4, 2, 1, use_bias, name=f"model.{i}", enabled=sn)(h)
            h = norm_layer(norm, name=f"model.{i + 1}")(h)
            h = LeakyReLU(0.2)(h)
            i += 3
        mult = min(2**n_layers, 8)
        h = sn_conv(ndf * mult, 4, 1, 1, use_bias, name=f"model.{i}", enabled=sn)(h)
        h = norm_layer(norm, name=f"model.{i + 1}")(h)
        h = LeakyReLU(0.2)(h)
        i += 3
        h = sn_conv(1, 4, 1, 1, True, name=f"model.{i}", enabled=sn)(h)
        outputs = layers.Activation("linear", dtype="float32")(h)
        super().__init__(inputs, outputs, name=name)
        self.config = {
            "in_channels": in_channels,
            "ndf": ndf,
            "n_layers": n_layers,
            "norm": norm,
            "spectral_norm": spectral_norm,
        }


def receptive_field(n_layers: int = 3) -> int:
    """Receptive field in pixels of a PatchGAN output unit (70 for n_layers=3)."""
    rf = 1
    for stride in [1, 1] + [2] * n_layers:
        rf = (rf - 1) * stride + 4
    return rf
