"""The PyTorch backend's networks (artforge_torch.nets): shapes at every supported size,
parameter counts against the reference implementations, the PatchGAN's receptive field,
VGG19 weight loading, the random feature network, initialisation and a tiny fit."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from artforge_torch import nets  # noqa: E402
from artforge_torch.nets import features as feat  # noqa: E402


def rand(*shape, seed=0, lo=-1.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


# -- parameter counts at the default settings ------------------------------------------------------
# The reference code prints 54.414 M (unet_256), 11.378 M (resnet_9blocks) and 2.765 M
# (basic PatchGAN on 3 channels); pytorch/examples' DCGAN-64 G and fast_neural_style net
# (its DCGAN D has no biases: 65 fewer than here, where no norm follows the conv).
@pytest.mark.parametrize(
    "build, count",
    [
        (lambda: nets.UNetGenerator(), 54_413_955),
        (lambda: nets.PatchDiscriminator(), 2_768_705),
        (lambda: nets.PatchDiscriminator(in_channels=3), 2_765_633),
        (lambda: nets.DCGANGenerator(), 3_576_704),
        (lambda: nets.DCGANDiscriminator(), 2_765_633),
        (lambda: nets.ResnetGenerator(), 11_378_179),
        (lambda: nets.ResnetGenerator(n_blocks=6), 7_837_699),
        (lambda: nets.ESPCN(scale=2), 26_796),
        (lambda: nets.SRResNet(scale=4), 1_549_462),
        (lambda: nets.TransformerNet(), 1_679_235),
    ],
)
def test_parameter_counts_match_the_reference_architectures(build, count):
    assert nets.count_parameters(build()) == count


# -- pix2pix ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [16, 32, 64, 128, 256, 512])
def test_unet_depth_follows_the_image_size(size):
    net = nets.UNetGenerator(image_size=size, ngf=8 if size >= 128 else 16)
    downs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(downs) == int(math.log2(size)) == net.downs
    x = rand(1, 3, size, size)
    y = net(x)
    assert y.shape == x.shape
    assert float(y.detach().abs().max()) <= 1.0  # Tanh


def test_unet_dropout_and_channels_as_in_the_paper():
    net = nets.UNetGenerator(image_size=256, ngf=8)
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3  # CD512 x 3
    assert (
        sum(isinstance(m, nn.Dropout) for m in nets.UNetGenerator(image_size=32, ngf=8).modules())
        == 0
    )
    no_drop = nets.UNetGenerator(image_size=256, ngf=8, dropout=False)
    assert not any(isinstance(m, nn.Dropout) for m in no_drop.modules())
    downs = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert downs == [8, 16, 32, 64, 64, 64, 64, 64]  # C64-C128-C256-C512-C512-C512-C512-C512
    y = nets.UNetGenerator(in_channels=1, out_channels=2, image_size=16, ngf=8)(rand(2, 1, 32, 48))
    assert y.shape == (2, 2, 32, 48)  # any multiple of 2**downs


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_unet_norms(norm):
    net = nets.UNetGenerator(image_size=16, ngf=8, norm=norm)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert net(rand(1, 3, 16, 16)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("size", [0, 8, 100, 2048])
def test_unet_rejects_unsupported_sizes(size):
    with pytest.raises(ValueError, match="power of two"):
        nets.UNetGenerator(image_size=size)
    with pytest.raises(ValueError, match="unknown norm"):
        nets.UNetGenerator(image_size=16, norm="group")


def test_patchgan_output_grid_and_receptive_field():
    d = nets.PatchDiscriminator(in_channels=6, ndf=8)
    assert d(rand(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert nets.receptive_field(3) == 70
    assert nets.receptive_field(1) == 16 and nets.receptive_field(5) == 286
    sn = nets.PatchDiscriminator(in_channels=3, ndf=8, spectral_norm=True, norm="instance")
    assert sn(rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)


@pytest.mark.parametrize("n_layers", [1, 3])
def test_patchgan_receptive_field_measured(n_layers):
    """The input pixels that one output logit depends on span exactly receptive_field()."""
    torch.manual_seed(0)
    d = nets.PatchDiscriminator(in_channels=3, ndf=4, n_layers=n_layers, norm="none")
    x = rand(1, 3, 128, 128).requires_grad_(True)
    out = d(x)
    i, j = out.shape[-2] // 2, out.shape[-1] // 2
    (g,) = torch.autograd.grad(out[0, 0, i, j], x)
    rows = torch.nonzero(g.abs().sum((0, 1, 3)))
    cols = torch.nonzero(g.abs().sum((0, 1, 2)))
    rf = nets.receptive_field(n_layers)
    assert int(rows.max() - rows.min()) + 1 == rf
    assert int(cols.max() - cols.min()) + 1 == rf


# -- DCGAN -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_dcgan_shapes(size, n_classes):
    g = nets.DCGANGenerator(nz=16, ngf=8, image_size=size, n_classes=n_classes)
    d = nets.DCGANDiscriminator(ndf=8, image_size=size, n_classes=n_classes)
    z = torch.randn(3, 16)
    y = torch.tensor([0, 4, 9]) if n_classes else None
    img = g(z, y)
    assert img.shape == (3, 3, size, size) and float(img.detach().abs().max()) <= 1.0
    assert torch.equal(g(z[:, :, None, None], y), img)  # z as (N, nz, 1, 1) too
    assert d(img, y).shape == (3,)
    # depth follows the size: 4 -> size by doublings; the 4 x 4 seed is ngf * size/8 wide
    ups = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == int(math.log2(size)) - 1 and ups[0].out_channels == 8 * size // 8


def test_dcgan_conditional_needs_labels_and_uses_projection():
    g = nets.DCGANGenerator(nz=8, ngf=8, image_size=32, n_classes=3)
    d = nets.DCGANDiscriminator(ndf=8, image_size=32, n_classes=3).eval()
    with pytest.raises(ValueError, match="labels"):
        g(torch.randn(2, 8))
    x = rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="labels"):
        d(x)
    y = torch.tensor([1, 2])
    h = d.features(x).flatten(1)
    expected = d.out(d.features(x)).flatten() + (d.embed(y) * h).sum(1)
    assert torch.allclose(d(x, y), expected)
    assert not torch.allclose(d(x, torch.tensor([0, 0])), d(x, y))
    assert g.embed.num_embeddings == 3 and g.main[0].in_channels == 16  # z + embedding


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_dcgan_discriminator_without_batchnorm_for_wgan_gp(norm):
    d = nets.DCGANDiscriminator(ndf=8, image_size=32, norm=norm, n_classes=4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    real, fake, y = rand(4, 3, 32, 32, seed=1), rand(4, 3, 32, 32, seed=2), torch.arange(4)
    # per-sample: one sample's logit does not depend on the others
    assert torch.allclose(d(real, y)[:2], d(real[:2], y[:2]), atol=1e-5)
    gp = nets.gradient_penalty(d, real, fake, y)
    assert torch.isfinite(gp) and gp > 0
    gp.backward()
    assert all(p.grad is not None for p in d.features.parameters())
    with pytest.raises(ValueError):
        nets.DCGANDiscriminator(image_size=48)


# -- CycleGAN ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n_blocks", [6, 9])
def test_resnet_generator(n_blocks):
    from artforge_torch.nets.cyclegan import ResnetBlock

    net = nets.ResnetGenerator(ngf=8, n_blocks=n_blocks)
    assert sum(isinstance(m, ResnetBlock) for m in net.modules()) == n_blocks
    assert any(isinstance(m, nn.ReflectionPad2d) for m in net.modules())
    assert any(isinstance(m, nn.InstanceNorm2d) for m in net.modules())
    y = net(rand(2, 3, 32, 48))
    assert y.shape == (2, 3, 32, 48) and float(y.detach().abs().max()) <= 1.0
    d = nets.PatchDiscriminator(in_channels=3, ndf=8)  # CycleGAN's D: unconditional
    assert d(y).shape == (2, 1, 2, 4)


# -- super-resolution ----------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sr_networks_upscale(scale):
    x = rand(2, 3, 11, 7, lo=0.0)
    espcn = nets.ESPCN(scale=scale)
    assert espcn(x).shape == (2, 3, 11 * scale, 7 * scale)
    sr = nets.SRResNet(scale=scale, features=16, n_blocks=2)
    assert sr(x).shape == (2, 3, 11 * scale, 7 * scale)
    shuffles = [m.upscale_factor for m in sr.modules() if isinstance(m, nn.PixelShuffle)]
    assert shuffles == {2: [2], 3: [3], 4: [2, 2]}[scale]
    assert nets.ESPCN(scale=scale, **espcn.config).config == espcn.config
    assert nets.SRResNet(scale=scale, **sr.config).config == sr.config


def test_sr_defaults_and_discriminator():
    sr = nets.SRResNet()
    assert sr.scale == 4 and sum(isinstance(m, nn.BatchNorm2d) for m in sr.modules()) == 33
    assert sr.head[0].kernel_size == (9, 9) and sr.tail.kernel_size == (9, 9)
    assert [m.out_channels for m in nets.ESPCN(3).modules() if isinstance(m, nn.Conv2d)] == [
        64,
        32,
        27,
    ]
    d = nets.SRDiscriminator(features=8)
    assert d(rand(2, 3, 96, 96, lo=0.0)).shape == (2,)
    assert d(rand(2, 3, 64, 64, lo=0.0)).shape == (2,)  # other sizes are pooled to 6 x 6
    with pytest.raises(ValueError, match="scale"):
        nets.ESPCN(scale=5)


# -- feed-forward style ------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(32, 32), (37, 45), (21, 16)])
def test_transformer_net_keeps_any_size(size):
    net = nets.TransformerNet(width=8, n_blocks=2)
    assert net(rand(1, 3, *size, lo=0.0)).shape == (1, 3, *size)
    assert nets.TransformerNet(**net.config).config == {"width": 8, "n_blocks": 2, "channels": 3}
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in nets.TransformerNet().modules()) == 15


# -- VGG19 ---------------------------------------------------------------------------------------
VGG19_CONV = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def torchvision_vgg19_state_dict(seed=0) -> dict:
    """Random tensors with the keys and shapes of torchvision's vgg19-dcbbb9e9.pth."""
    g = torch.Generator().manual_seed(seed)
    sd, cin = {}, 3
    widths = [64, 64, 128, 128] + [256] * 4 + [512] * 8
    for i, cout in zip(VGG19_CONV, widths):
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g)
        sd[f"features.{i}.bias"] = torch.randn(cout, generator=g)
        cin = cout
    sd["classifier.0.weight"] = torch.randn(16, 8, generator=g)  # (4096, 25088) in the real one
    sd["classifier.0.bias"] = torch.randn(16, generator=g)
    sd["classifier.6.bias"] = torch.randn(10, generator=g)
    return sd


