"""The Keras stylize and super-resolve steps: losses and optimiser against the PyTorch
backend, VGG19 weight loading (Keras' and torchvision's formats, without torch), tiled
inference, checkpoints across backends, and tiny end-to-end runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")

from artforge.cli import main  # noqa: E402
from artforge_keras.nets import features as kfeat  # noqa: E402


def _images(h=32, w=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx), np.cos(5 * yy), xx * yy], -1) * 0.4 + 0.5
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)[None]


# -- optimiser -----------------------------------------------------------------------------------
def test_lbfgs_takes_pytorchs_steps():
    """The L-BFGS port and torch.optim.LBFGS (no line search, history 100) visit the same
    points of a non-convex function."""
    torch = pytest.importorskip("torch")
    from artforge_keras.style.gatys import LBFGS

    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 30))

    def f(x):
        r = A @ x
        return float(np.sum(np.log1p(r**2)) + 0.1 * x @ x), A.T @ (2 * r / (1 + r**2)) + 0.2 * x

    x0 = rng.standard_normal(30)
    ours = []
    LBFGS(1.0).run(x0.copy(), lambda x: (ours.append(f(x)[0]), f(x))[1], 12)
    xt = torch.tensor(x0.copy(), requires_grad=True)
    opt = torch.optim.LBFGS(
        [xt],
        lr=1,
        max_iter=12,
        max_eval=12,
        history_size=100,
        tolerance_grad=-1,
        tolerance_change=-1,
    )
    theirs = []

    def closure():
        loss, g = f(xt.detach().numpy())
        xt.grad = torch.from_numpy(g)
        theirs.append(loss)
        return torch.tensor(loss)

    opt.step(closure)
    assert len(ours) == len(theirs) == 12
    np.testing.assert_allclose(ours[:8], theirs[:8], rtol=1e-9)


@pytest.mark.slow
def test_gatys_follows_the_torch_optimiser_with_the_same_filters():
    torch = pytest.importorskip("torch")
    from artforge_keras.style.gatys import GatysOptimiser as KG
    from artforge_keras.style.loss_net import LossNetwork as KL
    from artforge_torch.nets.features import RandomMultiScaleFeatures as TFeat
    from artforge_torch.style.gatys import GatysOptimiser as TG
    from artforge_torch.style.loss_net import LossNetwork as TL

    content, style = _images(40, 40, 0), _images(40, 40, 1)[:, ::-1]
    t = TFeat(seed=0, filters=8).eval()
    k = kfeat.RandomMultiScaleFeatures(seed=0, filters=8)
    k.set_filters({n: b.numpy() for n, b in t.named_buffers() if n.startswith("w")})
    tl = TL(t, t.DEFAULT_CONTENT_LAYERS, t.DEFAULT_STYLE_LAYERS, "random", "")
    kl = KL(k, k.DEFAULT_CONTENT_LAYERS, k.DEFAULT_STYLE_LAYERS, "random", "")

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))

    th, kh = [], []
    rt = TG(tl, steps=12, scales=1).stylize(
        nchw(content), nchw(style), lambda n, lv, L: th.append(L.total)
    )
    rk = KG(kl, steps=12, scales=1).stylize(content, style, lambda n, lv, L: kh.append(L.total))
    np.testing.assert_allclose(kh[:6], th[:6], rtol=5e-3)  # float32 rounding grows slowly
    assert rk.reference.total == pytest.approx(rt.reference.total, rel=1e-5)
    assert rk.final.total == pytest.approx(rt.final.total, rel=2e-2)
    assert rk.style_loss_drop > 0.5 and 0 < rk.final.content <= rk.content_bound
    assert rk.image.min() >= 0 and rk.image.max() <= 1 and rk.image.shape == content.shape


def test_colour_preservation_keeps_the_content_chrominance():
    from artforge_keras.style import color
    from artforge_keras.style.gatys import GatysOptimiser
    from artforge_keras.style.loss_net import LossNetwork

    net = kfeat.RandomMultiScaleFeatures(seed=0, filters=8)
    ln = LossNetwork(net, net.DEFAULT_CONTENT_LAYERS, net.DEFAULT_STYLE_LAYERS, "random", "")
    content, style = _images(32, 32, 0), _images(32, 32, 5)
    res = GatysOptimiser(ln, steps=5, preserve_color=True).stylize(content, style)
    inside = np.all((res.image > 0.01) & (res.image < 0.99), axis=-1)
    assert inside.mean() > 0.8
    out, yiq = color.rgb_to_yiq(res.image), color.rgb_to_yiq(content)
    assert np.abs(out[..., 1:] - yiq[..., 1:])[inside].max() < 1e-4
    assert np.abs(out[..., :1] - yiq[..., :1]).mean() > 1e-3


# -- VGG19 weights ----------------------------------------------------------------------------------
def _torchvision_state(depth_layer: str, seed=0) -> dict[str, np.ndarray]:
    """torchvision-layout tensors for the convs up to ``depth_layer`` (a truncated file)."""
    rng = np.random.default_rng(seed)
    last = kfeat.VGG19_LAYERS[depth_layer]
    state, cin = {}, 3
    i = 0
    for v in kfeat.VGG19_CFG:
        if i > last:
            break
        if v == "M":
            i += 1
            continue
        state[f"features.{i}.weight"] = (rng.standard_normal((v, cin, 3, 3)) * 0.1).astype(
            "float32"
        )
        state[f"features.{i}.bias"] = (rng.standard_normal(v) * 0.1).astype("float32")
        cin, i = v, i + 2
    state["classifier.0.weight"] = np.zeros((2, 2), "float32")  # dropped
    return state


def test_vgg19_from_torchvision_safetensors_and_pth_without_torch(tmp_path):
    from safetensors.numpy import save_file

    state = _torchvision_state("conv2_1")
    save_file(state, str(tmp_path / "vgg.safetensors"))
    net = kfeat.VGG19Features(layers=["conv1_1", "relu1_2", "conv2_1"])
    kfeat.load_vgg19_weights(net, tmp_path / "vgg.safetensors")
    assert net.preprocess == "torch"
    np.testing.assert_array_equal(
        net.get_layer("features.5").kernel.numpy(),
        state["features.5.weight"].transpose(2, 3, 1, 0),
    )
    x = _images(16, 16)
    want = ((x - np.array(kfeat.IMAGENET_MEAN)) / np.array(kfeat.IMAGENET_STD)).astype("float32")
    w0 = state["features.0.weight"].transpose(2, 3, 1, 0)
    pad = np.pad(want, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = sum(
        np.einsum("nhwc,cd->nhwd", pad[:, dy : dy + 16, dx : dx + 16], w0[dy, dx])
        for dy in range(3)
        for dx in range(3)
    )
    np.testing.assert_allclose(net(x)["conv1_1"], conv + state["features.0.bias"], atol=1e-4)
    torch = pytest.importorskip("torch")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "vgg.pth")
    read = kfeat.read_torch_file(tmp_path / "vgg.pth")  # our reader: no torch involved
    assert set(read) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(read[k], v)
    net2 = kfeat.VGG19Features(layers=["conv2_1"])
    kfeat.load_vgg19_weights(net2, tmp_path / "vgg.pth")
    np.testing.assert_array_equal(net2(x)["conv2_1"], net(x)["conv2_1"])


def test_torch_file_reader_refuses_code(tmp_path):
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with zipfile.ZipFile(tmp_path / "evil.pth", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        kfeat.read_torch_file(tmp_path / "evil.pth")


def test_wrong_vgg_file_is_a_clear_error(tmp_path):
    from safetensors.numpy import save_file

    save_file(
        {"features.0.weight": np.zeros((3, 3, 3, 3), "float32")}, str(tmp_path / "x.safetensors")
    )
    net = kfeat.VGG19Features(layers=["conv1_1"])
    with pytest.raises(ValueError, match="not torchvision's vgg19"):
        kfeat.load_vgg19_weights(net, tmp_path / "x.safetensors")


@pytest.mark.slow
def test_vgg19_from_a_keras_applications_file_uses_caffe_preprocessing(tmp_path):
    """A VGG19 weight file in Keras' format (as keras.applications writes and reads it) is
    loaded through keras.applications.VGG19; the features then equal Keras' own model on
    Caffe-preprocessed input."""
    import keras

    app = keras.applications.VGG19(include_top=False, weights=None)
    path = tmp_path / "vgg19_notop.weights.h5"
    app.save_weights(path)
    net = kfeat.VGG19Features(layers=["relu1_1", "relu3_1"])
    kfeat.load_vgg19_weights(net, path)
    assert net.preprocess == "caffe"
    x = _images(32, 32)
    probe = keras.Model(
        app.input, [app.get_layer(n).output for n in ("block1_conv1", "block3_conv1")]
    )
    want = probe(keras.applications.vgg19.preprocess_input(x * 255.0))
    got = net(x)
    for a, b in zip(want, (got["relu1_1"], got["relu3_1"])):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-3)
    assert kfeat.find_vgg19_weights(path) == path
    assert kfeat.find_vgg19_weights(None) is None or kfeat.find_vgg19_weights(None).is_file()


# -- super-resolution ------------------------------------------------------------------------------
def test_tiled_inference_equals_whole_image_inference():
    from artforge.sr_learned import tiled_forward
    from artforge_keras.backend import runtime
    from artforge_keras.gan_steps import inference_fn
    from artforge_keras.nets.sr import ESPCN, SRResNet
    from artforge_keras.sr.runtime import conv_radius

    x = _images(37, 29)
    for net in (ESPCN(scale=3), SRResNet(scale=2, features=8, n_blocks=2)):
        fn = inference_fn(net, runtime("cpu"))
        whole = fn(x)
        tiled = tiled_forward(fn, x, net.scale, 8, conv_radius(net))
        assert tiled.shape == whole.shape == (1, 37 * net.scale, 29 * net.scale, 3)
        np.testing.assert_allclose(tiled, whole, atol=1e-5)
        assert not np.allclose(tiled_forward(fn, x, net.scale, 8, 0), whole, atol=1e-5)


def _session(net, **kw):
    from artforge_keras.sr.runtime import Session

    return Session(
        net, **{"loss": "l1", "ema_decay": None, "perceptual": None, "weight": 0.0, **kw}
    )


def test_sr_training_lowers_the_loss_and_averages_the_weights():
    from artforge.sr_train import PairSampler, ema_decay_for, train_sr
    from artforge_keras.nets.sr import ESPCN

    img = (np.kron(np.random.default_rng(0).random((8, 8, 3)), np.ones((8, 8, 1))) * 255).astype(
        np.uint8
    )
    sampler = PairSampler([img], 2, 16, seed=0)
    net = ESPCN(scale=2, features=16)
    session = _session(net, ema_decay=ema_decay_for(60))
    res = train_sr(session, sampler, steps=60, batch_size=4, lr=3e-3, log_every=5)
    first, last = res.losses[0][1], res.losses[-1][1]
    assert res.steps == 60 and last < 0.7 * first
    # the network ends with the averaged weights, not the last step's
    averages = [session.opt._model_variables_moving_average[i] for i in range(2)]
    for v, a in zip(net.trainable_variables[:2], averages):
        np.testing.assert_array_equal(np.asarray(v), np.asarray(a))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_sr_training_under_a_mixed_precision_policy(policy):
    import keras

    from artforge.sr_train import PairSampler, train_sr
    from artforge_keras.nets.sr import ESPCN

    img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    keras.config.set_dtype_policy(policy)
    try:
        net = ESPCN(scale=2, features=8)
        sampler = PairSampler([img], 2, 16, seed=0)
        res = train_sr(_session(net), sampler, steps=6, batch_size=2, log_every=2)
        assert res.steps == 6 and np.isfinite(res.final_loss)
        assert net.weights[0].dtype == "float32"
    finally:
        keras.config.set_dtype_policy("float32")


RECIPE = """name: tiny-sr
seed: 0
backend: keras
device: cpu
steps:
  - id: photos
    uses: images
    with: {skimage: [astronaut, chelsea], size: 48}
  - id: sr
    uses: super-resolve
    with: {images: '${photos.images}', mode: evaluate, method: espcn, scale: 2,
           train: '${photos.images}', steps: 40, batch_size: 4, patch_size: 24, tile: 12}
  - id: again
    uses: super-resolve
    with: {images: '${photos.images}', mode: evaluate, method: espcn, scale: 2, model: '${sr.model}'}
  - id: opt
    uses: stylize
    with: {images: '${photos.images}', style: 'builtin:ink', method: optimise, size: 32, steps: 6}
  - id: ff
    uses: stylize
    with: {images: '${photos.images}', style: 'builtin:ink', method: feed-forward, size: 40,
           steps: 4, train_size: 24, batch_size: 2, width: 8}
  - id: ff_again
    uses: stylize
    with: {images: '${photos.images}', style: 'builtin:ink', method: feed-forward, size: 40,
           model: '${ff.model}'}
  - id: patch
    uses: stylize
    with: {images: '${photos.images}', style: 'builtin:ink', method: patch, size: 32,
           options: {patch_sizes: [9], iterations: 1, scales: 2}}
