"""GAN and translation networks: DCGAN (conditional or not), the CycleGAN ResNet generator
and image pool, and Johnson's TransformerNet."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from artforge_torch.nets.cyclegan import ImagePool, ResnetBlock, ResnetGenerator  # noqa: E402
from artforge_torch.nets.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402
from artforge_torch.nets.pix2pix import PatchDiscriminator  # noqa: E402
from artforge_torch.nets.transformer import TransformerNet  # noqa: E402


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# -- DCGAN -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("n_classes", [0, 5])
def test_dcgan_shapes(size, n_classes):
    g = DCGANGenerator(nz=16, ngf=8, image_size=size, n_classes=n_classes)
    d = DCGANDiscriminator(ndf=8, image_size=size, n_classes=n_classes)
    y = torch.tensor([0, 3, 4]) if n_classes else None
    img = g(torch.randn(3, 16), y)
    assert img.shape == (3, 3, size, size) and float(img.detach().abs().max()) <= 1.0
    assert d(img, y).shape == (3,)
    n_up = sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    n_down = sum(isinstance(m, nn.Conv2d) for m in d.modules())
    assert n_up == n_down == {32: 4, 64: 5, 128: 6}[size]  # depth follows the size
    assert not isinstance(d.features[1], nn.BatchNorm2d)  # no BN on D's first layer


def test_dcgan_defaults_and_projection():
    assert n_params(DCGANGenerator()) == 3_576_704
    assert n_params(DCGANDiscriminator()) == 2_765_633
    d = DCGANDiscriminator(ndf=8, image_size=32, n_classes=3).eval()
    x, y = rand(2, 3, 32, 32), torch.tensor([1, 2])
    phi = d.features(x)
    expected = d.out(phi).flatten() + (d.embed(y) * phi.flatten(1)).sum(1)
    assert torch.allclose(d(x, y), expected)
    with pytest.raises(ValueError, match="labels"):
        d(x)
    with pytest.raises(ValueError):
        DCGANGenerator(image_size=48)


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_dcgan_discriminator_for_wgan_gp(norm):
    d = DCGANDiscriminator(ndf=8, image_size=32, norm=norm)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    x = rand(4, 3, 32, 32)
    assert torch.allclose(d(x)[:2], d(x[:2]), atol=1e-5)  # per sample


# -- CycleGAN ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n_blocks", [6, 9])
def test_resnet_generator(n_blocks):
    net = ResnetGenerator(ngf=8, n_blocks=n_blocks)
    assert sum(isinstance(m, ResnetBlock) for m in net.modules()) == n_blocks
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in net.modules()) == 2
    y = net(rand(1, 3, 32, 40) * 2 - 1)
    assert y.shape == (1, 3, 32, 40) and float(y.detach().abs().max()) <= 1.0
    assert PatchDiscriminator(in_channels=3, ndf=8)(y).shape == (1, 1, 2, 3)


def test_resnet_generator_default_size():
    assert n_params(ResnetGenerator()) == 11_378_179


def test_resnet_generator_resize_convolution():
    """upsample="nearest": the same parameters as the transposed convolutions, no
    ConvTranspose2d, and no checkerboard: on a constant input, the upsampled feature maps
    of the inner (un-padded) region are constant, where the transposed convolution's
    uneven kernel overlap alternates from pixel to pixel."""
    torch.manual_seed(0)
    near = ResnetGenerator(ngf=8, n_blocks=2, upsample="nearest")
    assert n_params(near) == n_params(ResnetGenerator(ngf=8, n_blocks=2))
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in near.modules())
    x = torch.full((1, 3, 96, 96), 0.3)  # borders reach ~6 px into the 24 x 24 bottleneck
    y = near(x)
    assert y.shape == (1, 3, 96, 96) and float(y.detach().abs().max()) <= 1.0
    torch.manual_seed(0)
    trans = ResnetGenerator(ngf=8, n_blocks=2)

    def after_first_up(net, k):  # the output of the k-th module after the blocks
        h = x
        for i, m in enumerate(net.model):
            h = m(h)
            if i == k:
                return h[..., 16:-16, 16:-16].detach()

    up_near = [i for i, m in enumerate(near.model) if isinstance(m, nn.Upsample)][0]
    up_trans = [i for i, m in enumerate(trans.model) if isinstance(m, nn.ConvTranspose2d)][0]
    flat = after_first_up(near, up_near + 1)  # the 3x3 convolution after nearest x2
    checker = after_first_up(trans, up_trans)
    assert float(flat.std(dim=(-2, -1)).max()) < 1e-5
    assert float(checker.std(dim=(-2, -1)).max()) > 1e-3
    with pytest.raises(ValueError, match="upsample"):
        ResnetGenerator(upsample="bilinear")


def test_resnet_generator_affine_colour_head():
    """head="affine": the last convolution predicts a colour matrix and bias per pixel, which
    transform the input's own colours: with zero coefficients the output is tanh(input); with
    only the bias channels set it adds that bias; with A = -0.5 I it halves the input."""
    net = ResnetGenerator(ngf=8, n_blocks=1, upsample="nearest", head="affine")
    last = net.model[-1]
    assert isinstance(last, nn.Conv2d) and last.out_channels == 12
    rgb = ResnetGenerator(ngf=8, n_blocks=1, upsample="nearest")
    assert n_params(net) - n_params(rgb) == 9 * (8 * 49 + 1)  # 9 more output maps
    x = rand(2, 3, 16, 20) * 2 - 1
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        assert torch.allclose(net(x), torch.tanh(x), atol=1e-6)
        last.bias[3::4] = torch.tensor([0.1, -0.2, 0.3])  # k = i * 4 + 3: the biases
        bias = torch.tensor([0.1, -0.2, 0.3]).view(1, 3, 1, 1)
        assert torch.allclose(net(x), torch.tanh(x + bias), atol=1e-6)
        last.bias.zero_()
        last.bias[[0, 5, 10]] = -0.5  # the diagonal of A
        assert torch.allclose(net(x), torch.tanh(0.5 * x), atol=1e-6)
    with pytest.raises(ValueError, match="head"):
        ResnetGenerator(head="rgba")


def test_image_pool():
    pool = ImagePool(size=50, generator=torch.Generator().manual_seed(0))
    batches = [torch.full((5, 1, 2, 2), float(i)) for i in range(30)]
    for b in batches[:10]:  # filling: returns the input
        assert torch.equal(pool.query(b), b)
    assert len(pool) == 50
    mixed = [pool.query(b) for b in batches[10:]]
    assert len(pool) == 50  # never more than size
    old = sum(int((m[:, 0, 0, 0] != float(i + 10)).sum()) for i, m in enumerate(mixed))
    assert 0.3 < old / (20 * 5) < 0.7  # about half come from the history
    assert all(float(m.min()) >= 0 and m.shape == (5, 1, 2, 2) for m in mixed)
    # deterministic given the generator
    again = ImagePool(50, torch.Generator().manual_seed(0))
    for b in batches[:10]:
        again(b)
    assert all(torch.equal(again(b), m) for b, m in zip(batches[10:], mixed))
    assert torch.equal(ImagePool(0)(batches[3]), batches[3])
    x = torch.ones(2, 1, 2, 2, requires_grad=True)
    assert not ImagePool(4)(x * 2).requires_grad  # stored detached


# -- TransformerNet ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(64, 64), (37, 45)])
def test_transformer_net_keeps_the_size(size):
    net = TransformerNet(width=8, n_blocks=2)
    assert net(rand(1, 3, *size)).shape == (1, 3, *size)


def test_transformer_net_defaults():
    net = TransformerNet()
    assert n_params(net) == 1_679_235
    assert sum(isinstance(m, nn.InstanceNorm2d) and m.affine for m in net.modules()) == 15
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in net.modules()) == 16
