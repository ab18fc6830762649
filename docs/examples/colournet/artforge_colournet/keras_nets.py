"""The colour network on Keras 3: the same layers as the PyTorch one, channels last."""

import keras


def ColourNet(width: int = 16, name: str = "colournet"):
    """(N, H, W, 3) in [-1, 1] -> (N, H, W, 3) in [-1, 1], any H and W."""
    x = inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(width, 1)(x)  # state size: H x W x width
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2D(3, 1, activation="tanh")(x)  # state size: H x W x 3
    return keras.Model(inputs, x, name=name)
