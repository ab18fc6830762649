"""CycleGAN on the Keras backend: the keras.Model GAN (compile/train_step), the history pools
in the graph and in the checkpoint, resume, unpaired data and folders, translate in both
directions (Keras weights and torch-trained ones), and parity with the PyTorch backend
(parameter counts, outputs with the weights copied across, the losses of a step)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")

from artforge.artifacts import ImageSet  # noqa: E402
from artforge.errors import StepError  # noqa: E402
from artforge.images import save_png  # noqa: E402
from artforge.schemas.gan import TranslateParams  # noqa: E402
from artforge_keras.cyclegan import (  # noqa: E402
    CycleGANTrainer,
    Generators,
    UnpairedData,
    build_resnet,
    unpaired_from_folder,
)
from artforge_keras.nets.layers import count_parameters  # noqa: E402
from artforge_keras.training.checkpoint import load_checkpoint  # noqa: E402
from tests.helpers_gan import cyclegan_params, step_context, unpaired_domains  # noqa: E402


def _ctx(tmp_path, seed=0):
    return step_context(tmp_path, "keras", seed=seed)


def _data(size=16, load=16, flip=False, **kw):
    a, b = unpaired_domains(size=load, **kw)
    return UnpairedData(a, b, size, load, flip, seed=0)


_params = cyclegan_params


def test_unpaired_from_folder_is_the_core_one():  # its tests: tests/core/test_unpaired_folder.py
    from artforge.images import unpaired_from_folder as core

    assert unpaired_from_folder is core


def test_unpaired_batches_are_a_pure_function_of_seed_epoch_and_index():
    data = _data(size=16, load=20, flip=True)
    assert len(data) == 6 and data.batches_per_epoch(2) == 3
    order_a, order_b = data.order(0, 2)
    assert sorted(order_a.tolist()) == list(range(6))
    assert len(order_b) == 6 and sorted(order_b[:4].tolist()) == [0, 1, 2, 3]  # B wraps around
    batch = data.batch(0, 1, 2)
    assert batch.shape == (2, 16, 16, 6) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch, data.batch(0, 1, 2))
    assert not np.array_equal(data.batch(1, 1, 2), batch)
    a, b = data.fixed(4)
    assert a.shape == (4, 16, 16, 3) and b.shape == (4, 16, 16, 3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two epochs (3 iterations each) with an EMA of both generators."""
    trainer = CycleGANTrainer(
        _ctx(tmp_path_factory.mktemp("trained")),
        _params(epochs=1, decay_epochs=1, ema=0.5),
        _data(),
    )
    trainer.fit()
    return trainer


def test_networks_shapes_sample_grid_and_curves(trained):
    m = trained.model
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 24, 3)).astype("float32")
    assert np.asarray(m.generator.AtoB(x)).shape == np.asarray(m.generator.BtoA(x)).shape == x.shape
    assert np.asarray(m.discriminator.A(x)).shape == (2, 2, 4, 1)
    grid = trained.sample_grid()  # 4 A rows (A | G(A) | F(G(A))), then 4 B rows
    assert grid.shape == (8 * 16, 3 * 16, 3) and grid.dtype == np.uint8
    assert trained.iteration == 6
    names = {"loss_D_A", "loss_D_B", "loss_D", "loss_G", "loss_G_GAN", "loss_cycle", "loss_idt"}
    assert set(trained.series) == names
    for (_, d), (_, da), (_, db) in zip(
        *(trained.series[k] for k in ("loss_D", "loss_D_A", "loss_D_B"))
    ):
        assert d == pytest.approx(0.5 * (da + db), rel=1e-5)
    assert sorted(p.name for p in trained.samples_dir.iterdir()) == [
        "epoch0001.png",
        "epoch0002.png",
    ]


def test_the_pools_fill_and_round_trip_through_the_checkpoint(trained, tmp_path):
    import h5py

    for pool in (trained.model.pool_A, trained.model.pool_B):
        assert int(pool.count.numpy()) == 3 and pool.stored().shape == (3, 16, 16, 3)
        assert np.abs(pool.stored()).max() > 0  # generated images, not the zeros it starts with
    with h5py.File(trained.checkpoint_path) as f:
        state = json.loads(f["artforge"].attrs["state"])
    assert state["epoch"] == 2 and state["iteration"] == 6
    fresh = CycleGANTrainer(_ctx(tmp_path), _params(epochs=1, decay_epochs=1, ema=0.5), _data())
    assert int(fresh.model.pool_A.count.numpy()) == 0
    fresh.load_state(load_checkpoint(trained.checkpoint_path, fresh.model))
    for side in ("pool_A", "pool_B"):
        np.testing.assert_array_equal(
            getattr(fresh.model, side).stored(), getattr(trained.model, side).stored()
        )


