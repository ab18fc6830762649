"""Feature networks for the style-transfer and perceptual losses, in Keras.

- :class:`VGG19Features`: VGG19's 16 convolutions (Simonyan & Zisserman 2015), named and laid
  out like torchvision's ``vgg19().features`` (``features.0`` ... ``features.34``) and with
  the same layer names (``conv1_1`` is a convolution's output before its ReLU, ``relu1_1``
  after it, ``pool1``). Its weights come from ``keras.applications.VGG19`` loaded with
  Keras' own ImageNet file (a path, or Keras' usual cache ``~/.keras/models``), or from
  torchvision's file (``vgg19-dcbbb9e9.pth`` or a ``.safetensors`` copy, read without
  torch). The two weight sets expect different inputs, and the network applies the right
  one: Keras' (converted from Caffe) BGR pixels in 0..255 minus the Caffe mean,
  torchvision's RGB in [0, 1] normalised by the ImageNet mean and std. Nothing is ever
  downloaded.
- :class:`RandomMultiScaleFeatures`: the weight-free network of the PyTorch backend, one
  layer of random filters at several scales (Ustyuzhaninov et al., ICLR 2017), same scales,
  filter counts, pooling shortcuts and replicate padding; the random filters come from
  NumPy (seeded), not from torch's generator.

Both take (N, H, W, 3) images in [0, 1] and return ``{layer name: activation}``.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..backend import keras_module
from .layers import edge_pad
from .torch_random import TorchCPURandom

keras = keras_module()
layers = keras.layers
ops = keras.ops

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
VGG19_CFG += [512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
TORCH_FILE = "vgg19-dcbbb9e9.pth"
KERAS_FILES = (
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
)
WEIGHTS_ENV = "ARTFORGE_VGG19_WEIGHTS"


def _vgg19_layer_names() -> dict[str, int]:
    names, block, conv, i = {}, 1, 1, 0
    for v in VGG19_CFG:
        if v == "M":
            names[f"pool{block}"] = i
            block, conv, i = block + 1, 1, i + 1
        else:
            names[f"conv{block}_{conv}"] = i
            names[f"relu{block}_{conv}"] = i + 1
            conv, i = conv + 1, i + 2
    return names


VGG19_LAYERS: dict[str, int] = _vgg19_layer_names()
DEFAULT_CONTENT_LAYERS = ["conv4_2"]
DEFAULT_STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
# keras.applications.VGG19's conv layer names in order: block1_conv1, ..., block5_conv4
KERAS_CONV_NAMES = [
    f"block{b}_conv{c}"
    for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
    for c in range(1, n + 1)
]


def _check_names(names, known) -> None:
    bad = [k for k in names if k not in known]
    if bad:
        raise KeyError(f"unknown layer {bad[0]!r}; known: {', '.join(known)}")


class _Normalise(layers.Layer):
    """[0, 1] RGB -> the input the weights expect (``torch`` or ``caffe`` preprocessing)."""

    def __init__(self, mode: str, **kw):
        super().__init__(**kw)
        self.mode = mode

    def call(self, x):
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) * 255.0
            return x - ops.convert_to_tensor(np.array(CAFFE_MEAN_BGR, "float32"), x.dtype)
        mean = ops.convert_to_tensor(np.array(IMAGENET_MEAN, "float32"), x.dtype)
        std = ops.convert_to_tensor(np.array(IMAGENET_STD, "float32"), x.dtype)
        return (x - mean) / std


class VGG19Features(keras.Model):
    """VGG19's convolutional layers; ``model(x)`` -> {name: activation} for ``layers``.

    The forward pass stops at the deepest layer asked for. ``pool="avg"`` swaps max for
    average pooling (no parameters, weights load the same). ``preprocess``: ``torch``
    (torchvision weights, the default) or ``caffe`` (Keras' ImageNet weights); the loaders
    below set it to match the file.
    """

    DEFAULT_CONTENT_LAYERS = DEFAULT_CONTENT_LAYERS
    DEFAULT_STYLE_LAYERS = DEFAULT_STYLE_LAYERS
    LAYERS = VGG19_LAYERS

    def __init__(
        self,
        layers: list[str] | None = None,
        pool: str = "max",
        preprocess: str = "torch",
        name="vgg19_features",
    ):
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        if preprocess not in ("torch", "caffe"):
            raise ValueError(f"preprocess must be 'torch' or 'caffe', got {preprocess!r}")
        wanted = list(layers or dict.fromkeys(DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS))
        _check_names(wanted, VGG19_LAYERS)
        by_index = {VGG19_LAYERS[k]: k for k in wanted}
        last = max(by_index)
        inputs = keras.Input((None, None, 3), name="image")
        norm = _Normalise(preprocess, name="normalise")
        h = norm(inputs)
        outs: dict[str, object] = {}
        i = 0
        L = keras.layers
        for v in VGG19_CFG:
            if i > last:
                break
            if v == "M":
                pool_cls = L.MaxPooling2D if pool == "max" else L.AveragePooling2D
                h = pool_cls(2, 2, name=f"features.{i}")(h)
                if i in by_index:
                    outs[by_index[i]] = h
                i += 1
            else:
                h = L.Conv2D(v, 3, padding="same", name=f"features.{i}")(h)
                if i in by_index:
                    outs[by_index[i]] = h
                h = L.ReLU(name=f"features.{i + 1}")(h)
                if i + 1 in by_index:
                    outs[by_index[i + 1]] = h
                i += 2
        super().__init__(inputs, {k: outs[k] for k in wanted}, name=name)
        self.layers_wanted = wanted
        self.norm = norm
        self.pool = pool

    @property
    def preprocess(self) -> str:
        return self.norm.mode

    def set_preprocess(self, mode: str) -> None:
        if mode not in ("torch", "caffe"):
            raise ValueError(f"preprocess must be 'torch' or 'caffe', got {mode!r}")
        self.norm.mode = mode

    def conv_layers(self) -> list:
        """The conv layers in order (conv1_1 first), however deep this network goes."""
        return [
            lay
            for lay in self.layers
            if isinstance(lay, keras.layers.Conv2D) and lay.name.startswith("features.")
        ]


# -- weight files -----------------------------------------------------------------------------------
class _TorchUnpickler(pickle.Unpickler):
    """Reads a ``torch.save`` zip file's state dict into NumPy arrays without torch.

    Only the names a state dict of tensors needs are resolved (tensor rebuilding, storage
    types, OrderedDict); anything else, i.e. code, is refused, as ``weights_only=True``.
    """

    DTYPES = {
        "FloatStorage": np.float32,
        "DoubleStorage": np.float64,
        "HalfStorage": np.float16,
        "BFloat16Storage": "bfloat16",
        "LongStorage": np.int64,
        "IntStorage": np.int32,
        "ShortStorage": np.int16,
        "CharStorage": np.int8,
        "ByteStorage": np.uint8,
        "BoolStorage": np.bool_,
    }

    def __init__(self, fh, archive: zipfile.ZipFile, prefix: str):
        super().__init__(fh)
        self.archive = archive
        self.prefix = prefix

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in self.DTYPES:
            return name
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weight file")

    def persistent_load(self, pid):
        _, storage_type, key, _location, numel = pid
        dtype = self.DTYPES[storage_type]
        raw = self.archive.read(f"{self.prefix}/data/{key}")
        if dtype == "bfloat16":
            a = np.frombuffer(raw, np.uint16).astype(np.uint32) << 16
            return a.view(np.float32)[:numel]
        return np.frombuffer(raw, dtype)[:numel]


def _rebuild_tensor(storage, offset, size, stride, *_):
    if not size:
        return np.array(storage[offset])
    itemsize = storage.dtype.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    ).copy()


def read_torch_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A state dict (``torch.save`` zip format) as NumPy arrays, without importing torch."""
    with zipfile.ZipFile(path) as archive:
        pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
        if pkl is None:
            raise ValueError(f"{path} is not a torch.save zip file (no data.pkl)")
        with archive.open(pkl) as fh:
            obj = _TorchUnpickler(fh, archive, pkl.rsplit("/", 1)[0]).load()
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return dict(obj)


def read_state_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """PyTorch-layout tensors from a ``.safetensors`` or ``torch.save`` file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    return read_torch_file(path)


def load_vgg19_weights(model: VGG19Features, path: str | os.PathLike) -> VGG19Features:
    """Load ImageNet VGG19 weights into ``model`` and set its input preprocessing.

    ``.h5`` (Keras' ``vgg19_weights_tf_dim_ordering_tf_kernels[_notop].h5`` or a
    ``.weights.h5`` of ``keras.applications.VGG19``): loaded through
    ``keras.applications.VGG19(weights=path)``, Caffe preprocessing. ``.pth`` or
    ``.safetensors`` with torchvision's ``vgg19`` keys (``features.N.weight``): converted
    from OIHW, torchvision preprocessing.
    """
    path = Path(path)
    convs = model.conv_layers()
    if path.name.endswith(".h5"):
        try:  # Keras' notop file, or a .weights.h5 of VGG19(include_top=False)
            app = keras.applications.VGG19(include_top=False, weights=str(path))
        except ValueError:  # the file with the classifier
            app = keras.applications.VGG19(include_top=True, weights=str(path))
        for lay, name in zip(convs, KERAS_CONV_NAMES):
            lay.set_weights(app.get_layer(name).get_weights())
        model.set_preprocess("caffe")
        return model
    state = read_state_file(path)
    feats: dict[str, np.ndarray] = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key.startswith("classifier."):
            continue
        feats[key.removeprefix("features.")] = np.asarray(value, np.float32)
    expected = {
        f"{lay.name.removeprefix('features.')}.{t}" for lay in convs for t in ("weight", "bias")
    }
    all_convs = {
        f"{VGG19_LAYERS[f'conv{b}_{c}']}.{t}"
        for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
        for c in range(1, n + 1)
        for t in ("weight", "bias")
    }
    missing = sorted(expected - set(feats))
    extra = sorted(set(feats) - all_convs)
    if missing or extra:
        raise ValueError(
            f"not torchvision's vgg19 state dict: missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for lay in convs:
        k = lay.name.removeprefix("features.")
        w, b = feats[f"{k}.weight"], feats[f"{k}.bias"]
        want = (lay.filters, int(lay.kernel.shape[2]), 3, 3)
        if tuple(w.shape) != want:
            raise ValueError(f"features.{k}.weight has shape {tuple(w.shape)}, expected {want}")
        lay.set_weights([np.transpose(w, (2, 3, 1, 0)), b])
    model.set_preprocess("torch")
    return model


def keras_cache_dir() -> Path:
    """Keras' cache of downloaded models: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "models"


def torch_cache_file() -> Path:
    """Where torchvision keeps its VGG19 file ($TORCH_HOME/hub/checkpoints), found without torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch"
    )
    return Path(home) / "hub" / "checkpoints" / TORCH_FILE


def find_vgg19_weights(explicit_path: str | os.PathLike | None = None) -> Path | None:
    """The first existing file of: ``explicit_path``, ``$ARTFORGE_VGG19_WEIGHTS``, Keras'
    cache (``vgg19_weights_tf_dim_ordering_tf_kernels[_notop].h5``), torchvision's file in
    the torch hub cache; None if there is none. Never downloads."""
    candidates = [explicit_path, os.environ.get(WEIGHTS_ENV) or None]
    candidates += [keras_cache_dir() / f for f in KERAS_FILES]
    candidates.append(torch_cache_file())
    for c in candidates:
        if c is not None and Path(c).is_file():
            return Path(c)
    return None


# -- weight-free features --------------------------------------------------------------------------
DEFAULT_SCALES = (3, 5, 7, 11, 15, 23, 37, 55)


def _avg_pool_ceil(x, d: int):
    """``F.avg_pool2d(x, d, ceil_mode=True)``: the last, partial windows average what they cover."""
    if d == 1:
        return x
    h, w = ops.shape(x)[1], ops.shape(x)[2]
    ph, pw = (-h) % d, (-w) % d
    xp = ops.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]])
    ones = ops.pad(ops.ones_like(x[:1, :, :, :1]), [[0, 0], [0, ph], [0, pw], [0, 0]])
    s = ops.average_pool(xp, d, d, padding="valid")
    c = ops.average_pool(ones, d, d, padding="valid")
    return s / c


class RandomMultiScaleFeatures(keras.layers.Layer):
    """One layer of random filters at several scales, each followed by a ReLU (see the module
    docstring). ``filters`` per scale, N(0, 1/fan_in), fixed by ``seed``; a filter larger than
    ``max_kernel`` runs on an average-pooled copy with a proportionally smaller kernel.
    Each filter is drawn from N(0, 1) by the same generator as the PyTorch backend
    (:class:`TorchCPURandom`: the filters are identical for the same seed), then made
    zero-mean and unit-norm (as in the paper).
    Layer names ``scaleK`` (``scale_K`` is accepted as an alias); content defaults to
    ``scale7`` and ``scale11``."""

    name = "random multi-scale filters (Ustyuzhaninov et al. 2017), no trained weights"
    LAYERS = [f"scale{k}" for k in DEFAULT_SCALES]
    DEFAULT_CONTENT_LAYERS = ["scale7", "scale11"]
    DEFAULT_STYLE_LAYERS = list(LAYERS)

    def __init__(
        self, scales=DEFAULT_SCALES, filters: int = 64, seed: int = 0, max_kernel: int = 7, **kw
    ):
        super().__init__(name=kw.pop("name", "random_multiscale"), **kw)
        rng = TorchCPURandom(seed)
        self.scales = [int(k) for k in scales]
        self.factors: dict[str, int] = {}
        self.LAYERS = [f"scale{k}" for k in self.scales]
        if list(self.scales) != list(DEFAULT_SCALES):
            mid = self.LAYERS[len(self.LAYERS) // 2 - 1 : len(self.LAYERS) // 2 + 1]
            self.DEFAULT_CONTENT_LAYERS = mid or self.LAYERS[:1]
            self.DEFAULT_STYLE_LAYERS = list(self.LAYERS)
        self.kernels: dict[str, object] = {}
        for k in self.scales:
            d = 1
            while k / d > max_kernel:
                d *= 2
            kd = max(1, k // d) | 1
            w = rng.randn(filters, 3, kd, kd)  # PyTorch's layout and order of draws
            w = w - w.mean(axis=(1, 2, 3), keepdims=True)
            w = w / np.maximum(np.sqrt((w**2).sum(axis=(1, 2, 3), keepdims=True)), 1e-12)
            w = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
            self.kernels[f"scale{k}"] = self.add_weight(
                shape=(kd, kd, 3, filters),
                initializer=keras.initializers.Constant(w.astype("float32")),
                trainable=False,
                name=f"w{k}",
            )
            self.factors[f"scale{k}"] = d
        self.layers_wanted = list(self.LAYERS)

    def set_filters(self, filters: dict[str, np.ndarray]) -> None:
        """Assign filters given in PyTorch's layout (``w3``: (O, 3, k, k)), e.g. to compare."""
        for k in self.scales:
            self.kernels[f"scale{k}"].assign(
                np.transpose(np.asarray(filters[f"w{k}"]), (2, 3, 1, 0))
            )

    def call(self, x, layers=None):
        asked = list(layers or self.layers_wanted)
        names = [k.replace("scale_", "scale") for k in asked]
        _check_names(names, self.LAYERS)
        mean = ops.convert_to_tensor(np.array(IMAGENET_MEAN, "float32"), x.dtype)
        std = ops.convert_to_tensor(np.array(IMAGENET_STD, "float32"), x.dtype)
        h = (x - mean) / std
        pooled = {1: h}
        out = {}
        for key, name in zip(asked, names):
            d = self.factors[name]
            if d not in pooled:
                pooled[d] = _avg_pool_ceil(h, d)
            w = self.kernels[name]
            p = int(w.shape[0]) // 2
            out[key] = ops.relu(
                ops.conv(edge_pad(pooled[d], p), ops.cast(w, x.dtype), padding="valid")
            )
        return out
