"""Feature networks (artforge_torch.nets.features): the VGG19 layout, offline weight loading
and lookup, and the weight-free random multi-scale features."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from artforge_torch.nets import features as feat  # noqa: E402

CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
WIDTHS = [64, 64, 128, 128] + [256] * 4 + [512] * 8


def torchvision_state_dict(seed=0) -> dict:
    """Random tensors under the keys and shapes of torchvision's vgg19-dcbbb9e9.pth (with a
    few small stand-ins for its classifier)."""
    g = torch.Generator().manual_seed(seed)
    sd, cin = {}, 3
    for i, cout in zip(CONVS, WIDTHS):
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g)
        sd[f"features.{i}.bias"] = torch.randn(cout, generator=g)
        cin = cout
    sd["classifier.0.weight"] = torch.randn(8, 4, generator=g)
    sd["classifier.0.bias"] = torch.randn(8, generator=g)
    sd["classifier.6.weight"] = torch.randn(3, 8, generator=g)
    return sd


@pytest.fixture(scope="module")
def tv_sd():
    return torchvision_state_dict()


@pytest.fixture(scope="module")
def vgg():
    return feat.VGG19Features().eval()


def test_vgg19_layout(vgg):
    f = vgg.features
    assert len(f) == 37
    assert [i for i, m in enumerate(f) if isinstance(m, nn.Conv2d)] == CONVS
    assert [i for i, m in enumerate(f) if isinstance(m, nn.MaxPool2d)] == [4, 9, 18, 27, 36]
    assert all(isinstance(f[i + 1], nn.ReLU) and not f[i + 1].inplace for i in CONVS)
    assert list(vgg.state_dict()) == [
        f"features.{i}.{p}" for i in CONVS for p in ("weight", "bias")
    ]
    L = feat.VGG19_LAYERS
    assert (L["conv1_1"], L["relu1_2"], L["conv2_1"], L["conv4_2"], L["relu5_4"]) == (
        0,
        3,
        5,
        21,
        35,
    )
    assert vgg.DEFAULT_CONTENT_LAYERS == ["conv4_2"]
    assert vgg.DEFAULT_STYLE_LAYERS == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    assert isinstance(vgg.name, str) and "VGG19" in vgg.name
    avg = feat.VGG19Features(pool="avg")
    assert isinstance(avg.features[4], nn.AvgPool2d) and list(avg.state_dict()) == list(
        vgg.state_dict()
    )


def test_vgg19_layer_shapes(vgg):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    names = vgg.DEFAULT_STYLE_LAYERS + vgg.DEFAULT_CONTENT_LAYERS + ["relu4_2", "conv5_4"]
    with torch.no_grad():
        out = vgg(x, names)
    assert list(out) == names
    shapes = {k: tuple(v.shape[1:]) for k, v in out.items()}
    assert shapes["conv1_1"] == (64, 32, 32) and shapes["conv2_1"] == (128, 16, 16)
    assert shapes["conv3_1"] == (256, 8, 8) and shapes["conv4_1"] == (512, 4, 4)
    assert shapes["conv4_2"] == (512, 4, 4) and shapes["conv5_1"] == (512, 2, 2)
    # documented: convX_Y is the conv output before its ReLU, reluX_Y after it
    assert torch.equal(out["relu4_2"], out["conv4_2"].clamp(min=0))
    assert float(out["conv4_2"].min()) < 0
    # the forward pass stops at the deepest layer asked for
    calls = []
    hook = vgg.features[10].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        vgg(x, ["conv1_1", "relu2_2"])
    hook.remove()
    assert calls == []
    with pytest.raises(KeyError, match="conv6_1"):
        vgg(x, ["conv6_1"])


def test_load_full_torchvision_state_dict(tmp_path, tv_sd):
    sd = tv_sd
    path = tmp_path / "vgg19-dcbbb9e9.pth"
    torch.save(sd, path)
    net = feat.load_vgg19_weights(feat.VGG19Features(), path)
    state = net.state_dict()
    assert len(state) == 32
    assert all(torch.equal(v, sd[k]) for k, v in state.items())


def test_load_features_only_safetensors(tmp_path):
    from safetensors.torch import save_file

    sd = {k: v for k, v in torchvision_state_dict(1).items() if k.startswith("features.")}
    path = tmp_path / "vgg19.safetensors"
    save_file(sd, str(path))
    net = feat.load_vgg19_weights(feat.VGG19Features(), path)
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items())


def test_mismatched_file_gives_a_clear_error(tmp_path, tv_sd, vgg):
    net = vgg
    sd = dict(tv_sd)
    del sd["features.0.weight"]
    missing = tmp_path / "missing.pth"
    torch.save(sd, missing)
    with pytest.raises(ValueError, match=r"missing\.pth.*missing key 'features\.0\.weight'"):
        feat.load_vgg19_weights(net, missing)
    sd = dict(tv_sd)
    sd["features.3.weight"] = torch.zeros(1)
    extra = tmp_path / "extra.pth"
    torch.save(sd, extra)
    with pytest.raises(ValueError, match=r"extra\.pth.*unexpected key '3\.weight'"):
        feat.load_vgg19_weights(net, extra)
    sd = dict(tv_sd)
    sd["features.2.weight"] = torch.zeros(64, 3, 3, 3)
    shape = tmp_path / "shape.pth"
    torch.save(sd, shape)
    with pytest.raises(ValueError, match=r"shape\.pth.*features\.2\.weight"):
        feat.load_vgg19_weights(net, shape)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        feat.load_vgg19_weights(net, junk)


def test_find_vgg19_weights(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv("ARTFORGE_VGG19_WEIGHTS", raising=False)
    assert feat.find_vgg19_weights() is None
    assert feat.find_vgg19_weights(tmp_path / "absent.pth") is None
    cached = hub / "checkpoints" / "vgg19-dcbbb9e9.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert feat.find_vgg19_weights() == cached
    env = tmp_path / "env.safetensors"
    env.write_bytes(b"x")
    monkeypatch.setenv("ARTFORGE_VGG19_WEIGHTS", str(env))
    assert feat.find_vgg19_weights() == env
    given = tmp_path / "given.pth"
    given.write_bytes(b"x")
    assert feat.find_vgg19_weights(given) == given


def test_random_multiscale_features():
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    net = feat.RandomMultiScaleFeatures(seed=1)
    assert [f"scale{k}" for k in (3, 5, 7, 11, 15, 23, 37, 55)] == net.LAYERS
    assert net.DEFAULT_STYLE_LAYERS == net.LAYERS
    assert set(net.DEFAULT_CONTENT_LAYERS) < set(net.LAYERS)
    assert isinstance(net.name, str) and sum(p.numel() for p in net.parameters()) == 0
    for k in net.scales:  # zero-mean, unit-norm filters
        w = getattr(net, f"w{k}").flatten(1)
        assert torch.allclose(w.mean(1), torch.zeros(len(w)), atol=1e-6)
        assert torch.allclose(w.norm(dim=1), torch.ones(len(w)), atol=1e-5)
    out = net(x)
    assert list(out) == net.LAYERS and all(float(v.min()) >= 0 for v in out.values())
    assert out["scale3"].shape == (2, 64, 32, 32) and out["scale55"].shape[-1] < 32
    same = feat.RandomMultiScaleFeatures(seed=1)(x)
    assert all(torch.equal(same[k], out[k]) for k in out)  # deterministic by seed
    other = feat.RandomMultiScaleFeatures(seed=2)(x, ["scale7"])["scale7"]
    assert not torch.allclose(other, out["scale7"])
    assert torch.equal(net(x, ["scale_7"])["scale_7"], out["scale7"])  # alias
    with pytest.raises(KeyError):
        net(x, ["conv4_2"])


def test_random_features_are_fast_at_256():
    import time

    net = feat.RandomMultiScaleFeatures()
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        net(x)
        t = time.perf_counter()
        net(x)
    assert time.perf_counter() - t < 5.0  # about 0.4 s on one busy core