def test_vgg19_features_have_torchvisions_layout():
    net = feat.VGG19Features()
    sd = net.state_dict()
    expected = torchvision_vgg19_state_dict()
    assert list(sd) == [k for k in expected if k.startswith("features.")]
    assert all(sd[k].shape == expected[k].shape for k in sd)
    assert len(net.features) == 37 and isinstance(net.features[36], nn.MaxPool2d)
    assert feat.VGG19_LAYERS["conv1_1"] == 0 and feat.VGG19_LAYERS["relu1_1"] == 1
    assert feat.VGG19_LAYERS["conv4_2"] == 21 and feat.VGG19_LAYERS["conv5_1"] == 28
    assert feat.VGG19_LAYERS["conv5_4"] == 34 and feat.VGG19_LAYERS["pool5"] == 36
    assert feat.VGG19Features.DEFAULT_CONTENT_LAYERS == ["conv4_2"]
    assert feat.DEFAULT_STYLE_LAYERS == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]


def test_load_vgg19_weights_from_a_torchvision_file(tmp_path):
    sd = torchvision_vgg19_state_dict()
    path = tmp_path / "vgg19-dcbbb9e9.pth"
    torch.save(sd, path)
    net = feat.load_vgg19_weights(feat.VGG19Features(), path)
    for k, v in net.state_dict().items():
        assert torch.equal(v, sd[k]), k
    # into the bare Sequential as well
    seq = feat.VGG19Features().features
    feat.load_vgg19_weights(seq, path)
    assert torch.equal(seq[34].bias, sd["features.34.bias"])