gallery: {enabled: false}
"""


@pytest.mark.slow
def test_tiny_sr_and_style_runs(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "-q"]) == 0

    def rec(step):
        return json.loads((out / "steps" / step / "record.json").read_text())

    sr, again = rec("sr"), rec("again")
    assert {"y_psnr", "bicubic_y_psnr", "psnr_gain_db", "train_steps"} <= set(sr["metrics"])
    assert sr["outputs"]["model"]["meta"]["backend"] == "keras"
    assert sr["metrics"]["y_psnr"] == again["metrics"]["y_psnr"]  # tiled (12) == whole
    assert len(sr["series"]["loss"]) == 4 and set(sr["outputs"]) >= {"images", "lowres", "bicubic"}
    opt, ff, ff2 = rec("opt"), rec("ff"), rec("ff_again")
    assert opt["metrics"]["content_within_bound"] == 2 and opt["metrics"]["style_loss_drop"] > 0
    assert [x for x, _ in opt["series"]["style_loss"]] == list(range(1, 7))
    assert "random multi-scale" in opt["info"]["feature_network"]
    assert ff["outputs"]["model"]["meta"]["config"]["width"] == 8 and "model" not in ff2["outputs"]
    scored = {
        "texture_distance",
        "texture_distance_colour_baseline",
        "texture_beats_colour_baseline",
    }
    for r in (opt, ff, rec("patch")):  # every method scored beside the colour-only baseline
        assert scored <= set(r["metrics"]) and "baseline" in r["outputs"]
    assert "Elad & Milanfar" in rec("patch")["info"]["method"]
    a = sorted((out / "steps/ff/images").glob("*.png"))
    b = sorted((out / "steps/ff_again/images").glob("*.png"))
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_torch_trained_sr_checkpoint_runs_in_keras(tmp_path):
    """An ESPCN checkpoint written by the torch backend upscales identically in keras."""
    torch = pytest.importorskip("torch")
    from artforge.context import StepContext
    from artforge.schemas.sr import SuperResolveParams
    from artforge.sr_learned import Upscaler
    from artforge_keras.sr.runtime import KerasSRRuntime
    from artforge_torch.nets.sr import ESPCN
    from artforge_torch.style.util import save_safetensors

    net = ESPCN(scale=2, features=8).eval()
    meta = {
        "arch": "espcn",
        "method": "espcn",
        "scale": 2,
        "config": net.config,
        "backend": "torch",
    }
    save_safetensors(tmp_path / "sr.safetensors", net.state_dict(), meta)
    for d in ("step", "work"):
        (tmp_path / d).mkdir()
    ctx = StepContext(
        "s",
        "super-resolve",
        0,
        "keras",
        "cpu",
        tmp_path / "step",
        tmp_path / "work",
        tmp_path,
        tmp_path,
        lambda r: None,
        log=lambda m: None,
        quiet=True,
    )
    p = SuperResolveParams(
        images="${a.b}", method="espcn", scale=2, checkpoint="sr.safetensors", tile=None
    )
    lo = (np.random.default_rng(0).random((10, 14, 3)) * 255).astype(np.uint8)
    got = Upscaler(ctx, p, KerasSRRuntime(ctx)).run([lo], ["x"])[0]
    with torch.no_grad():
        y = net(torch.from_numpy(lo).permute(2, 0, 1)[None].float() / 255)
    want = (y[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert "torch backend" in ctx.info["weights"]


def test_sr_training_follows_the_torch_backend():
    """Same seed: the same patches (the core's pipeline), the same initial weights and the same
    loss curve (to float rounding and Adam's epsilon placement) on both backends."""
    pytest.importorskip("torch")
    import torch

    from artforge.sr_train import PairSampler, train_sr
    from artforge_keras.nets.sr import ESPCN as KESPCN
    from artforge_keras.nets.torch_random import torch_default_init
    from artforge_keras.sr.runtime import Session as KSession
    from artforge_torch.nets.sr import ESPCN as TESPCN
    from artforge_torch.sr.runtime import Session as TSession

    img = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    seen: dict[str, list] = {"torch": [], "keras": []}

    def spying(session, name):
        step = session.step

        def spy(lo, hi, lr):
            seen[name].append((lo.copy(), hi.copy(), lr))
            return step(lo, hi, lr)

        session.step = spy
        return session

    torch.manual_seed(5)
    tnet = TESPCN(scale=2, features=16)
    knet = torch_default_init(KESPCN(scale=2, features=16), 5)
    kw = {"loss": "l1", "ema_decay": None, "perceptual": None, "weight": 0.0}
    run = {"steps": 20, "batch_size": 4, "lr": 1e-3, "log_every": 1}
    rt = train_sr(spying(TSession(tnet, "cpu", **kw), "torch"), PairSampler([img], 2, 16, 3), **run)
    rk = train_sr(spying(KSession(knet, **kw), "keras"), PairSampler([img], 2, 16, 3), **run)
    assert len(seen["torch"]) == len(seen["keras"]) == 20
    for (tlo, thi, tlr), (klo, khi, klr) in zip(seen["torch"], seen["keras"]):
        np.testing.assert_array_equal(tlo, klo)  # the same crops, flips and degradation
        np.testing.assert_array_equal(thi, khi)
        assert tlr == klr
    assert not np.array_equal(seen["torch"][0][1], seen["torch"][1][1])  # batches differ
    np.testing.assert_allclose([v for _, v in rk.losses], [v for _, v in rt.losses], rtol=2e-3)
