"""Super-resolution networks (artforge_torch.nets.sr): shapes, layouts, the [0, 1] range."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from artforge_torch.nets.sr import ESPCN, SRDiscriminator, SRResNet  # noqa: E402


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def lowres(n=2, h=11, w=7, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_espcn_upscales(scale):
    net = ESPCN(scale=scale, features=16)
    y = net(lowres())
    assert y.shape == (2, 3, 11 * scale, 7 * scale)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 3, 3]
    assert convs[-1].out_channels == 3 * scale * scale
    assert sum(isinstance(m, nn.Tanh) for m in net.modules()) == 2


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srresnet_upscales(scale):
    net = SRResNet(scale=scale, features=16, n_blocks=2).eval()
    y = net(lowres())
    assert y.shape == (2, 3, 11 * scale, 7 * scale)
    shuffles = [m.upscale_factor for m in net.modules() if isinstance(m, nn.PixelShuffle)]
    assert shuffles == {2: [2], 3: [3], 4: [2, 2]}[scale]


def test_sr_defaults_as_in_the_papers():
    espcn = ESPCN()
    assert espcn.scale == 2
    assert [m.out_channels for m in espcn.modules() if isinstance(m, nn.Conv2d)] == [64, 32, 12]
    assert n_params(espcn) == 26_796
    sr = SRResNet()
    assert sr.scale == 4
    assert sr.head[0].kernel_size == (9, 9) and sr.tail.kernel_size == (9, 9)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in sr.modules()) == 2 * 16 + 1
    assert sum(isinstance(m, nn.PReLU) for m in sr.modules()) == 1 + 16 + 2
    assert n_params(sr) == 1_549_462
    with pytest.raises(ValueError, match="scale"):
        ESPCN(scale=5)
    with pytest.raises(ValueError, match="scale"):
        SRResNet(scale=8)


def test_sr_discriminator_logits():
    d = SRDiscriminator(features=8)
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 7  # not on the first
    assert d(lowres(2, 96, 96)).shape == (2,)
    assert d(lowres(3, 40, 56)).shape == (3,)  # any size: average-pooled before the dense
    assert d.classifier[1].out_features == 1024 and d.classifier[-1].out_features == 1
