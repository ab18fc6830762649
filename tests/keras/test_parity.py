"""Parity of the Keras and PyTorch backends: for every network, the same parameter count and
output shape, and with the PyTorch weights copied across (``convert.load_torch_state``) the
same outputs; the same losses on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from artforge_keras.nets import convert  # noqa: E402
from artforge_keras.nets import losses as klosses  # noqa: E402
from artforge_keras.nets.layers import count_parameters  # noqa: E402
from artforge_torch.nets import losses as tlosses  # noqa: E402

RNG = np.random.default_rng(0)


def _state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def _randomise_norm_stats(module):
    """Non-trivial BatchNorm running statistics and affine parameters, so eval mode is tested."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        norms = (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d, torch.nn.GroupNorm)
        if isinstance(m, norms) and m.weight is not None:
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        if isinstance(m, torch.nn.PReLU):
            with torch.no_grad():
                m.weight.fill_(0.1)
    return module


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _nhwc(t):
    t = t.detach()
    return t.permute(0, 2, 3, 1).numpy() if t.dim() == 4 else t.numpy()


def _compare(tnet, knet, inputs, *, atol=1e-4, rel=False, train=False):
    """Same parameter count, shapes and (with copied weights) outputs."""
    tnet = _randomise_norm_stats(tnet)
    tnet.train(train)
    n_t = sum(p.numel() for p in tnet.parameters() if p.requires_grad)
    assert count_parameters(knet) == n_t, (count_parameters(knet), n_t)
    convert.load_torch_state(knet, _state(tnet))
    t_in = [_nchw(x) if x.ndim == 4 else torch.from_numpy(x) for x in inputs]
    with torch.no_grad():
        yt = tnet(*t_in)
    yk = knet(inputs if len(inputs) > 1 else inputs[0], training=train)
    if isinstance(yt, dict):
        pairs = [(_nhwc(yt[k]), np.asarray(yk[k])) for k in yt]
    else:
        pairs = [(_nhwc(yt), np.asarray(yk))]
    for a, b in pairs:
        assert a.shape == b.shape
        scale = max(1.0, float(np.abs(a).max())) if rel else 1.0
        assert np.abs(a - b).max() <= atol * scale, np.abs(a - b).max() / scale
    return pairs


def _img(n, s, c=3, lo=-1.0, hi=1.0, w=None):
    return RNG.uniform(lo, hi, (n, s, w or s, c)).astype("float32")


# -- pix2pix / CycleGAN ---------------------------------------------------------------------------
@pytest.mark.parametrize("size,norm", [(16, "batch"), (32, "instance"), (64, "batch")])
def test_unet(size, norm):
    from artforge_keras.nets.pix2pix import UNetGenerator as K
    from artforge_torch.nets.pix2pix import UNetGenerator as T

    t = T(image_size=size, ngf=8, norm=norm)
    k = K(image_size=size, ngf=8, norm=norm)
    assert k.multiple == t.multiple
    _compare(t, k, [_img(2, size)])
    # a non-square input of other multiples of the U-Net's stride
    _compare(t, k, [_img(1, size, w=2 * size)])


