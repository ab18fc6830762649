"""The image-transformation network of fast style transfer in Keras (Johnson et al. 2016,
pytorch/examples ``fast_neural_style`` variant), layer for layer as
``artforge_torch.nets.transformer``: reflection-padded convolutions, instance normalisation
with affine parameters, 5 residual blocks, nearest-neighbour upsampling to the encoder's
sizes + convolution. Images (N, H, W, 3) in [0, 1] -> the same size, not clamped.
"""

from __future__ import annotations

from ..backend import keras_module
from .layers import InstanceNorm, NearestResizeLike, ReflectionPad2D, conv

keras = keras_module()
layers = keras.layers


def _conv_layer(x, path, cout, k, stride=1):
    """ConvLayer: reflection padding by k // 2, then a convolution (``<path>.conv``)."""
    return conv(cout, k, stride, 0, name=f"{path}.conv")(ReflectionPad2D(k // 2)(x))


class TransformerNet(keras.Model):
    def __init__(self, width: int = 32, n_blocks: int = 5, channels: int = 3, name="johnson"):
        w = width
        inputs = keras.Input((None, None, channels), name="image")
        relu = layers.ReLU
        y1 = relu()(InstanceNorm(True, name="in1")(_conv_layer(inputs, "conv1", w, 9)))
        y2 = relu()(InstanceNorm(True, name="in2")(_conv_layer(y1, "conv2", 2 * w, 3, 2)))
        y = relu()(InstanceNorm(True, name="in3")(_conv_layer(y2, "conv3", 4 * w, 3, 2)))
        for k in range(n_blocks):
            r = f"res.{k}"
            h = relu()(InstanceNorm(True, name=f"{r}.in1")(_conv_layer(y, f"{r}.conv1", 4 * w, 3)))
            h = InstanceNorm(True, name=f"{r}.in2")(_conv_layer(h, f"{r}.conv2", 4 * w, 3))
            y = layers.Add()([y, h])
        y = NearestResizeLike()(y, y2)
        y = relu()(InstanceNorm(True, name="in4")(_conv_layer(y, "deconv1.conv", 2 * w, 3)))
        y = NearestResizeLike()(y, y1)
        y = relu()(InstanceNorm(True, name="in5")(_conv_layer(y, "deconv2.conv", w, 3)))
        out = layers.Activation("linear", dtype="float32")(_conv_layer(y, "deconv3", channels, 9))
        super().__init__(inputs, out, name=name)
        self.config = {"width": width, "n_blocks": n_blocks, "channels": channels}
