"""Copy PyTorch-layout weights (a state dict as NumPy arrays) into the Keras networks.

Every Keras layer with weights is named after the PyTorch module path of its twin, so a
state dict key ``<path>.<tensor>`` finds its layer by name. Layouts:

==========================  ==================================  ==============================
PyTorch                     Keras                               conversion
==========================  ==================================  ==============================
Conv2d.weight (O,I,kh,kw)   Conv2D.kernel (kh,kw,I,O)           transpose (2, 3, 1, 0)
ConvTranspose2d (I,O,kh,kw) Conv2DTranspose.kernel (kh,kw,O,I)  transpose (2, 3, 1, 0)
Linear.weight (O, I)        Dense.kernel (I, O)                 transpose
BatchNorm2d                 BatchNormalization                  weight/bias/running_* ->
                                                                gamma/beta/moving_*
InstanceNorm2d, GroupNorm   InstanceNorm, GroupNormalization    weight/bias -> gamma/beta
PReLU.weight (1,)           PReLU.alpha (1,)                    as is
Embedding.weight            Embedding.embeddings                as is
spectral_norm(Conv2d)       SpectralConv2D                      weight_orig -> kernel, u,
                                                                v (IHW order -> HWI)
==========================  ==================================  ==============================

Nothing here imports torch: the tests and the weight loaders hand in NumPy arrays (e.g. a
torchvision VGG19 ``.safetensors`` file read with ``safetensors.numpy``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..backend import keras_module
from .layers import InstanceNorm, PReLU, SpectralConv2D, SpectralEmbedding

keras = keras_module()
L = keras.layers


def _conv_kernel(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 1, 0))


def layer_tensors(
    layer, state: Mapping[str, np.ndarray], prefix: str, used: set[str] | None = None
) -> list[np.ndarray] | None:
    """The Keras weight values of ``layer`` from the PyTorch tensors under ``prefix``, in the
    order of ``layer.weights``; None when the state holds nothing for it. The keys read are
    added to ``used``."""

    def get(key):
        full = f"{prefix}.{key}"
        if full not in state:
            raise KeyError(f"missing {full} for Keras layer {layer.name}")
        if used is not None:
            used.add(full)
        return np.asarray(state[full])

    if not any(k.startswith(prefix + ".") for k in state):
        return None
    if isinstance(layer, SpectralConv2D):
        w = get("weight_orig")
        v = get("weight_v")
        o, i, kh, kw = w.shape
        v = v.reshape(i, kh, kw).transpose(1, 2, 0).reshape(-1)
        vals = [_conv_kernel(w)]
        if layer.bias is not None:
            vals.append(get("bias"))
        return [*vals, get("weight_u"), v]
    if isinstance(layer, SpectralEmbedding):
        return [get("weight_orig"), get("weight_u"), get("weight_v")]
    if isinstance(layer, (L.Conv2D, L.Conv2DTranspose)):
        vals = [_conv_kernel(get("weight"))]
        if layer.use_bias:
            vals.append(get("bias"))
        return vals
    if isinstance(layer, L.Dense):
        vals = [get("weight").T]
        if layer.use_bias:
            vals.append(get("bias"))
        return vals
    if isinstance(layer, L.BatchNormalization):
        return [get("weight"), get("bias"), get("running_mean"), get("running_var")]
    if isinstance(layer, (InstanceNorm, L.GroupNormalization)):
        return [get("weight"), get("bias")] if layer.weights else []
    if isinstance(layer, PReLU):
        return [get("weight").reshape(1)]
    if isinstance(layer, L.Embedding):
        return [get("weight")]
    raise TypeError(f"no PyTorch conversion for {type(layer).__name__} {layer.name}")


def load_torch_state(
    model, state: Mapping[str, np.ndarray], strict: bool = True, prefix_map=None
) -> list[str]:
    """Assign the PyTorch state dict ``state`` (key -> array) to ``model``'s layers.

    ``prefix_map`` renames a Keras layer name to the state dict prefix (default: the same).
    With ``strict``, every Keras layer with weights must be found and every state key used
    (``num_batches_tracked`` aside). Returns the list of unused keys.
    """
    used: set[str] = set()
    missing = []
    for layer in model._flatten_layers(include_self=False):
        if not layer.weights or isinstance(layer, keras.Model):
            continue
        prefix = prefix_map(layer.name) if prefix_map else layer.name
        vals = layer_tensors(layer, state, prefix, used)
        if vals is None:
            missing.append(layer.name)
            continue
        if len(vals) != len(layer.weights):
            raise ValueError(
                f"{layer.name}: {len(vals)} tensors for {len(layer.weights)} Keras weights"
            )
        for var, val in zip(layer.weights, vals):
            if tuple(var.shape) != tuple(val.shape):
                raise ValueError(
                    f"{layer.name}/{var.name}: shape {tuple(val.shape)} does not fit "
                    f"{tuple(var.shape)}"
                )
            var.assign(val.astype(var.dtype))
    unused = [k for k in state if k not in used and not k.endswith("num_batches_tracked")]
    if strict and (missing or unused):
        raise ValueError(
            f"weights do not fit the network: Keras layers without weights in the file "
            f"{missing[:4]}, unused tensors {unused[:4]}"
        )
    return unused