@pytest.mark.parametrize(
    "n_layers,norm,sn", [(3, "batch", False), (2, "instance", True), (1, "none", False)]
)
def test_patchgan(n_layers, norm, sn):
    from artforge_keras.nets.pix2pix import PatchDiscriminator as K
    from artforge_torch.nets.pix2pix import PatchDiscriminator as T

    t = T(6, ndf=8, n_layers=n_layers, norm=norm, spectral_norm=sn)
    k = K(6, ndf=8, n_layers=n_layers, norm=norm, spectral_norm=sn)
    ((a, _),) = _compare(t, k, [_img(2, 64, 6)], rel=True)
    assert a.shape[1:] == (64 // 2**n_layers - 2, 64 // 2**n_layers - 2, 1)


def test_patchgan_spectral_norm_power_iteration_in_training():
    from artforge_keras.nets.pix2pix import PatchDiscriminator as K
    from artforge_torch.nets.pix2pix import PatchDiscriminator as T

    t = T(3, ndf=8, n_layers=2, norm="none", spectral_norm=True)
    k = K(3, ndf=8, n_layers=2, norm="none", spectral_norm=True)
    _compare(t, k, [_img(2, 32)], rel=True, train=True)  # one power iteration on each side
    x = _img(2, 32)
    with torch.no_grad():
        yt = t(_nchw(x))
    yk = np.asarray(k(x, training=True))  # the second one, from the stored u
    assert np.abs(_nhwc(yt) - yk).max() <= 1e-4 * max(1.0, float(np.abs(yk).max()))


@pytest.mark.parametrize(
    "norm,dropout,upsample",
    [
        ("instance", False, "transpose"),
        ("batch", True, "transpose"),
        ("instance", False, "nearest"),
    ],
)
@pytest.mark.parametrize("head", ["rgb", "affine"])
def test_resnet_generator(norm, dropout, upsample, head):
    from artforge_keras.nets.cyclegan import ResnetGenerator as K
    from artforge_torch.nets.cyclegan import ResnetGenerator as T

    t = T(ngf=8, n_blocks=2, norm=norm, dropout=dropout, upsample=upsample, head=head)
    k = K(ngf=8, n_blocks=2, norm=norm, dropout=dropout, upsample=upsample, head=head)
    _compare(t, k, [_img(2, 32, w=24)])


# -- DCGAN -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,n_classes", [(32, 0), (64, 10)])
def test_dcgan_generator(size, n_classes):
    from artforge_keras.nets.dcgan import DCGANGenerator as K
    from artforge_torch.nets.dcgan import DCGANGenerator as T

    t = T(nz=16, ngf=8, image_size=size, n_classes=n_classes)
    k = K(nz=16, ngf=8, image_size=size, n_classes=n_classes)
    z = RNG.standard_normal((3, 16)).astype("float32")
    inputs = [z] + ([np.array([0, 3, 9], "int64")] if n_classes else [])
    ((a, _),) = _compare(t, k, inputs)
    assert a.shape == (3, size, size, 3)


@pytest.mark.parametrize(
    "size,n_classes,norm,sn",
    [
        (32, 0, "batch", False),
        (64, 10, "batch", False),
        (32, 5, "layer", True),
        (128, 0, "none", False),
    ],
)
def test_dcgan_discriminator(size, n_classes, norm, sn):
    from artforge_keras.nets.dcgan import DCGANDiscriminator as K
    from artforge_torch.nets.dcgan import DCGANDiscriminator as T

    t = T(ndf=8, image_size=size, n_classes=n_classes, norm=norm, spectral_norm=sn)
    k = K(ndf=8, image_size=size, n_classes=n_classes, norm=norm, spectral_norm=sn)
    inputs = [_img(3, size)] + ([np.array([0, 4, 2], "int64")] if n_classes else [])
    ((a, _),) = _compare(t, k, inputs, rel=True)
    assert a.shape == (3,)


# -- super-resolution ------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_espcn(scale):
    from artforge_keras.nets.sr import ESPCN as K
    from artforge_torch.nets.sr import ESPCN as T

    t, k = T(scale=scale), K(scale=scale)
    ((a, _),) = _compare(t, k, [_img(2, 12, lo=0, w=9)])
    assert a.shape == (2, 12 * scale, 9 * scale, 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srresnet(scale):
    from artforge_keras.nets.sr import SRResNet as K
    from artforge_torch.nets.sr import SRResNet as T

    t = T(scale=scale, features=16, n_blocks=2)
    k = K(scale=scale, features=16, n_blocks=2)
    _compare(t, k, [_img(2, 10, lo=0, w=7)], rel=True)


def test_srresnet_paper_size_parameter_count():
    from artforge_keras.nets.sr import SRResNet as K
    from artforge_torch.nets.sr import SRResNet as T

    assert count_parameters(K(scale=4)) == sum(p.numel() for p in T(scale=4).parameters())


def test_srgan_discriminator():
    from artforge_keras.nets.sr import SRDiscriminator as K
    from artforge_torch.nets.sr import SRDiscriminator as T

    t = T(features=8)
    k = K(features=8, image_size=40)  # 40 -> 3 x 3 before the adaptive pool to 6 x 6
    _compare(t, k, [_img(2, 40, lo=0)], rel=True)


# -- style ---------------------------------------------------------------------------------------------
def test_transformer_net_odd_size():
    from artforge_keras.nets.transformer import TransformerNet as K
    from artforge_torch.nets.transformer import TransformerNet as T

    t, k = T(width=8, n_blocks=2), K(width=8, n_blocks=2)
    ((a, _),) = _compare(t, k, [_img(2, 21, lo=0, w=14)], rel=True)
    assert a.shape == (2, 21, 14, 3)


def test_transformer_net_paper_size_parameter_count():
    from artforge_keras.nets.transformer import TransformerNet as K
    from artforge_torch.nets.transformer import TransformerNet as T

    assert count_parameters(K()) == sum(p.numel() for p in T().parameters())


def test_vgg19_features_all_layers():
    from artforge_keras.nets.features import VGG19_LAYERS
    from artforge_keras.nets.features import VGG19Features as K
    from artforge_torch.nets.features import VGG19Features as T

    names = list(VGG19_LAYERS)
    t, k = T(layers=names), K(layers=names)
    torch.manual_seed(0)
    for m in t.modules():  # kaiming-normal weights keep activations alive through 16 layers
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
    n_t = sum(p.numel() for p in t.parameters())
    assert count_parameters(k) == n_t == 20_024_384
    convert.load_torch_state(k, {k2: v for k2, v in _state(t).items()})
    x = _img(1, 40, lo=0, hi=1)
    with torch.no_grad():
        yt = t(_nchw(x))
    yk = k(x)
    for name in names:
        a, b = _nhwc(yt[name]), np.asarray(yk[name])
        assert a.shape == b.shape, name
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(a).max())), name


