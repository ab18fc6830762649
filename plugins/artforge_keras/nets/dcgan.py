"""DCGAN generator and discriminator in Keras, optionally class-conditional.

Radford, Metz, Chintala, ICLR 2016, layer for layer as ``artforge_torch.nets.dcgan``: G maps
z through 4x4 transposed convolutions with BatchNorm and ReLU to a Tanh image; D mirrors it
with strided 4x4 convolutions and LeakyReLU(0.2); 3, 4 or 5 doublings for 32, 64, 128
pixels. Class-conditional: G concatenates a label embedding to z; D is a projection
discriminator (Miyato & Koyama, ICLR 2018): ``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>``
with phi(x) flattened in PyTorch's (C, H, W) order, so the embeddings are interchangeable.
"""

from __future__ import annotations

from ..backend import keras_module
from .layers import LeakyReLU, SpectralEmbedding, conv_transpose, norm_layer, sn_conv

keras = keras_module()
layers = keras.layers
ops = keras.ops

IMAGE_SIZES = (32, 64, 128)


def _doublings(image_size: int) -> int:
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"DCGAN image_size must be 32, 64 or 128, got {image_size}")
    return image_size.bit_length() - 3


class DCGANGenerator(keras.Model):
    """z (N, nz) [and labels y (N,)] -> images (N, S, S, nc) in [-1, 1]."""

    def __init__(
        self,
        nz: int = 100,
        ngf: int = 64,
        nc: int = 3,
        image_size: int = 64,
        n_classes: int = 0,
        embed_dim: int | None = None,
        name: str = "dcgan_g",
    ):
        n = _doublings(image_size)
        z_in = keras.Input((nz,), name="z")
        inputs = [z_in]
        h = z_in
        if n_classes > 0:
            y_in = keras.Input((), dtype="int32", name="y")
            inputs.append(y_in)
            e = layers.Embedding(n_classes, embed_dim or nz, name="embed")(y_in)
            h = layers.Concatenate(axis=-1)([h, e])
        h = layers.Reshape((1, 1, -1))(h)
        mult = 2 ** (n - 1)
        i = 0
        h = conv_transpose(ngf * mult, 4, 1, 0, bias=False, name=f"main.{i}")(h)
        h = norm_layer("batch", name=f"main.{i + 1}")(h)
        h = layers.ReLU()(h)
        i += 3
        for _ in range(n - 1):
            h = conv_transpose(ngf * mult // 2, 4, 2, 1, bias=False, name=f"main.{i}")(h)
            h = norm_layer("batch", name=f"main.{i + 1}")(h)
            h = layers.ReLU()(h)
            mult //= 2
            i += 3
        h = conv_transpose(nc, 4, 2, 1, bias=False, name=f"main.{i}")(h)
        out = layers.Activation("tanh", dtype="float32")(h)
        super().__init__(inputs if n_classes > 0 else z_in, out, name=name)
        self.nz, self.n_classes = nz, n_classes
        self.config = {
            "nz": nz,
            "ngf": ngf,
            "nc": nc,
            "image_size": image_size,
            "n_classes": n_classes,
            "embed_dim": embed_dim,
        }


class _Projection(layers.Layer):
    """logits + sum(embed(y) * phi(x) flattened as (C, H, W))."""

    def call(self, logits, h, e):
        hf = ops.reshape(ops.transpose(h, (0, 3, 1, 2)), (ops.shape(h)[0], -1))
        return logits + ops.sum(ops.cast(e, hf.dtype) * hf, axis=1)


class DCGANDiscriminator(keras.Model):
    """images (N, S, S, nc) in [-1, 1] [and labels y (N,)] -> raw logits (N,)."""

    def __init__(
        self,
        nc: int = 3,
        ndf: int = 64,
        image_size: int = 64,
        n_classes: int = 0,
        norm: str = "batch",
        spectral_norm: bool = False,
        name: str = "dcgan_d",
    ):
        n = _doublings(image_size)
        sn = spectral_norm
        use_bias = norm != "batch"
        x_in = keras.Input((image_size, image_size, nc), name="image")
        h = sn_conv(ndf, 4, 2, 1, True, name="features.0", enabled=sn, even_input=True)(x_in)
        h = LeakyReLU(0.2)(h)
        mult, i = 1, 2
        for _ in range(n - 1):
            h = sn_conv(
                ndf * mult * 2, 4, 2, 1, use_bias, name=f"features.{i}", enabled=sn, even_input=True
            )(h)
            h = norm_layer(norm, name=f"features.{i + 1}")(h)
            h = LeakyReLU(0.2)(h)
            mult *= 2
            i += 3
        logits = sn_conv(1, 4, 1, 0, True, name="out", enabled=sn)(h)
        logits = layers.Reshape(())(logits)
        inputs = x_in
        if n_classes > 0:
            y_in = keras.Input((), dtype="int32", name="y")
            inputs = [x_in, y_in]
            dim = ndf * mult * 16
            emb = (
                SpectralEmbedding(n_classes, dim, name="embed")
                if sn
                else layers.Embedding(n_classes, dim, name="embed")
            )
            logits = _Projection()(logits, h, emb(y_in))
        logits = layers.Activation("linear", dtype="float32")(logits)
        super().__init__(inputs, logits, name=name)
        self.n_classes = n_classes
        self.config = {
            "nc": nc,
            "ndf": ndf,
            "image_size": image_size,
            "n_classes": n_classes,
            "norm": norm,
            "spectral_norm": spectral_norm,
        }
