"""Losses in ``keras.ops``: adversarial (vanilla, LSGAN, hinge, WGAN with gradient penalty)
and the style-transfer losses of Gatys et al. 2016 (content, Gram-matrix style, total
variation), the same definitions as ``artforge_torch.nets.losses`` on NHWC tensors."""

from __future__ import annotations

from collections.abc import Mapping

from ..backend import keras_module

keras = keras_module()
ops = keras.ops

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "wgan-gp")


def _bce_with_logits(logits, target: float):
    # max(x, 0) - x * t + log(1 + exp(-|x|)): the stable form PyTorch uses
    return ops.mean(ops.relu(logits) - logits * target + ops.log1p(ops.exp(-ops.abs(logits))))


class GANLoss:
    """Adversarial losses on raw discriminator logits of any shape (a PatchGAN map is
    averaged). ``d_loss`` halves the vanilla and LSGAN sums as the pix2pix/CycleGAN reference
    code does; ``g_loss`` is the non-saturating loss (vanilla), MSE to 1 (lsgan) or
    -mean (hinge, wgan-gp)."""

    def __init__(self, kind: str = "vanilla"):
        if kind == "wgan":
            kind = "wgan-gp"
        if kind not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {kind!r}; use one of {', '.join(GAN_LOSSES)}")
        self.kind = kind

    def __call__(self, pred, target_is_real: bool, for_discriminator: bool = True):
        pred = ops.cast(pred, "float32")
        t = 1.0 if target_is_real else 0.0
        if self.kind == "vanilla":
            return _bce_with_logits(pred, t)
        if self.kind == "lsgan":
            return ops.mean(ops.square(pred - t))
        if self.kind == "hinge" and for_discriminator:
            return (
                ops.mean(ops.relu(1.0 - pred)) if target_is_real else ops.mean(ops.relu(1.0 + pred))
            )
        return -ops.mean(pred) if target_is_real else ops.mean(pred)

    def d_loss(self, real_logits, fake_logits):
        loss = self(real_logits, True) + self(fake_logits, False)
        return 0.5 * loss if self.kind in ("vanilla", "lsgan") else loss

    def g_loss(self, fake_logits):
        return self(fake_logits, True, for_discriminator=False)


def gradient_penalty(D, real, fake, *extra, weight: float = 10.0, seed=None):
    """WGAN-GP (Gulrajani et al. 2017): ``weight * E[(||grad D(x_hat)||_2 - 1)^2]`` at random
    interpolates of real and fake (one alpha per sample). TensorFlow's GradientTape; the
    penalty stays differentiable for D's update."""
    import tensorflow as tf

    shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
    alpha = keras.random.uniform(shape, dtype=real.dtype, seed=seed)
    x_hat = alpha * ops.stop_gradient(real) + (1 - alpha) * ops.stop_gradient(fake)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        out = D(x_hat, *extra, training=True)
        total = ops.sum(ops.cast(out, "float32"))
    grad = tape.gradient(total, x_hat)
    norm = ops.sqrt(ops.sum(ops.reshape(ops.square(grad), (ops.shape(grad)[0], -1)), axis=1))
    return weight * ops.mean(ops.square(norm - 1.0))


def gram_matrix(feat):
    """Gram matrices of (N, H, W, C) features: (N, C, C), each normalised by C*H*W."""
    f = ops.cast(feat, "float32")
    s = ops.shape(f)
    n, c = s[0], f.shape[-1]
    hw = s[1] * s[2]
    f = ops.reshape(f, (n, hw, c))
    g = ops.matmul(ops.transpose(f, (0, 2, 1)), f)
    return g / ops.cast(hw * c, "float32")


def tv_loss(img):
    """Mean squared difference between vertical neighbours plus that between horizontal ones."""
    img = ops.cast(img, "float32")
    dh = img[:, 1:, :, :] - img[:, :-1, :, :]
    dw = img[:, :, 1:, :] - img[:, :, :-1, :]
    return ops.mean(ops.square(dh)) + ops.mean(ops.square(dw))


def content_loss(feats, targets):
    """MSE between feature maps: two tensors, or two dicts summed over ``targets``' layers."""
    if not isinstance(targets, Mapping):
        f = ops.cast(feats, "float32")
        return ops.mean(ops.square(f - ops.cast(targets, "float32")))
    return sum(content_loss(feats[k], t) for k, t in targets.items())


def style_loss(feats, target_grams, weights=None):
    """Weighted sum over layers of the squared Frobenius distance between the Gram matrices of
    ``feats`` and ``target_grams`` (each (1, C, C) or (N, C, C)), averaged over the batch."""
    total = None
    for k, g in target_grams.items():
        w = 1.0 if weights is None else weights.get(k, 1.0)
        f = feats[k]
        diff = gram_matrix(f) - ops.cast(g, "float32")
        term = w * ops.sum(ops.square(diff)) / ops.cast(ops.shape(f)[0], "float32")
        total = term if total is None else total + term
    if total is None:
        raise ValueError("style_loss needs at least one target Gram matrix")
    return total