def test_load_vgg19_weights_from_features_only_safetensors(tmp_path):
    from safetensors.torch import save_file

    sd = {k: v for k, v in torchvision_vgg19_state_dict(1).items() if k.startswith("features.")}
    path = tmp_path / "vgg19.safetensors"
    save_file(sd, str(path))
    net = feat.load_vgg19_weights(feat.VGG19Features(), path)
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items())
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(RuntimeError):
        feat.load_vgg19_weights(feat.VGG19Features(), bad)


def test_find_vgg19_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(feat.WEIGHTS_ENV, raising=False)
    assert feat.find_vgg19_weights() is None
    assert feat.find_vgg19_weights(tmp_path / "missing.pth") is None
    cached = tmp_path / "hub" / "checkpoints" / "vgg19-dcbbb9e9.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert feat.find_vgg19_weights() == cached
    env = tmp_path / "env.safetensors"
    env.write_bytes(b"x")
    monkeypatch.setenv(feat.WEIGHTS_ENV, str(env))
    assert feat.find_vgg19_weights() == env
    given = tmp_path / "given.pth"
    given.write_bytes(b"x")
    assert feat.find_vgg19_weights(given) == given


def test_vgg19_forward_names_and_normalisation():
    torch.manual_seed(0)
    net = feat.VGG19Features(layers=["conv1_1", "relu1_1", "conv2_1", "conv4_2"]).eval()
    x = rand(2, 3, 32, 32, lo=0.0)
    out = net(x)
    assert list(out) == ["conv1_1", "relu1_1", "conv2_1", "conv4_2"]
    assert out["conv1_1"].shape == (2, 64, 32, 32) and out["conv2_1"].shape == (2, 128, 16, 16)
    assert out["conv4_2"].shape == (2, 512, 4, 4)
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))  # conv = before the ReLU
    assert list(net(x, ["pool1"])) == ["pool1"]
    # the ImageNet mean image is zero after normalisation: conv1_1 answers with its bias
    mean = torch.tensor(feat.IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    bias = net.features[0].bias.view(1, -1, 1, 1).expand(1, 64, 8, 8)
    assert torch.allclose(net(mean, ["conv1_1"])["conv1_1"], bias, atol=1e-6)
    with pytest.raises(KeyError, match="conv9_9"):
        net(x, ["conv9_9"])


# -- random multi-scale features -----------------------------------------------------------------
def test_random_multiscale_features():
    net = feat.RandomMultiScaleFeatures(seed=3)
    assert nets.count_parameters(net) == 0  # weight-free: the filters are buffers
    names = [f"scale{k}" for k in (3, 5, 7, 11, 15, 23, 37, 55)]
    assert names == net.LAYERS
    assert set(net.DEFAULT_CONTENT_LAYERS) <= set(net.LAYERS)
    assert set(net.DEFAULT_STYLE_LAYERS) <= set(net.LAYERS)
    x = rand(2, 3, 32, 32, lo=0.0)
    out = net(x)
    assert list(out) == net.LAYERS
    assert all(f.shape[:2] == (2, 64) and float(f.min()) >= 0 for f in out.values())
    assert out["scale3"].shape[-2:] == (32, 32) and out["scale55"].shape[-2:] == (4, 4)
    again = feat.RandomMultiScaleFeatures(seed=3)(x, ["scale7"])["scale7"]
    assert torch.equal(again, out["scale7"])  # deterministic by seed
    other = feat.RandomMultiScaleFeatures(seed=4)(x, ["scale7"])["scale7"]
    assert not torch.allclose(other, out["scale7"])
    small = feat.RandomMultiScaleFeatures(scales=(3, 9), filters=8)
    assert small.LAYERS == ["scale3", "scale9"] and small(x)["scale9"].shape == (2, 8, 16, 16)
    with pytest.raises(KeyError):
        net(x, ["conv4_2"])


# -- initialisation and a tiny fit -----------------------------------------------------------------
def test_init_weights_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 128, 4), nn.BatchNorm2d(128), nn.ConvTranspose2d(128, 64, 4))
    assert nets.init_weights(net) is net
    p = {k: v.detach() for k, v in net.named_parameters()}
    w = torch.cat([p["0.weight"].flatten(), p["2.weight"].flatten()])
    assert abs(float(w.mean())) < 1e-3 and float(w.std()) == pytest.approx(0.02, rel=0.02)
    assert float(p["1.weight"].mean()) == pytest.approx(1.0, abs=0.01)
    assert float(p["1.weight"].std()) == pytest.approx(0.02, rel=0.3)
    assert float(p["1.bias"].abs().max()) == 0 and float(p["2.bias"].abs().max()) == 0
    d = nets.init_weights(nets.DCGANDiscriminator(ndf=8, image_size=32, spectral_norm=True))
    assert float(d.features[0].weight_orig.detach().std()) == pytest.approx(0.02, rel=0.2)
    for kind in ("xavier", "kaiming", "orthogonal"):
        nets.init_weights(net, kind=kind)
        assert 0 < float(net[0].weight.detach().std()) < 1
    with pytest.raises(ValueError, match="unknown init"):
        nets.init_weights(net, kind="uniform")


def test_a_few_adam_steps_lower_the_unet_l1_loss():
    torch.manual_seed(0)
    net = nets.init_weights(nets.UNetGenerator(image_size=16, ngf=8, dropout=False))
    a = rand(4, 3, 16, 16, seed=1)
    b = -0.8 * a  # a scaled negative: reachable through the skip connections
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999))
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.l1_loss(net(a), b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]  # about 0.68 with this seed