@pytest.mark.slow
def test_few_steps_on_a_fixed_batch_reduce_the_cycle_loss(tmp_path):
    trainer = CycleGANTrainer(_ctx(tmp_path), _params(lr_g=1e-3), _data())
    batch = trainer.data.batch(0, 0, 2)
    first = trainer.model.train_on_batch(batch, return_dict=True)
    for _ in range(25):
        last = trainer.model.train_on_batch(batch, return_dict=True)
    assert float(last["step_loss_cycle"]) < 0.7 * float(first["step_loss_cycle"])


@pytest.mark.slow
def test_resume_gives_the_same_losses_and_weights(tmp_path):
    full = CycleGANTrainer(_ctx(tmp_path / "a"), _params(epochs=3), _data())
    full.fit()
    part = CycleGANTrainer(_ctx(tmp_path / "b"), _params(epochs=2), _data())
    part.fit()
    resumed = CycleGANTrainer(_ctx(tmp_path / "b"), _params(epochs=3), _data())
    resumed.fit()
    assert resumed.ctx.info["resumed_from_epoch"] == 2
    assert resumed.iteration == full.iteration == 9
    for k in ("loss_G", "loss_D_A", "loss_D_B", "loss_cycle"):
        assert resumed.series[k] == full.series[k], k
    for a, b in zip(full.model.weights, resumed.model.weights):  # nets, pools
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_export_and_translate_in_both_directions(trained, tmp_path):
    from artforge_keras.gan_steps import translate

    outputs = trained.export(_ctx(tmp_path / "export"))
    art = outputs["generator"]
    assert art.meta["arch"] == "resnet" and art.meta["directions"] == ["AtoB", "BtoA"]
    assert art.meta["backend"] == "keras" and art.meta["ema"] is True
    assert art.meta["parameters"] == count_parameters(trained.model.generator.AtoB)
    rng = np.random.default_rng(3)
    for i in range(2):
        save_png(tmp_path / "in" / f"x{i}.png", rng.integers(0, 255, (16, 20, 3), dtype=np.uint8))
    inputs = ImageSet(tmp_path / "in", ["x0.png", "x1.png"])
    got = {}
    for direction in ("AtoB", "BtoA"):
        ctx = _ctx(tmp_path / direction)
        ctx.resolve = lambda ref: {"${t.generator}": art, "${x.images}": inputs}[ref]
        p = TranslateParams(model="${t.generator}", images="${x.images}", direction=direction)
        out = translate(ctx, p)
        got[direction] = out["images"].load(0)
        # the same as the trained EMA generator of that direction
        net = trained.model.ema_generator.direction(direction)
        x = inputs.load(0)[None].astype("float32") / 127.5 - 1
        want = np.round((np.clip(np.asarray(net(x, training=False)), -1, 1) + 1) * 127.5)
        assert np.abs(got[direction].astype(int) - want[0].astype(int)).max() <= 1
    assert got["AtoB"].shape == (16, 20, 3) and not np.array_equal(got["AtoB"], got["BtoA"])
    with pytest.raises(StepError, match="no CtoD"):
        build_resnet(art.meta, art.path, "CtoD")


# -- parity with the PyTorch backend ------------------------------------------------------------
def _torch_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def _copy_torch_cyclegan(trainer_t, model_k):
    """The torch trainer's four networks into the keras model, layer by layer."""
    from artforge_keras.nets.convert import load_torch_state

    G, D = trainer_t.nets["G"], trainer_t.nets["D"]
    for d in ("AtoB", "BtoA"):
        load_torch_state(model_k.generator.direction(d), _torch_state(G[d]))
    for side in ("A", "B"):
        load_torch_state(getattr(model_k.discriminator, side), _torch_state(D[side]))


@pytest.mark.parametrize("upsample,head", [("transpose", "rgb"), ("nearest", "affine")])
def test_parity_parameter_counts_outputs_and_the_losses_of_a_step(tmp_path, upsample, head):
    torch = pytest.importorskip("torch")
    from artforge_torch.cyclegan import CycleGANTrainer as TorchTrainer
    from artforge_torch.cyclegan import UnpairedData as TorchData

    p = _params(image_size=32, n_layers_d=3, n_blocks=3, upsample=upsample, head=head)
    a, b = unpaired_domains(size=32)
    kt = CycleGANTrainer(_ctx(tmp_path / "k"), p, UnpairedData(a, b, 32, 32, False))
    tctx = _ctx(tmp_path / "t")
    tt = TorchTrainer(tctx, p, TorchData(a, b, 32, 32, False))
    km = kt.model
    for k_net, t_net in ((km.generator, tt.nets["G"]), (km.discriminator, tt.nets["D"])):
        assert count_parameters(k_net) == sum(x.numel() for x in t_net.parameters())
    _copy_torch_cyclegan(tt, km)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 24, 3)).astype("float32")
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    with torch.no_grad():
        for d in ("AtoB", "BtoA"):
            want = tt.nets["G"][d](xt).permute(0, 2, 3, 1).numpy()
            assert np.abs(np.asarray(km.generator.direction(d)(x)) - want).max() <= 1e-4, d
        for side in ("A", "B"):
            want = tt.nets["D"][side](xt).permute(0, 2, 3, 1).numpy()
            got = np.asarray(getattr(km.discriminator, side)(x))
            assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max())), side
    # one step on the same batch: every loss of the first step depends only on the initial
    # weights (the pools return the new images while they fill), so both backends agree
    batch = np.concatenate([np.stack(a[:2]), np.stack(b[:2])], axis=-1)
    tb = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1
    lt = tt.train_step((tb[:, :3], tb[:, 3:]))
    lk = km.train_on_batch(batch, return_dict=True)
    for name, value in lt.items():
        assert float(lk[f"step_{name}"]) == pytest.approx(value, rel=1e-4, abs=1e-5), name


