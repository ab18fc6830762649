"""Super-resolution networks in Keras: ESPCN and SRResNet (and the SRGAN discriminator).

Layer for layer as ``artforge_torch.nets.sr``: images in [0, 1] (N, H, W, C) -> (N, H*scale,
W*scale, C), outputs not clamped, zero padding throughout (tiles give the untiled result),
sub-pixel convolution with PyTorch's PixelShuffle channel order. ``config`` holds the
constructor arguments other than ``scale``.
"""

from __future__ import annotations

from ..backend import keras_module
from .layers import LeakyReLU, PixelShuffle, PReLU, conv, norm_layer

keras = keras_module()
layers = keras.layers
ops = keras.ops

SCALES = (2, 3, 4)


def _check_scale(scale: int) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale must be 2, 3 or 4, got {scale}")


class ESPCN(keras.Model):
    """Efficient sub-pixel CNN (Shi et al. 2016): (5, 64), (3, 32), 3, tanh, PixelShuffle."""

    def __init__(self, scale: int = 2, channels: int = 3, features: int = 64, name: str = "espcn"):
        _check_scale(scale)
        inputs = keras.Input((None, None, channels), name="lowres")
        h = conv(features, 5, 1, 2, name="body.0")(inputs)
        h = layers.Activation("tanh")(h)
        h = conv(features // 2, 3, 1, 1, name="body.2")(h)
        h = layers.Activation("tanh")(h)
        h = conv(channels * scale * scale, 3, 1, 1, name="body.4")(h)
        h = PixelShuffle(scale)(h)
        out = layers.Activation("linear", dtype="float32")(h)
        super().__init__(inputs, out, name=name)
        self.scale = scale
        self.config = {"channels": channels, "features": features}


def _sr_block(x, path, features):
    b = f"{path}.block"
    h = conv(features, 3, 1, 1, name=f"{b}.0")(x)
    h = norm_layer("batch", name=f"{b}.1")(h)
    h = PReLU(name=f"{b}.2")(h)
    h = conv(features, 3, 1, 1, name=f"{b}.3")(h)
    h = norm_layer("batch", name=f"{b}.4")(h)
    return layers.Add()([x, h])


class SRResNet(keras.Model):
    """SRResNet (Ledig et al. 2017): 9x9 head + PReLU, ``n_blocks`` residual blocks, conv + BN
    with a global skip, pixel-shuffle stages (x2 each; x3 once) and a 9x9 tail."""

    def __init__(
        self,
        scale: int = 4,
        channels: int = 3,
        features: int = 64,
        n_blocks: int = 16,
        name: str = "srresnet",
    ):
        _check_scale(scale)
        inputs = keras.Input((None, None, channels), name="lowres")
        h = conv(features, 9, 1, 4, name="head.0")(inputs)
        h = PReLU(name="head.1")(h)
        b = h
        for k in range(n_blocks):
            b = _sr_block(b, f"body.{k}", features)
        b = conv(features, 3, 1, 1, name=f"body.{n_blocks}")(b)
        b = norm_layer("batch", name=f"body.{n_blocks + 1}")(b)
        h = layers.Add()([h, b])
        stages = [3] if scale == 3 else [2] * (scale // 2)
        i = 0
        for r in stages:
            h = conv(features * r * r, 3, 1, 1, name=f"upsample.{i}")(h)
            h = PixelShuffle(r)(h)
            h = PReLU(name=f"upsample.{i + 2}")(h)
            i += 3
        h = conv(channels, 9, 1, 4, name="tail")(h)
        out = layers.Activation("linear", dtype="float32")(h)
        super().__init__(inputs, out, name=name)
        self.scale = scale
        self.config = {"channels": channels, "features": features, "n_blocks": n_blocks}


class AdaptiveAvgPool(layers.Layer):
    """``nn.AdaptiveAvgPool2d(out)``: bin i covers [floor(i*n/out), ceil((i+1)*n/out))."""

    def __init__(self, size: int, **kw):
        super().__init__(**kw)
        self.size = int(size)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        rows = []
        for i in range(self.size):
            y0, y1 = (i * h) // self.size, -(-((i + 1) * h) // self.size)
            cols = []
            for j in range(self.size):
                x0, x1 = (j * w) // self.size, -(-((j + 1) * w) // self.size)
                cols.append(ops.mean(x[:, y0:y1, x0:x1, :], axis=(1, 2)))
            rows.append(ops.stack(cols, axis=1))
        return ops.stack(rows, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[3])


class SRDiscriminator(keras.Model):
    """The SRGAN discriminator (Ledig et al. 2017): eight 3x3 convs (64 ... 512, stride 2 on
    every second), BN after all but the first, LeakyReLU(0.2), Dense(1024), Dense(1). The
    input size is fixed at build time (``image_size``; the paper's is 96)."""

    def __init__(
        self,
        channels: int = 3,
        features: int = 64,
        pooled: int = 6,
        image_size: int = 96,
        name: str = "srgan_d",
    ):
        inputs = keras.Input((image_size, image_size, channels), name="image")
        h = conv(features, 3, 1, 1, name="features.0")(inputs)
        h = LeakyReLU(0.2)(h)
        i = 2
        for k, mult in enumerate((1, 2, 2, 4, 4, 8, 8)):
            stride = 2 if k % 2 == 0 else 1
            h = conv(features * mult, 3, stride, 1, bias=False, name=f"features.{i}")(h)
            h = norm_layer("batch", name=f"features.{i + 1}")(h)
            h = LeakyReLU(0.2)(h)
            i += 3
        h = AdaptiveAvgPool(pooled)(h)
        h = layers.Permute((3, 1, 2))(h)  # flatten in PyTorch's (C, H, W) order
        h = layers.Flatten()(h)
        h = layers.Dense(1024, name="classifier.1")(h)
        h = LeakyReLU(0.2)(h)
        h = layers.Dense(1, name="classifier.3")(h)
        out = layers.Activation("linear", dtype="float32")(layers.Reshape(())(h))
        super().__init__(inputs, out, name=name)
        self.config = {"channels": channels, "features": features, "pooled": pooled}
