"""Building blocks that make Keras layers compute exactly what the PyTorch backend's do.

Keras works in NHWC, PyTorch in NCHW; everything here is NHWC. What differs between the two
frameworks, and how it is matched:

- padding: ``Conv2D(padding="same")`` pads ``(k - s) // 2`` before and the rest after, which
  equals PyTorch's symmetric ``padding=p`` only in some cases (odd kernels at stride 1; 4x4
  kernels at stride 2 on even sizes). :func:`conv` uses ``same`` exactly there and
  explicit zero padding otherwise; :func:`conv_transpose` crops the full transposed
  convolution as PyTorch does (``padding``, ``output_padding``);
- initialisation: PyTorch's defaults (``kaiming_uniform_(a=sqrt(5))``: U(+-1/sqrt(fan_in))
  for weights and biases) unless a network is re-initialised (:func:`init_weights`, the
  DCGAN/pix2pix N(0, 0.02));
- BatchNorm: ``epsilon=1e-5``, ``momentum=0.9`` (PyTorch's 0.1 counts the other way);
- InstanceNorm: statistics over H and W per sample and channel, ``epsilon=1e-5``, affine
  or not as in PyTorch;
- PixelShuffle: PyTorch's channel order (``c * r * r + i * r + j``), not ``depth_to_space``'s;
- PReLU: one shared slope initialised to 0.25, as ``nn.PReLU()``;
- spectral normalisation: :class:`SpectralConv2D` keeps the raw weight and the power-
  iteration vectors ``u`` and ``v`` and divides by sigma in every forward pass with the
  gradient flowing through sigma, as ``torch.nn.utils.spectral_norm`` (Miyato et al. 2018);
  ``keras.layers.SpectralNormalization`` instead overwrites the kernel in place.

Layers that hold weights are named after the PyTorch module path of their counterpart
(``model.model.1.model.1``), which is how :mod:`.convert` copies weights across.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import keras_module

keras = keras_module()
ops = keras.ops
layers = keras.layers


# -- initialisers ------------------------------------------------------------------------------
class TorchUniform(keras.initializers.Initializer):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for conv/linear weights and biases
    (``kaiming_uniform_(a=sqrt(5))`` reduces to it). ``fan_in`` must be given for biases; for
    kernels it defaults to the product of all dimensions but the last (HWI of HWIO)."""

    def __init__(self, fan_in: int | None = None, seed=None):
        self.fan_in = fan_in
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in = self.fan_in or int(np.prod(shape[:-1]))
        bound = 1.0 / math.sqrt(max(1, fan_in))
        return keras.random.uniform(shape, -bound, bound, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": self.seed}


# -- convolutions --------------------------------------------------------------------------------
class TorchConv2D(layers.Conv2D):
    """``Conv2D`` with PyTorch's default initialisation (weights and biases U(+-1/sqrt(fan_in)))."""

    def build(self, input_shape):
        k = self.kernel_size
        fan_in = int(input_shape[-1]) * k[0] * k[1]
        if isinstance(self.kernel_initializer, keras.initializers.GlorotUniform):
            self.kernel_initializer = TorchUniform()
        if isinstance(self.bias_initializer, keras.initializers.Zeros):
            self.bias_initializer = TorchUniform(fan_in)
        super().build(input_shape)


class TorchConv2DTranspose(layers.Conv2DTranspose):
    """``Conv2DTranspose`` with PyTorch's default initialisation (fan_in = out * k * k)."""

    def build(self, input_shape):
        k = self.kernel_size
        fan_in = self.filters * k[0] * k[1]
        if isinstance(self.kernel_initializer, keras.initializers.GlorotUniform):
            self.kernel_initializer = TorchUniform(fan_in)
        if isinstance(self.bias_initializer, keras.initializers.Zeros):
            self.bias_initializer = TorchUniform(fan_in)
        super().build(input_shape)


def conv(
    filters: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    bias: bool = True,
    name: str | None = None,
    even_input: bool = False,
):
    """A function ``x -> PyTorch's Conv2d(k, stride, padding)(x)`` in NHWC.

    ``even_input``: the caller guarantees even spatial sizes, which makes a 4x4/stride-2/
    padding-1 convolution equal to ``same`` (saves the padding copy).
    """
    same = (stride == 1 and kernel % 2 == 1 and padding == kernel // 2) or (
        even_input and stride == 2 and kernel == 4 and padding == 1
    )
    layer = TorchConv2D(
        filters,
        kernel,
        strides=stride,
        padding="same" if same else "valid",
        use_bias=bias,
        name=name,
    )
    if same or padding == 0:
        return layer
    pad = layers.ZeroPadding2D(padding, name=None if name is None else name + "_pad")
    return lambda x: layer(pad(x))


def conv_transpose(
    filters: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    bias: bool = True,
    name: str | None = None,
):
    """``x -> PyTorch's ConvTranspose2d(k, stride, padding, output_padding)(x)`` in NHWC.

    The full transposed convolution has size ``(n - 1) * stride + k``; PyTorch drops
    ``padding`` pixels at the start and ``padding - output_padding`` at the end. A 4x4
    stride-2 padding-1 layer (the U-Net's, DCGAN's) is exactly Keras' ``same``.
    """
    if kernel == 2 * stride and padding == stride // 2 and output_padding == 0 and stride > 1:
        mode = "same"
    else:
        mode = "valid"
    layer = TorchConv2DTranspose(
        filters, kernel, strides=stride, padding=mode, use_bias=bias, name=name
    )
    if mode == "same":
        return layer
    lo, hi = padding, padding - output_padding
    if lo == 0 and hi == 0:
        return layer
    if hi < 0:
        raise ValueError("output_padding larger than padding is not supported")
    crop = layers.Cropping2D(((lo, hi), (lo, hi)), name=None if name is None else name + "_crop")
    return lambda x: crop(layer(x))


# -- normalisation -------------------------------------------------------------------------------
class InstanceNorm(layers.Layer):
    """Instance normalisation (Ulyanov et al. 2016) as ``nn.InstanceNorm2d``: per sample and
    channel over H and W, biased variance, ``epsilon`` 1e-5; ``affine`` adds a per-channel
    scale (ones) and shift (zeros), PyTorch's default is without."""

    def __init__(self, affine: bool = False, epsilon: float = 1e-5, **kw):
        super().__init__(**kw)
        self.affine = affine
        self.epsilon = epsilon

    def build(self, input_shape):
        if self.affine:
            c = input_shape[-1]
            self.gamma = self.add_weight(shape=(c,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")

    def call(self, x):
        mean, var = ops.moments(x, axes=[1, 2], keepdims=True)
        y = (x - mean) * ops.rsqrt(var + self.epsilon)
        if self.affine:
            y = y * ops.cast(self.gamma, y.dtype) + ops.cast(self.beta, y.dtype)
        return y

    def get_config(self):
        return {**super().get_config(), "affine": self.affine, "epsilon": self.epsilon}


NORMS = ("batch", "instance", "layer", "none")


def norm_layer(kind: str, name: str | None = None):
    """The Keras twin of ``artforge_torch.nets.layers.norm_layer``."""
    if kind == "batch":
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
    if kind == "instance":
        return InstanceNorm(affine=False, name=name)
    if kind == "layer":  # GroupNorm(1, C): statistics over (H, W, C), per-channel affine
        return layers.GroupNormalization(groups=1, epsilon=1e-5, name=name)
    if kind == "none":
        return lambda x: x
    raise ValueError(f"unknown norm {kind!r}; use one of {', '.join(NORMS)}")


# -- padding and resampling ----------------------------------------------------------------------
class ReflectionPad2D(layers.Layer):
    """``nn.ReflectionPad2d(p)``: mirror without repeating the edge pixel."""

    def __init__(self, padding: int, **kw):
        super().__init__(**kw)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def edge_pad(x, p: int):
    """Replicate padding by ``p`` pixels on each side of H and W (``F.pad(mode='replicate')``)."""
    if p == 0:
        return x
    for axis in (1, 2):
        n = ops.shape(x)[axis]
        idx = ops.clip(ops.arange(-p, n + p), 0, n - 1)
        x = ops.take(x, idx, axis=axis)
    return x


class PixelShuffle(layers.Layer):
    """``nn.PixelShuffle(r)`` in NHWC with PyTorch's channel order: input channel
    ``c * r * r + i * r + j`` becomes output pixel ``(h * r + i, w * r + j)`` of channel c."""

    def __init__(self, factor: int, **kw):
        super().__init__(**kw)
        self.factor = int(factor)

    def call(self, x):
        r = self.factor
        s = ops.shape(x)
        n, h, w, c = s[0], s[1], s[2], x.shape[-1] // (r * r)
        x = ops.reshape(x, (n, h, w, c, r, r))
        x = ops.transpose(x, (0, 1, 4, 2, 5, 3))  # n, h, i, w, j, c
        return ops.reshape(x, (n, h * r, w * r, c))

    def compute_output_shape(self, input_shape):
        r = self.factor
        n, h, w, c = input_shape
        return (n, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class NearestResizeLike(layers.Layer):
    """``F.interpolate(x, size=like.shape[-2:], mode="nearest")``: source index
    ``floor(dst * in / out)`` (PyTorch's legacy nearest, not TensorFlow's half-pixel one)."""

    def call(self, x, like):
        for axis in (1, 2):
            n_in = ops.shape(x)[axis]
            n_out = ops.shape(like)[axis]
            scale = ops.cast(n_in, "float32") / ops.cast(n_out, "float32")
            idx = ops.cast(ops.floor(ops.cast(ops.arange(n_out), "float32") * scale), "int32")
            x = ops.take(x, ops.minimum(idx, n_in - 1), axis=axis)
        return x

    def compute_output_shape(self, x_shape, like_shape):
        return (x_shape[0], like_shape[1], like_shape[2], x_shape[3])


class LeakyReLU(layers.Layer):
    """``nn.LeakyReLU(slope)`` computed as ``max(x, slope * x)`` (equal for 0 < slope < 1).

    TensorFlow's graph optimiser tries to fuse Conv2D + BiasAdd + LeakyRelu and, in a
    GradientTape graph where LeakyReluGrad needs the BiasAdd output, fails with a
    "remapper failed" error on stderr (the fusion is skipped anyway); this form avoids it."""

    def __init__(self, negative_slope: float = 0.2, **kw):
        super().__init__(**kw)
        self.negative_slope = float(negative_slope)

    def call(self, x):
        return ops.maximum(x, x * self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(layers.Layer):
    """``nn.PReLU()``: one learnable slope for all channels, initialised to 0.25."""

    def build(self, input_shape):
        self.alpha = self.add_weight(
            shape=(1,), initializer=keras.initializers.Constant(0.25), name="alpha"
        )

    def call(self, x):
        a = ops.cast(self.alpha, x.dtype)
        return ops.maximum(x, 0) + a * ops.minimum(x, 0)


# -- spectral normalisation -----------------------------------------------------------------------
def _l2n(v, eps=1e-12):
    return v / ops.maximum(ops.sqrt(ops.sum(v * v)), eps)


class SpectralConv2D(layers.Layer):
    """A convolution with spectral normalisation, as ``spectral_norm(nn.Conv2d(...))``.

    Weights: ``kernel`` (the raw weight, HWIO), ``bias``, and the non-trainable power-
    iteration vectors ``u`` (out channels) and ``v`` (k*k*in, in HWI order). In training
    each call runs one power iteration on the matrix W (out x HWI) and stores u and v; the
    kernel used is W / (u^T W v) with u and v held constant for the gradient. In inference
    the stored u and v are used as they are. Padding as :func:`conv` (explicit).
    """

    def __init__(self, filters, kernel, stride=1, padding=0, use_bias=True, **kw):
        super().__init__(**kw)
        self.filters, self.kernel_size = int(filters), int(kernel)
        self.stride, self.padding, self.use_bias = int(stride), int(padding), bool(use_bias)

    def build(self, input_shape):
        cin = int(input_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(
            shape=(k, k, cin, self.filters), initializer=TorchUniform(), name="kernel"
        )
        self.bias = (
            self.add_weight(
                shape=(self.filters,), initializer=TorchUniform(cin * k * k), name="bias"
            )
            if self.use_bias
            else None
        )
        rnd = keras.initializers.RandomNormal(0.0, 1.0)
        self.u = self.add_weight(shape=(self.filters,), initializer=rnd, trainable=False, name="u")
        self.v = self.add_weight(shape=(k * k * cin,), initializer=rnd, trainable=False, name="v")
        self.u.assign(_l2n(self.u))
        self.v.assign(_l2n(self.v))

    def call(self, x, training=False):
        w = ops.transpose(ops.reshape(self.kernel, (-1, self.filters)))  # out x HWI
        u, v = self.u, self.v
        if training:
            wd = ops.stop_gradient(w)
            v = _l2n(ops.matmul(ops.transpose(wd), u))
            u = _l2n(ops.matmul(wd, v))
            self.u.assign(u)
            self.v.assign(v)
        u, v = (
            ops.stop_gradient(ops.convert_to_tensor(u)),
            ops.stop_gradient(ops.convert_to_tensor(v)),
        )
        sigma = ops.sum(u * ops.matmul(w, v))
        kernel = ops.cast(self.kernel / sigma, x.dtype)
        p = self.padding
        if p:
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        y = ops.conv(x, kernel, strides=self.stride, padding="valid")
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        return y

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        k, s, p = self.kernel_size, self.stride, self.padding

        def out(d):
            return None if d is None else (d + 2 * p - k) // s + 1

        return (n, out(h), out(w), self.filters)


class SpectralEmbedding(layers.Layer):
    """``spectral_norm(nn.Embedding(n, dim))``: the (n x dim) table divided by its largest
    singular value, estimated by one power iteration per training call (u: n, v: dim)."""

    def __init__(self, input_dim, output_dim, **kw):
        super().__init__(**kw)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            name="embeddings",
        )
        rnd = keras.initializers.RandomNormal(0.0, 1.0)
        self.u = self.add_weight(
            shape=(self.input_dim,), initializer=rnd, trainable=False, name="u"
        )
        self.v = self.add_weight(
            shape=(self.output_dim,), initializer=rnd, trainable=False, name="v"
        )
        self.u.assign(_l2n(self.u))
        self.v.assign(_l2n(self.v))

    def call(self, y, training=False):
        w = ops.convert_to_tensor(self.embeddings)
        u, v = self.u, self.v
        if training:
            wd = ops.stop_gradient(w)
            v = _l2n(ops.matmul(ops.transpose(wd), u))
            u = _l2n(ops.matmul(wd, v))
            self.u.assign(u)
            self.v.assign(v)
        u, v = (
            ops.stop_gradient(ops.convert_to_tensor(u)),
            ops.stop_gradient(ops.convert_to_tensor(v)),
        )
        sigma = ops.sum(u * ops.matmul(w, v))
        return ops.take(w / sigma, ops.cast(y, "int32"), axis=0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)


def sn_conv(filters, kernel, stride=1, padding=0, bias=True, name=None, enabled=True, **kw):
    """A spectrally normalised conv when ``enabled``, else :func:`conv`."""
    if not enabled:
        return conv(filters, kernel, stride, padding, bias, name=name, **kw)
    return SpectralConv2D(filters, kernel, stride, padding, bias, name=name)


# -- initialisation ------------------------------------------------------------------------------
INIT_KINDS = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(model, kind: str = "normal", gain: float = 0.02, seed: int = 0):
    """Re-initialise ``model`` in place as ``artforge_torch.nets.init.init_weights``: conv,
    transposed-conv and dense kernels from N(0, gain) (or xavier/kaiming/orthogonal), biases
    0, normalisation scales N(1, gain) and shifts 0, embeddings N(0, gain)."""
    if kind not in INIT_KINDS:
        raise ValueError(f"unknown init {kind!r}; use one of {', '.join(INIT_KINDS)}")
    rng = np.random.default_rng(seed)

    def fans(shape, transposed):
        rf = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        cin, cout = int(shape[-2]), int(shape[-1])
        if transposed:
            cin, cout = cout, cin
        # torch: fan_in = size(1) * rf, fan_out = size(0) * rf of its (O, I, ...) weight
        return cin * rf, cout * rf

    def kernel_values(shape, transposed):
        fan_in, fan_out = fans(shape, transposed)
        if kind == "normal":
            return rng.normal(0.0, gain, shape)
        if kind == "xavier":
            return rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), shape)
        if kind == "kaiming":
            return rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
        flat = rng.normal(0.0, 1.0, (int(shape[-1]), int(np.prod(shape[:-1]))))
        q, r = np.linalg.qr(flat.T if flat.shape[0] < flat.shape[1] else flat)
        q = q * np.sign(np.diag(r))
        q = q.T if flat.shape[0] < flat.shape[1] else q
        return gain * q.reshape(int(shape[-1]), -1).T.reshape(shape)

    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose, layers.Dense, SpectralConv2D)):
            transposed = isinstance(layer, layers.Conv2DTranspose)
            layer.kernel.assign(kernel_values(tuple(layer.kernel.shape), transposed))
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(np.zeros(layer.bias.shape))
        elif isinstance(
            layer, (layers.BatchNormalization, layers.GroupNormalization, InstanceNorm)
        ):
            if getattr(layer, "gamma", None) is not None:
                layer.gamma.assign(rng.normal(1.0, gain, layer.gamma.shape))
            if getattr(layer, "beta", None) is not None:
                layer.beta.assign(np.zeros(layer.beta.shape))
        elif isinstance(layer, layers.Embedding):
            layer.embeddings.assign(rng.normal(0.0, gain, layer.embeddings.shape))
    return model


def count_parameters(model, trainable_only: bool = True) -> int:
    """Number of parameters (trainable only by default, like the torch helper)."""
    vs = model.trainable_weights if trainable_only else model.weights
    return int(sum(int(np.prod(v.shape)) for v in vs))