def test_random_multiscale_features():
    from artforge_keras.nets.features import RandomMultiScaleFeatures as K
    from artforge_torch.nets.features import RandomMultiScaleFeatures as T

    t, k = T(seed=3, filters=8), K(seed=3, filters=8)  # the same filters from the same seed
    for name, buf in t.named_buffers():
        if name.startswith("w"):
            got = k.kernels["scale" + name[1:]].numpy().transpose(3, 2, 0, 1)
            np.testing.assert_allclose(got, buf.numpy(), atol=1e-6, err_msg=name)
    x = _img(2, 27, lo=0, hi=1, w=33)  # not a multiple of the pooling factors
    with torch.no_grad():
        yt = t(_nchw(x))
    yk = k(x)
    assert list(yk) == list(yt) == k.LAYERS
    for name in k.LAYERS:
        a, b = _nhwc(yt[name]), np.asarray(yk[name])
        assert a.shape == b.shape, name
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(a).max())), name


# -- losses --------------------------------------------------------------------------------------------
def test_style_losses_agree():
    f = RNG.standard_normal((2, 9, 7, 5)).astype("float32")
    g = RNG.standard_normal((2, 9, 7, 5)).astype("float32")
    img = RNG.uniform(0, 1, (2, 11, 13, 3)).astype("float32")
    gt = tlosses.gram_matrix(_nchw(f)).numpy()
    gk = np.asarray(klosses.gram_matrix(f))
    assert gk.shape == (2, 5, 5) and np.allclose(gt, gk, atol=1e-6)
    assert float(klosses.tv_loss(img)) == pytest.approx(
        float(tlosses.tv_loss(_nchw(img))), rel=1e-5
    )
    assert float(klosses.content_loss(f, g)) == pytest.approx(
        float(tlosses.content_loss(_nchw(f), _nchw(g))), rel=1e-5
    )
    tgt = {"a": tlosses.gram_matrix(_nchw(g[:1]))}
    want = float(tlosses.style_loss({"a": _nchw(f)}, tgt, {"a": 0.5}))
    got = float(klosses.style_loss({"a": f}, {"a": tgt["a"].numpy()}, {"a": 0.5}))
    assert got == pytest.approx(want, rel=1e-5)
    dict_t = float(tlosses.content_loss({"a": _nchw(f)}, {"a": _nchw(g)}))
    assert float(klosses.content_loss({"a": f}, {"a": g})) == pytest.approx(dict_t, rel=1e-5)


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge", "wgan-gp"])
def test_gan_losses_agree(kind):
    real = (RNG.standard_normal((4, 6, 6, 1)) * 3).astype("float32")
    fake = (RNG.standard_normal((4, 6, 6, 1)) * 3).astype("float32")
    t, k = tlosses.GANLoss(kind), klosses.GANLoss(kind)
    assert float(k.d_loss(real, fake)) == pytest.approx(
        float(t.d_loss(_nchw(real), _nchw(fake))), rel=1e-5
    )
    assert float(k.g_loss(fake)) == pytest.approx(float(t.g_loss(_nchw(fake))), rel=1e-5)


