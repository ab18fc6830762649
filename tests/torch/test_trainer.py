"""The GAN trainer core through the runner: a real interruption (Ctrl-C in the middle of an
epoch) and the next `artforge run` resuming to the same result as an uninterrupted run."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from artforge.cli import main  # noqa: E402

RECIPE = """name: resume-test
seed: 3
device: cpu
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 8, holdout: 2, size: 32}
  - id: train
    uses: train-gan
    with: {source: '${scenes.night}', target: '${scenes.day}', image_size: 32, batch_size: 4,
           epochs: 2, decay_epochs: 2, ema: 0.9, ngf: 8, ndf: 8, n_layers_d: 2}
gallery: {enabled: false}
"""


def _run(recipe, out):
    return main(["run", str(recipe), "--out", str(out), "-q"])


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "resume.yaml"
    path.write_text(RECIPE)
    return path


def _interrupt_at(monkeypatch, iteration):
    from artforge_torch.pix2pix import Pix2PixTrainer

    real = Pix2PixTrainer.train_step

    def step(self, batch):
        if self.iteration + 1 == iteration:
            raise KeyboardInterrupt  # Ctrl-C in the middle of an epoch
        return real(self, batch)

    monkeypatch.setattr(Pix2PixTrainer, "train_step", step)


@pytest.mark.slow
def test_interrupted_training_resumes_to_the_uninterrupted_result(tmp_path, recipe, monkeypatch):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert _run(recipe, full) == 0
    # 8 pairs, batch 4: 2 iterations per epoch; stop in epoch 3 (after iteration 5)
    with monkeypatch.context() as m:
        _interrupt_at(m, 6)
        assert _run(recipe, cut) == 130
    ckpt = cut / ".work/train/checkpoint.pt"
    assert ckpt.is_file() and not (cut / "steps/train").exists()
    state = torch.load(ckpt, map_location="cpu", weights_only=True)  # no code is unpickled
    assert {"nets", "opts", "base_lrs", "ema", "rng", "epoch", "iteration"} <= set(state)
    assert (state["epoch"], state["iteration"]) == (2, 4)  # the last end-of-epoch checkpoint

    assert _run(recipe, cut) == 0  # the next run resumes
    a = json.loads((full / "steps/train/record.json").read_text())
    b = json.loads((cut / "steps/train/record.json").read_text())
    assert b["info"].get("resumed_from_epoch") == 2 and "resumed_from_epoch" not in a["info"]
    assert a["metrics"]["iterations"] == b["metrics"]["iterations"] == 8
    # bit-identical weights (EMA generator, through the LR decay) and identical curves
    ga, gb = (r["outputs"]["generator"]["meta"] for r in (a, b))
    assert ga["ema"] and ga["sha256"] == gb["sha256"]
    assert a["series"]["loss_G"] == b["series"]["loss_G"]
    assert a["series"]["loss_D"] == b["series"]["loss_D"]
    assert a["outputs"]["samples"]["files"] == b["outputs"]["samples"]["files"]
    assert len(a["outputs"]["samples"]["files"]) == 4
    assert not (cut / ".work/train").exists()  # the work folder goes once the step succeeds


def test_linear_decay_schedule(tmp_path):
    """Constant for `epochs`, then linearly to zero over `decay_epochs` (pix2pix's 'linear')."""
    import numpy as np

    from artforge.context import StepContext
    from artforge.schemas.gan import TrainGanParams
    from artforge_torch.data import PairedData
    from artforge_torch.pix2pix import Pix2PixTrainer

    for d in ("step", "work", "run"):
        (tmp_path / d).mkdir()
    ctx = StepContext(
        "t",
        "train-gan",
        0,
        "torch",
        "cpu",
        tmp_path / "step",
        tmp_path / "work",
        tmp_path / "run",
        tmp_path,
        lambda r: None,
        log=lambda m: None,
        quiet=True,
    )
    p = TrainGanParams(
        source="${a.b}",
        target="${a.c}",
        image_size=16,
        batch_size=1,
        epochs=3,
        decay_epochs=3,
        lr_g=1e-3,
        ngf=4,
        ndf=4,
        n_layers_d=1,
    )
    img = [np.zeros((16, 16, 3), np.uint8)]
    trainer = Pix2PixTrainer(ctx, p, PairedData(img, img, 16, 16, flip=False))
    lrs = []
    for epoch in range(p.total_epochs):  # what the driver does at each epoch's start
        f = trainer.lr_factor(epoch)
        trainer.set_learning_rates({k: v * f for k, v in trainer.base_lrs.items()})
        lrs.append(trainer.opts["G"].param_groups[0]["lr"])
    assert lrs[:3] == [1e-3] * 3
    assert lrs[3:] == pytest.approx([1e-3 * 3 / 4, 1e-3 * 2 / 4, 1e-3 * 1 / 4])


def _trainer(root, **kw):
    import numpy as np

    from artforge.context import StepContext
    from artforge.schemas.gan import TrainGanParams
    from artforge_torch.data import PairedData
    from artforge_torch.pix2pix import Pix2PixTrainer

    for d in ("step", "work", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    ctx = StepContext(
        "t",
        "train-gan",
        5,
        "torch",
        "cpu",
        root / "step",
        root / "work",
        root / "run",
        root,
        lambda r: None,
        log=lambda m: None,
        quiet=True,
    )
    base = dict(
        source="${a.b}",
        target="${a.c}",
        image_size=16,
        batch_size=2,
        epochs=3,
        ngf=4,
        ndf=4,
        n_layers_d=1,
    )
    base.update(kw)
    rng = np.random.default_rng(0)
    a = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(6)]
    trainer = Pix2PixTrainer(ctx, TrainGanParams(**base), PairedData(a, a[::-1], 16, 18, flip=True))
    trainer.curve_points = 4  # 9 iterations: a curve point every 2 iterations and at epoch ends
    return trainer


def test_averaged_curves_do_not_depend_on_where_a_run_resumed(tmp_path, monkeypatch):
    full = _trainer(tmp_path / "full")
    full.fit()
    cut = _trainer(tmp_path / "cut")
    real = cut.train_step

    def step(batch):
        if cut.iteration == 7:  # the middle of epoch 3 (3 iterations per epoch)
            raise KeyboardInterrupt
        return real(batch)

    monkeypatch.setattr(cut, "train_step", step)
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    resumed = _trainer(tmp_path / "cut")
    resumed.fit()
    assert resumed.iteration == full.iteration == 9
    assert [x for x, _ in full.series["loss_G"]] == [2, 3, 5, 6, 8, 9]
    assert resumed.series == full.series
