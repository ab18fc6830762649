"""CycleGAN generator in Keras: the residual network of Johnson et al. 2016 as CycleGAN uses it.

Zhu, Park, Isola, Efros, ICCV 2017, layer for layer as ``artforge_torch.nets.cyclegan``:
c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3, reflection padding, instance norm
without affine parameters; ``upsample="nearest"`` makes u128 and u64 resize-convolutions
(nearest x2, then a 3x3 convolution) as there, and ``head="affine"`` predicts a per-pixel
colour matrix and bias applied to the input (:class:`AffineColour`) as there. The discriminator is the unconditional PatchGAN
(``PatchDiscriminator(in_channels=3)``).
"""

from __future__ import annotations

from ..backend import keras_module
from .layers import ReflectionPad2D, conv, conv_transpose, norm_layer
from .pix2pix import PatchDiscriminator

keras = keras_module()
layers = keras.layers

__all__ = ["AffineColour", "PatchDiscriminator", "ResnetGenerator"]


class AffineColour(layers.Layer):
    """``[x, coef] -> tanh(x + A x + b)`` per pixel, ``coef`` (N, H, W, out * (in + 1)) in
    the torch order ``i * (in + 1) + j`` (j = in: the bias); ``+ x`` only when in == out.
    Computed in float32 (the generator's output dtype)."""

    def __init__(self, in_channels: int, out_channels: int, **kw):
        super().__init__(dtype="float32", **kw)
        self.cin, self.cout = in_channels, out_channels

    def call(self, inputs):
        x, coef = (keras.ops.cast(t, "float32") for t in inputs)
        shape = keras.ops.shape(coef)
        coef = keras.ops.reshape(coef, (shape[0], shape[1], shape[2], self.cout, self.cin + 1))
        y = keras.ops.sum(coef[..., :-1] * x[..., None, :], axis=-1) + coef[..., -1]
        if self.cin == self.cout:
            y = y + x
        return keras.ops.tanh(y)

    def get_config(self):
        return {**super().get_config(), "in_channels": self.cin, "out_channels": self.cout}


def _resnet_block(x, path, channels, norm, dropout):
    use_bias = norm != "batch"
    b = f"{path}.block"
    h = ReflectionPad2D(1)(x)
    h = conv(channels, 3, 1, 0, use_bias, name=f"{b}.1")(h)
    h = norm_layer(norm, name=f"{b}.2")(h)
    h = layers.ReLU()(h)
    j = 4
    if dropout:
        h = layers.Dropout(0.5)(h)
        j = 5
    h = ReflectionPad2D(1)(h)
    h = conv(channels, 3, 1, 0, use_bias, name=f"{b}.{j + 1}")(h)
    h = norm_layer(norm, name=f"{b}.{j + 2}")(h)
    return layers.Add()([x, h])


class ResnetGenerator(keras.Model):
    """Images (N, H, W, in_channels) in [-1, 1] -> (N, H, W, out_channels) in [-1, 1];
    H and W multiples of 4."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: bool = False,
        upsample: str = "transpose",
        head: str = "rgb",
        name: str = "resnet_g",
    ):
        if upsample not in ("transpose", "nearest"):
            raise ValueError(f"upsample must be transpose or nearest, got {upsample!r}")
        if head not in ("rgb", "affine"):
            raise ValueError(f"head must be rgb or affine, got {head!r}")
        use_bias = norm != "batch"
        inputs = keras.Input((None, None, in_channels), name="image")
        h = ReflectionPad2D(3)(inputs)
        h = conv(ngf, 7, 1, 0, use_bias, name="model.1")(h)
        h = norm_layer(norm, name="model.2")(h)
        h = layers.ReLU()(h)
        i = 4
        for mult in (1, 2):
            h = conv(ngf * mult * 2, 3, 2, 1, use_bias, name=f"model.{i}")(h)
            h = norm_layer(norm, name=f"model.{i + 1}")(h)
            h = layers.ReLU()(h)
            i += 3
        for _ in range(n_blocks):
            h = _resnet_block(h, f"model.{i}", ngf * 4, norm, dropout)
            i += 1
        for mult in (4, 2):
            if upsample == "nearest":  # torch: Upsample at model.{i}, Conv2d at model.{i + 1}
                h = layers.UpSampling2D(2, interpolation="nearest")(h)
                i += 1
                h = conv(ngf * mult // 2, 3, 1, 1, use_bias, name=f"model.{i}")(h)
            else:
                h = conv_transpose(ngf * mult // 2, 3, 2, 1, 1, use_bias, name=f"model.{i}")(h)
            h = norm_layer(norm, name=f"model.{i + 1}")(h)
            h = layers.ReLU()(h)
            i += 3
        h = ReflectionPad2D(3)(h)
        if head == "affine":
            h = conv(out_channels * (in_channels + 1), 7, 1, 0, True, name=f"model.{i + 1}")(h)
            out = AffineColour(in_channels, out_channels)([inputs, h])
        else:
            h = conv(out_channels, 7, 1, 0, True, name=f"model.{i + 1}")(h)
            out = layers.Activation("tanh", dtype="float32")(h)
        super().__init__(inputs, out, name=name)
        self.multiple = 4
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "ngf": ngf,
            "n_blocks": n_blocks,
            "norm": norm,
            "dropout": dropout,
            "upsample": upsample,
            "head": head,
        }