def test_gradient_penalty_of_a_linear_critic():
    """For D(x) = <w, x> the gradient is w everywhere: the penalty is (|w| - 1)^2 * weight."""
    import keras

    w = RNG.standard_normal((1, 4, 4, 3)).astype("float32")
    D = keras.layers.Lambda(lambda x: keras.ops.sum(x * w, axis=(1, 2, 3)))
    real, fake = _img(3, 4), _img(3, 4)
    gp = float(klosses.gradient_penalty(lambda x, training: D(x), real, fake, weight=10.0))
    assert gp == pytest.approx(10.0 * (np.linalg.norm(w) - 1.0) ** 2, rel=1e-4)


@pytest.mark.parametrize("seed", [0, 7, 2**31 - 1])
def test_torch_cpu_randn_is_reproduced_without_torch(seed):
    from artforge_keras.nets.features import TorchCPURandom

    g, ours = torch.Generator().manual_seed(seed), TorchCPURandom(seed)
    for shape in [(64, 3, 3, 3), (5, 3, 5, 5), (16,), (17, 3)]:  # sequential draws, tails
        want = torch.randn(*shape, generator=g).numpy()
        np.testing.assert_allclose(ours.randn(*shape), want, atol=1e-6)


@pytest.mark.parametrize("which", ["espcn", "srresnet", "johnson"])
def test_torch_default_initialisation_is_reproduced(which):
    """The same seed gives the Keras network the weights its torch twin starts from."""
    from artforge_keras.nets import sr as ksr
    from artforge_keras.nets import transformer as ktr
    from artforge_keras.nets.torch_random import torch_default_init
    from artforge_torch.nets import sr as tsr
    from artforge_torch.nets import transformer as ttr

    make = {
        "espcn": (lambda: tsr.ESPCN(scale=3), lambda: ksr.ESPCN(scale=3)),
        "srresnet": (
            lambda: tsr.SRResNet(2, features=8, n_blocks=2),
            lambda: ksr.SRResNet(2, features=8, n_blocks=2),
        ),
        "johnson": (
            lambda: ttr.TransformerNet(width=8, n_blocks=2),
            lambda: ktr.TransformerNet(width=8, n_blocks=2),
        ),
    }[which]
    torch.manual_seed(11)
    t = make[0]()
    k = torch_default_init(make[1](), 11)
    reference = make[1]()
    convert.load_torch_state(reference, _state(t))
    for a, b in zip(k.weights, reference.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-7, err_msg=a.path)
