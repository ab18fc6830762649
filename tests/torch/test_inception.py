"""The FID Inception-v3 (artforge_torch.nets.inception): pytorch-fid / torchvision key layout,
offline loading with clear errors, pool3 features and FID."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from artforge.api import DataError  # noqa: E402
from artforge.quality import frechet_distance  # noqa: E402
from artforge_torch.nets import inception as inc  # noqa: E402

FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
# (key, shape) pairs of pytorch-fid's weight file, one or two per kind of block
FID_KEYS = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_2b_3x3.conv.weight": (64, 32, 3, 3),
    "Conv2d_3b_1x1.conv.weight": (80, 64, 1, 1),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch3x3dbl_3.conv.weight": (96, 96, 3, 3),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.bn.bias": (192,),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


def scaled_random_state(variant: str = "fid", seed: int = 0) -> dict:
    """A state dict of the real architecture whose activations keep their scale (He-normal
    convolutions, unit BatchNorm), so features of different images differ clearly."""
    torch.manual_seed(seed)
    net = inc.FIDInceptionV3(variant)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net.state_dict()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The state dict and a pytorch-fid-named file holding it (~96 MB)."""
    sd = scaled_random_state()
    path = tmp_path_factory.mktemp("inception") / FID_FILE
    torch.save(sd, path)
    return sd, path


@pytest.fixture(scope="module")
def net(weights):
    return inc.load_inception(weights[1])


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    smooth = np.linspace(0, 255, 32)[None, :, None, None] * rng.uniform(0.2, 1, (4, 1, 1, 3))
    b = np.broadcast_to(smooth, (4, 32, 32, 3)).astype(np.uint8)
    return a, b


def test_layout_has_the_reference_keys_and_sizes():
    fid = inc.FIDInceptionV3("fid")
    sd = fid.state_dict()
    for key, shape in FID_KEYS.items():
        assert tuple(sd[key].shape) == shape, key
    # torchvision's inception_v3 without the auxiliary head has 23,834,568 parameters;
    # pytorch-fid's has 1008 instead of 1000 classes
    assert sum(p.numel() for p in fid.parameters()) == 23_834_568 + 8 * 2049
    tv = inc.FIDInceptionV3("torchvision")
    assert sum(p.numel() for p in tv.parameters()) == 23_834_568
    assert list(tv.state_dict()) == list(sd)
    assert all(
        m.conv.bias is None and m.bn.eps == 0.001
        for m in fid.modules()
        if isinstance(m, inc.BasicConv2d)
    )
    # the FID graph's pooling differs from torchvision's in exactly these blocks
    assert fid.Mixed_5b.tf_pool and fid.Mixed_6e.tf_pool and not tv.Mixed_5b.tf_pool
    assert (fid.Mixed_7b.pool, fid.Mixed_7c.pool, tv.Mixed_7c.pool) == ("tf", "max", "avg")
    with pytest.raises(ValueError, match="variant"):
        inc.FIDInceptionV3("keras")


def test_load_features_and_fid(weights, net, images):
    sd, path = weights
    assert net.variant == "fid" and net.weights_path == path and not net.training
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items())
    assert not any(p.requires_grad for p in net.parameters())
    a, b = images
    fa = inc.inception_features(a, net)
    assert fa.shape == (4, 2048) and fa.dtype == np.float64 and np.isfinite(fa).all()
    assert fa.std(axis=0).mean() > 1e-3  # the features differ between images
    # floats in [0, 1], a list and a batch split differently give the same features
    fl = inc.inception_features(list(a[1:3].astype(np.float32) / 255), net, batch_size=1)
    assert np.allclose(fl, fa[1:3], rtol=1e-4, atol=1e-5 * np.abs(fa).max())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inc.inception_features(a.astype(np.float32), net)  # 0..255 floats are not misread
    other = frechet_distance(fa, inc.inception_features(b, net))
    assert other > 0
    assert inc.fid(a[:2], a[:2], net) == pytest.approx(0.0, abs=1e-6 * other)
    # 299x299 inputs are used as they are; other sizes are resized bilinearly to 299
    x = torch.rand(1, 3, 299, 299)
    small = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    up = torch.nn.functional.interpolate(
        small, size=(299, 299), mode="bilinear", align_corners=False
    )
    with torch.no_grad():
        assert torch.allclose(net(small), net(up))
        assert net.logits(x).shape == (1, 1008)


