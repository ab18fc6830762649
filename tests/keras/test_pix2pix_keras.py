"""The Keras pix2pix: the keras.Model GAN, trained by the driver, checkpoints (.weights.h5 with
the optimisers), resume, the divergence guard, and the train-gan/translate steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")

from artforge.errors import Diverged, StepError  # noqa: E402
from artforge.images import save_png  # noqa: E402
from artforge.schemas.gan import TrainGanParams  # noqa: E402
from artforge_keras.data import PairedData, paired_from_folder  # noqa: E402
from artforge_keras.pix2pix import Pix2PixTrainer  # noqa: E402
from artforge_keras.training import trainer as trainer_mod  # noqa: E402
from tests.helpers_gan import block_pairs, pix2pix_params, step_context  # noqa: E402


def _ctx(tmp_path, seed=0):
    return step_context(tmp_path, "keras", seed=seed)


def _data(n=8, size=16):
    a, b = block_pairs(n, size)
    return PairedData(a, b, size, size, flip=False)


_params = pix2pix_params


@pytest.mark.slow
def test_few_steps_reduce_l1(tmp_path):
    trainer = Pix2PixTrainer(
        _ctx(tmp_path), _params(lambda_l1=100, dropout=False, lr_g=1e-3), _data()
    )
    batch = trainer.data.batch(0, 0, 4)
    first = float(trainer.model.train_on_batch(batch, return_dict=True)["step_loss_L1"])
    for _ in range(25):
        last = float(trainer.model.train_on_batch(batch, return_dict=True)["step_loss_L1"])
    assert last < 0.8 * first


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch at the initial learning rate and one decaying, with an EMA generator."""
    trainer = Pix2PixTrainer(
        _ctx(tmp_path_factory.mktemp("trained")),
        _params(epochs=1, decay_epochs=1, ema=0.9),
        _data(),
    )
    trainer.fit()
    return trainer


@pytest.mark.slow
def test_checkpoint_holds_networks_optimisers_and_progress(trained):
    import h5py

    trainer = trained
    with h5py.File(trainer.checkpoint_path) as f:
        keys = set(f)
        state = json.loads(f["artforge"].attrs["state"])
        adam_vars = len(f["g_optimizer/vars"])
    assert {"generator", "discriminator", "ema_generator", "g_optimizer", "d_optimizer"} <= keys
    n_g = len(trainer.model.generator.trainable_variables)
    assert adam_vars == 2 + 2 * n_g  # iterations, learning rate, m and v per variable
    assert state["epoch"] == 2 and state["iteration"] == 4
    assert set(state["series"]) == {"loss_D", "loss_G", "loss_G_GAN", "loss_L1"}
    # the EMA generator follows the trained one but is not equal to it
    g, e = (
        trained.model.generator.weights[0].numpy(),
        trained.model.ema_generator.weights[0].numpy(),
    )
    assert not np.array_equal(g, e) and np.corrcoef(g.ravel(), e.ravel())[0, 1] > 0.9
    assert sorted(p.name for p in trainer.samples_dir.iterdir()) == [
        "epoch0001.png",
        "epoch0002.png",
    ]


