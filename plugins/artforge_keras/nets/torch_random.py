"""PyTorch's CPU random number generator reproduced in NumPy (no torch import), so that the
Keras networks can start from exactly the weights the PyTorch backend starts from.

- :class:`TorchCPURandom`: ``torch.randn`` and ``Tensor.uniform_`` of a CPU generator seeded
  by ``manual_seed(seed)`` (MT19937, the same as NumPy's legacy ``RandomState(seed)``).
- :func:`torch_default_init`: the default initialisation PyTorch gives a network at
  construction (``kaiming_uniform_(a=sqrt(5))`` weights, U(+-1/sqrt(fan_in)) biases), drawn
  in construction order.
"""

from __future__ import annotations

import math

import numpy as np


class TorchCPURandom:
    """``torch.randn`` of a CPU ``torch.Generator().manual_seed(seed)``, reproduced in NumPy
    so that both backends draw the same random filters without this backend importing torch.

    PyTorch's CPU generator is the standard MT19937 seeded by ``init_genrand(seed)`` (the
    same as NumPy's legacy ``RandomState(seed)``); for a contiguous float tensor of 16 or more
    elements ``randn`` first draws one uniform per element (the low 24 bits of a 32-bit output
    times 2^-24), then Box-Muller transforms each block of 16 in place (element j and j + 8,
    j < 8, from u1 = 1 - u[j] and u2 = u[j + 8]); when the size is not a multiple of 16 the
    last 16 values are drawn again and transformed. Matches torch 2.x to float rounding.
    """

    def __init__(self, seed: int):
        self.bits = np.random.RandomState(int(seed) & 0xFFFFFFFF)._bit_generator

    def _uniform(self, n: int) -> np.ndarray:
        raw = self.bits.random_raw(n).astype(np.uint64)
        return ((raw & ((1 << 24) - 1)).astype(np.float64) * 2.0**-24).astype(np.float32)

    @staticmethod
    def _box_muller16(u: np.ndarray) -> np.ndarray:
        r = np.sqrt(-2.0 * np.log((1.0 - u[:8]).astype(np.float32)))
        theta = 2.0 * np.pi * u[8:16]
        return np.concatenate([r * np.cos(theta), r * np.sin(theta)]).astype(np.float32)

    def uniform(self, n: int, low: float, high: float) -> np.ndarray:
        """``torch.empty(n).uniform_(low, high)``: one 32-bit draw per element."""
        return (self._uniform64(n) * (high - low) + low).astype(np.float32)

    def _uniform64(self, n: int) -> np.ndarray:
        raw = self.bits.random_raw(n).astype(np.uint64)
        return (raw & ((1 << 24) - 1)).astype(np.float64) * 2.0**-24

    def randn(self, *shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        if n < 16:  # torch draws these one by one in double precision: not reproduced
            raise ValueError("TorchCPURandom.randn needs at least 16 elements")
        u = self._uniform(n)
        out = u.copy()
        for i in range(0, n - 15, 16):
            out[i : i + 16] = self._box_muller16(u[i : i + 16])
        if n % 16:
            out[n - 16 :] = self._box_muller16(self._uniform(16))
        return out.reshape(shape)


def torch_default_init(model, seed: int):
    """Give ``model`` the weights ``torch.manual_seed(seed)`` followed by constructing its
    PyTorch twin would give it, and return it.

    Valid for networks whose Keras layers are created in the PyTorch module's construction
    order (each ``Conv2d``/``ConvTranspose2d``/``Linear`` draws its weight, then its bias;
    normalisation layers and PReLU draw nothing): ESPCN, SRResNet, TransformerNet, VGG19.
    """
    from ..backend import keras_module

    keras = keras_module()
    L = keras.layers
    rng = TorchCPURandom(seed)
    for layer in model.layers:
        if isinstance(layer, L.Conv2DTranspose):
            kh, kw, out_c, in_c = layer.kernel.shape
            fan_in = out_c * kh * kw  # torch: weight (in, out, kh, kw), fan_in = size(1) * k * k
            bound = 1.0 / math.sqrt(fan_in)
            w = rng.uniform(in_c * out_c * kh * kw, -bound, bound).reshape(in_c, out_c, kh, kw)
            layer.kernel.assign(w.transpose(2, 3, 1, 0))
        elif isinstance(layer, L.Conv2D):
            kh, kw, in_c, out_c = layer.kernel.shape
            fan_in = in_c * kh * kw
            bound = 1.0 / math.sqrt(fan_in)
            w = rng.uniform(out_c * in_c * kh * kw, -bound, bound).reshape(out_c, in_c, kh, kw)
            layer.kernel.assign(w.transpose(2, 3, 1, 0))
        elif isinstance(layer, L.Dense):
            in_c, out_c = layer.kernel.shape
            fan_in = in_c
            bound = 1.0 / math.sqrt(fan_in)
            layer.kernel.assign(rng.uniform(out_c * in_c, -bound, bound).reshape(out_c, in_c).T)
        else:
            continue
        if layer.bias is not None:
            layer.bias.assign(rng.uniform(int(layer.bias.shape[0]), -bound, bound))
    return model