def test_torchvision_file_with_aux_head_loads_as_the_torchvision_variant(tmp_path, weights):
    sd = scaled_random_state("torchvision", seed=1)
    sd["AuxLogits.conv0.conv.weight"] = torch.zeros(128, 768, 1, 1)  # ignored
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}  # older files
    path = tmp_path / "inception_v3_google-0cc3c7bd.pth"
    torch.save(sd, path)
    tv = inc.load_inception(path)
    assert tv.variant == "torchvision" and "torchvision" in tv.name
    assert torch.equal(
        tv.state_dict()["Mixed_7c.branch1x1.conv.weight"], sd["Mixed_7c.branch1x1.conv.weight"]
    )
    # same weights apart from fc: the FID variant's different pooling changes the features
    fid_net = inc.FIDInceptionV3("fid")
    shared = {k: v for k, v in sd.items() if not k.startswith(("fc.", "AuxLogits."))}
    fid_net.load_state_dict(shared, strict=False)
    fid_net.eval()
    x = torch.rand(1, 3, 299, 299)
    with torch.no_grad():
        assert not torch.allclose(fid_net(x), tv(x))


def test_finds_weights_without_downloading(tmp_path, monkeypatch, weights):
    def no_download(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(inc.WEIGHTS_ENV, raising=False)
    assert inc.find_inception_weights() is None
    with pytest.raises(DataError, match=r"no Inception weights.*ARTFORGE_INCEPTION_WEIGHTS") as err:
        inc.load_inception()
    assert FID_FILE in str(err.value) and str(hub / "checkpoints") in str(err.value)
    checkpoints = hub / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "inception_v3_google-0cc3c7bd.pth").write_bytes(b"x")
    assert inc.find_inception_weights() == checkpoints / "inception_v3_google-0cc3c7bd.pth"
    (checkpoints / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    assert inc.find_inception_weights() == checkpoints / FID_FILE  # FID weights first
    env = tmp_path / "env.pth"
    env.write_bytes(b"x")
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(env))
    assert inc.find_inception_weights() == env
    given = tmp_path / "given.pth"
    given.write_bytes(b"x")
    assert inc.find_inception_weights(given) == given
    with pytest.raises(DataError, match=r"not found: .*absent\.pth \(the given path\)"):
        inc.find_inception_weights(tmp_path / "absent.pth")
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(DataError, match=r"gone\.pth \(ARTFORGE_INCEPTION_WEIGHTS\)"):
        inc.find_inception_weights()
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(weights[1]))  # the real file through the variable
    assert inc.load_inception().variant == "fid"


def test_mismatched_files_give_clear_errors(tmp_path, weights):
    sd, path = weights
    model = inc.FIDInceptionV3("fid")
    partial = dict(sd)
    del partial["Mixed_6c.branch7x7_2.conv.weight"]
    with pytest.raises(
        DataError,
        match=r"f\.pth is not an Inception-v3 \(fid\) state dict: "
        r"missing key 'Mixed_6c\.branch7x7_2\.conv\.weight' \(1 missing\)",
    ):
        inc.load_inception_weights(model, partial, "f.pth")
    extra = dict(sd, **{"Mixed_8a.conv.weight": torch.zeros(1)})
    with pytest.raises(DataError, match=r"unexpected key 'Mixed_8a\.conv\.weight'"):
        inc.load_inception_weights(model, extra, "f.pth")
    # a misshaped file, through load_inception
    bad = dict(sd)
    bad["Mixed_5b.branch5x5_2.conv.weight"] = torch.zeros(64, 48, 3, 3)
    misshaped = tmp_path / "misshaped.pth"
    torch.save(bad, misshaped)
    with pytest.raises(
        DataError,
        match=r"misshaped\.pth .*'Mixed_5b\.branch5x5_2\.conv\.weight' has "
        r"shape \(64, 48, 3, 3\), expected \(64, 48, 5, 5\)",
    ):
        inc.load_inception(misshaped)
    wrong_fc = tmp_path / "classes.pth"
    torch.save({"fc.weight": torch.zeros(10, 2048)}, wrong_fc)
    with pytest.raises(DataError, match=r"classes\.pth .*'fc\.weight' has shape \(10, 2048\)"):
        inc.load_inception(wrong_fc)
    vgg = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, vgg)
    with pytest.raises(
        DataError, match=r"vgg\.pth is not an Inception-v3 state dict: missing key 'fc\.weight'"
    ):
        inc.load_inception(vgg)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: 1 << 20])
    with pytest.raises(DataError, match=r"cannot read Inception weights from .*truncated\.pth"):
        inc.load_inception(truncated)

    pickled = tmp_path / "pickled.pth"
    torch.save({"fc.weight": Fraction(1, 3)}, pickled)  # weights_only=True refuses other objects
    with pytest.raises(DataError, match="pickled.pth"):
        inc.load_inception(pickled)


def test_safetensors_file(tmp_path, weights):
    from safetensors.torch import save_file

    sd = {k: v for k, v in weights[0].items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "inception.safetensors"
    save_file({"module." + k: v.contiguous() for k, v in sd.items()}, str(path))  # DataParallel
    net = inc.load_inception(path)
    assert torch.equal(net.state_dict()["fc.weight"], sd["fc.weight"])