@pytest.mark.slow
def test_resume_gives_the_same_losses_and_weights(tmp_path):
    full = Pix2PixTrainer(_ctx(tmp_path / "a"), _params(epochs=3), _data())
    full.fit()
    part = Pix2PixTrainer(_ctx(tmp_path / "b"), _params(epochs=2), _data())
    part.fit()
    resumed = Pix2PixTrainer(_ctx(tmp_path / "b"), _params(epochs=3), _data())
    resumed.fit()
    assert resumed.iteration == full.iteration == 6
    assert resumed.series["loss_G"] == full.series["loss_G"]
    for a, b in zip(full.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(full.model.g_optimizer.variables, resumed.model.g_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_linear_decay_factors(tmp_path):
    trainer = Pix2PixTrainer.__new__(Pix2PixTrainer)
    trainer.p = _params(epochs=3, decay_epochs=3)
    factors = [trainer.lr_factor(e) for e in range(6)]
    assert factors[:3] == [1, 1, 1] and factors[3:] == pytest.approx([3 / 4, 2 / 4, 1 / 4])


@pytest.mark.slow
def test_linear_decay_reaches_the_optimisers(trained):
    # epochs 1 + decay 1: the second epoch runs at half the learning rate
    assert float(trained.model.g_optimizer.learning_rate) == pytest.approx(2e-4 / 2)
    assert float(trained.model.d_optimizer.learning_rate) == pytest.approx(2e-4 / 2)


def _losses_hook(monkeypatch, fake):
    """Make the driver see ``fake(iteration, losses)`` as the step's losses."""
    real = trainer_mod.GANTrainer.step

    def hook(self, batch):
        return fake(self.iteration + 1, dict(real(self, batch)))

    monkeypatch.setattr(trainer_mod.GANTrainer, "step", hook)


@pytest.mark.slow
def test_divergence_guard_stops_on_nan(tmp_path, monkeypatch):
    _losses_hook(monkeypatch, lambda it, logs: {**logs, "loss_D": float("nan")})
    trainer = Pix2PixTrainer(_ctx(tmp_path), _params(), _data())
    with pytest.raises(Diverged, match="loss_D is nan"):
        trainer.fit()
    assert any("divergence guard" in w for w in trainer.ctx.warnings)


@pytest.mark.slow
def test_divergence_guard_rollback_lowers_the_learning_rate(tmp_path, monkeypatch):
    calls = {"n": 0}

    def flaky(it, logs):
        calls["n"] += 1
        return {**logs, "loss_G": float("inf")} if calls["n"] == 3 else logs  # epoch 2

    _losses_hook(monkeypatch, flaky)
    trainer = Pix2PixTrainer(
        _ctx(tmp_path), _params(on_divergence="rollback", max_rollbacks=2), _data()
    )
    trainer.fit()
    assert trainer.rollbacks == 1 and trainer.epoch == 2
    assert float(trainer.model.g_optimizer.learning_rate) == pytest.approx(2e-4 * 0.5)
    assert any("rolled back" in w for w in trainer.ctx.warnings)


@pytest.mark.slow
def test_discriminator_collapse_is_detected(tmp_path, monkeypatch):
    _losses_hook(monkeypatch, lambda it, logs: {**logs, "loss_D": 0.0})
    trainer = Pix2PixTrainer(_ctx(tmp_path), _params(collapse_patience=3), _data())
    with pytest.raises(Diverged, match="discriminator collapsed"):
        trainer.fit()


def test_augmentation_crops_and_flips_pairs_together():
    rng = np.random.default_rng(1)
    a = [rng.integers(0, 255, (20, 20, 3), dtype=np.uint8) for _ in range(4)]
    data = PairedData(a, [x.copy() for x in a], 16, 20, flip=True, seed=3)
    seen = set()
    for i in range(data.batches_per_epoch(2)):
        batch = data.batch(0, i, 2)
        assert batch.shape == (2, 16, 16, 6) and batch.dtype == np.uint8
        np.testing.assert_array_equal(batch[..., :3], batch[..., 3:])
        seen.add(batch.tobytes())
    np.testing.assert_array_equal(data.batch(0, 1, 2), data.batch(0, 1, 2))  # a pure function
    assert data.batch(1, 0, 2).tobytes() not in seen or len(seen) == 1


def test_aligned_folder(tmp_path):
    for i in range(2):
        a = np.full((8, 8, 3), 10 * i, np.uint8)
        b = np.full((8, 8, 3), 200 - i, np.uint8)
        save_png(tmp_path / "aligned" / f"img{i}.png", np.concatenate([a, b], axis=1))
    names, a, b = paired_from_folder(tmp_path / "aligned", "BtoA")
    assert names == ["img0", "img1"] and a[1][0, 0, 0] == 199 and b[1][0, 0, 0] == 10
    save_png(tmp_path / "odd" / "x.png", np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(StepError, match="odd"):
        paired_from_folder(tmp_path / "odd")


def test_models_not_yet_in_keras_are_refused_plainly(tmp_path):
    from artforge.registry import Registry
    from artforge_keras.gan_steps import train_gan

    # every built-in model runs on keras now: a registry without cyclegan shows the
    # refusal (train-gan looks every model up in the registry)
    p = TrainGanParams(model="cyclegan", source="${s.a}", target="${s.b}", image_size=32)
    ctx = _ctx(tmp_path)
    ctx.registry = Registry()
    with pytest.raises(StepError, match="cyclegan"):
        train_gan(ctx, p)


RECIPE = """name: tiny-keras
seed: 0
backend: keras
device: cpu
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 8, holdout: 4, size: 32}
  - id: train
    uses: train-gan
    with: {source: '${scenes.night}', target: '${scenes.day}', image_size: 32,
           batch_size: 4, epochs: 1, decay_epochs: 1, ema: 0.9, ngf: 8, ndf: 8, n_layers_d: 2}
  - id: translate
    uses: translate
    with: {model: '${train.generator}', images: '${scenes.holdout_night}', target: '${scenes.holdout_day}',
           baseline_source: '${scenes.night}', baseline_target: '${scenes.day}'}
gallery: {enabled: false}
"""


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from artforge.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(["run", str(recipe), "--out", str(full), "-q"]) == 0
    # 8 pairs, batch 4: 2 iterations per epoch; Ctrl-C after iteration 3 (in epoch 2)
    real = trainer_mod.GANTrainer.step

    def interrupt(self, batch):
        if self.iteration == 3:
            raise KeyboardInterrupt
        return real(self, batch)

    with monkeypatch.context() as m:
        m.setattr(trainer_mod.GANTrainer, "step", interrupt)
        assert main(["run", str(recipe), "--out", str(cut), "-q"]) == 130
    ckpt = cut / ".work/train/checkpoint.weights.h5"
    assert ckpt.is_file() and not (cut / "steps/train").exists()
    assert main(["run", str(recipe), "--out", str(cut), "-q"]) == 0
    a = json.loads((full / "steps/train/record.json").read_text())
    b = json.loads((cut / "steps/train/record.json").read_text())
    assert b["info"].get("resumed_from_epoch") == 1 and "resumed_from_epoch" not in a["info"]
    assert a["metrics"]["iterations"] == b["metrics"]["iterations"] == 4
    ga, gb = (r["outputs"]["generator"]["meta"] for r in (a, b))
    assert ga["ema"] and ga["backend"] == "keras" and ga["sha256"] == gb["sha256"]
    assert a["series"] == b["series"]
    assert (
        a["outputs"]["samples"]["files"]
        == b["outputs"]["samples"]["files"]
        == [
            "epoch0001.png",
            "epoch0002.png",
        ]
    )
    t = json.loads((full / "steps/translate/record.json").read_text())
    assert {"psnr", "ssim", "baseline_psnr", "psnr_margin_db"} <= set(t["metrics"])
    assert len(t["outputs"]["images"]["files"]) == len(t["outputs"]["baseline"]["files"]) == 4
    summary = json.loads((full / "steps/translate/metrics/metrics.json").read_text())
    assert summary["mean"]["psnr"] == pytest.approx(t["metrics"]["psnr"])
    assert set(summary["baseline"]["coefficients"]) == {"R", "G", "B"}
    # translate pads odd sizes and tiles large ones: both keep the input's size
    from artforge_keras.backend import runtime
    from artforge_keras.gan_steps import build_generator, inference_fn, run_tiled, run_whole

    net = build_generator(ga, full / "steps/train/generator" / "generator.weights.h5")
    fn = inference_fn(net, runtime("cpu"))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 45, 70, 3)).astype("float32")
    assert run_whole(fn, x, ga["multiple"]).shape == (1, 45, 70, 3)
    assert run_tiled(fn, x, 32, 8, ga["multiple"]).shape == (1, 45, 70, 3)


def test_translate_loads_a_torch_trained_generator(tmp_path):
    """A generator exported by the torch backend (safetensors) runs in the keras backend."""
    torch = pytest.importorskip("torch")
    from artforge_keras.gan_steps import build_generator
    from artforge_torch.nets.pix2pix import UNetGenerator
    from artforge_torch.training.checkpoint import export_safetensors

    kwargs = {
        "in_channels": 3,
        "out_channels": 3,
        "image_size": 16,
        "ngf": 4,
        "norm": "batch",
        "dropout": True,
    }
    t = UNetGenerator(**kwargs).eval()
    path = tmp_path / "g.safetensors"
    export_safetensors(path, t, {"arch": "unet"})
    k = build_generator({"arch": "unet", "kwargs": kwargs, "backend": "torch"}, path)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    with torch.no_grad():
        yt = t(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert np.abs(np.asarray(k(x, training=False)) - yt).max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_policy_path(tmp_path, monkeypatch, policy):
    """The GPU code path on the CPU: layers compute in half precision, variables stay float32,
    outputs and losses are float32; float16 scales the loss (LossScaleOptimizer)."""
    import keras

    from artforge_keras import backend
    from artforge_keras.training import trainer as tmod

    monkeypatch.setattr(tmod, "runtime", lambda *a, **k: backend.Runtime("/CPU:0", policy, "cpu"))
    try:
        trainer = Pix2PixTrainer(_ctx(tmp_path), _params(epochs=1), _data())
        G = trainer.model.generator
        assert G.layers[2].compute_dtype == policy.split("_")[1] and G.weights[0].dtype == "float32"
        scaled = isinstance(trainer.model.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert scaled == (policy == "mixed_float16")
        trainer.fit()
        assert all(np.isfinite(y) for _, y in trainer.series["loss_G"])
        assert np.asarray(G(np.zeros((1, 16, 16, 3), "float32"))).dtype == np.float32
        assert trainer.ctx.info["amp"] == policy.split("_")[1]
    finally:
        keras.config.set_dtype_policy("float32")