def test_translate_runs_a_torch_trained_cyclegan_both_ways(tmp_path):
    torch = pytest.importorskip("torch")
    from artforge_torch.cyclegan import generators
    from artforge_torch.training.checkpoint import export_safetensors

    kwargs = {
        "in_channels": 3,
        "out_channels": 3,
        "ngf": 4,
        "n_blocks": 2,
        "norm": "instance",
        "dropout": False,
    }
    torch.manual_seed(0)
    t = generators(kwargs).eval()
    path = tmp_path / "generator.safetensors"
    export_safetensors(path, t, {"arch": "resnet"})
    meta = {"arch": "resnet", "backend": "torch", "kwargs": kwargs, "directions": ["AtoB", "BtoA"]}
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 12, 3)).astype("float32")
    for d in ("AtoB", "BtoA"):
        k = build_resnet(meta, path, d)
        with torch.no_grad():
            want = t[d](torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
        assert np.abs(np.asarray(k(x, training=False)) - want).max() < 1e-4, d


def test_generators_weights_file_round_trip(tmp_path):
    from artforge_keras.training.checkpoint import save_weights_file

    kwargs = {
        "in_channels": 3,
        "out_channels": 3,
        "ngf": 4,
        "n_blocks": 1,
        "norm": "instance",
        "dropout": False,
    }
    g = Generators(kwargs, name="generators_ema")
    path = tmp_path / "g.weights.h5"
    save_weights_file(path, g)
    meta = {"arch": "resnet", "backend": "keras", "kwargs": kwargs, "directions": ["AtoB", "BtoA"]}
    x = np.random.default_rng(1).uniform(-1, 1, (1, 8, 8, 3)).astype("float32")
    for d in ("AtoB", "BtoA"):
        net = build_resnet(meta, path, d)
        np.testing.assert_allclose(np.asarray(net(x)), np.asarray(g.direction(d)(x)), atol=1e-6)


@pytest.mark.slow
def test_tiny_day_to_night_recipe_on_keras(tmp_path):
    from artforge.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        """name: tiny-cyclegan-keras
seed: 0
backend: keras
device: cpu
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 8, holdout: 4, size: 32, unpaired: true}
  - id: pairs
    uses: synthetic-scenes
    with: {count: 8, holdout: 0, size: 32}
  - id: train
    uses: train-gan
    with: {model: cyclegan, source: '${scenes.day}', target: '${scenes.night}', image_size: 32,
           batch_size: 4, epochs: 1, ngf: 8, ndf: 8, n_blocks: 2}
  - id: translate
    uses: translate
    with: {model: '${train.generator}', images: '${scenes.holdout_day}', direction: AtoB,
           target: '${scenes.holdout_night}', baseline_source: '${pairs.day}',
           baseline_target: '${pairs.night}'}
gallery: {enabled: false}
"""
    )
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "-q"]) == 0
    rec = json.loads((out / "steps/translate/record.json").read_text())
    assert {"psnr", "ssim", "baseline_psnr", "psnr_margin_db"} <= set(rec["metrics"])
    train = json.loads((out / "steps/train/record.json").read_text())
    assert train["outputs"]["generator"]["meta"]["backend"] == "keras"
    assert {"loss_D_A", "loss_D_B", "loss_D", "loss_G", "loss_cycle", "loss_idt"} <= set(
        train["series"]
    )


def test_the_shipped_recipe_validates_with_the_keras_backend():
    from pathlib import Path

    from artforge.cli import main

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "day_to_night_cyclegan.yaml"
    if not recipe.exists():
        pytest.skip("recipes/day_to_night_cyclegan.yaml is not in this checkout")
    assert main(["validate", str(recipe), "--set", "backend=keras"]) == 0
