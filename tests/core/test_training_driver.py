"""The backend-free GAN training driver (artforge.training) on a numpy runtime: the resume
contract, the learning-rate schedule, the divergence guard (stop, rollback), the iterations
limit, the sample and quality cadence. No framework is imported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from artforge.errors import CheckpointError, Diverged
from artforge.training import GANDriver, lr_factor
from tests.helpers_gan import pix2pix_params, step_context


class Data:
    """8 vectors; batches of a per-epoch permutation (a pure function of seed and epoch)."""

    def __init__(self, n: int = 8):
        self.x = np.random.default_rng(0).normal(size=(n, 3))

    def batches_per_epoch(self, batch_size: int) -> int:
        return len(self.x) // batch_size


class NumpyTrainer(GANDriver):
    """A runtime in numpy: one weight vector pulled towards each batch's mean by SGD, with
    noise from an RNG whose state is part of the checkpoint."""

    checkpoint_name = "checkpoint.json"

    def __init__(self, ctx, params, data, fail_at=(), nan_at=()):
        self.init_driver(ctx, params, data)
        self.w = np.zeros(3)
        self.rng = np.random.default_rng(1)
        self.base_lrs = {"G": 0.1, "D": 0.2}
        self.lrs: dict[str, float] = {}
        self.lr_log: list[tuple[int, float]] = []
        self.fail_at, self.nan_at = set(fail_at), set(nan_at)
        self.grids: list[int] = []

    def epoch_batches(self, epoch):
        order = np.random.default_rng([7, epoch]).permutation(len(self.data.x))
        bs = self.p.batch_size
        for i in range(self.data.batches_per_epoch(bs)):
            yield self.data.x[order[i * bs : (i + 1) * bs]]

    def step(self, batch):
        if self.iteration + 1 in self.fail_at:
            self.fail_at.discard(self.iteration + 1)
            raise KeyboardInterrupt
        self.w += self.lrs["G"] * (batch.mean(0) - self.w) + 0.01 * self.rng.normal(size=3)
        loss = float(((batch - self.w) ** 2).mean())
        if self.iteration + 1 in self.nan_at:
            self.nan_at.discard(self.iteration + 1)
            loss = float("nan")
        return {"loss_G": loss, "loss_D": 1.0 + loss}

    def set_learning_rates(self, lrs):
        self.lrs = dict(lrs)
        self.lr_log.append((self.epoch, lrs["G"]))

    def state(self):
        return {"w": self.w.tolist(), "rng": self.rng.bit_generator.state, **self.driver_state()}

    def load_state(self, state):
        self.w = np.asarray(state["w"])
        self.rng.bit_generator.state = state["rng"]
        self.load_driver_state(state)

    def write_checkpoint(self):
        self.checkpoint_path.write_text(json.dumps(self.state()))

    def read_checkpoint(self):
        path = self.checkpoint_path
        return json.loads(path.read_text()) if path.exists() else None

    def sample_grid(self):
        self.grids.append(self.epoch)
        return np.zeros((4, 4, 3), np.uint8)

    def evaluate(self):
        return {"score": float(np.abs(self.w).sum())}


def _params(**kw):
    base = dict(batch_size=2, epochs=2, decay_epochs=2)
    base.update(kw)
    return pix2pix_params(**base)


def test_the_driver_imports_no_framework():
    import artforge.training.driver as driver

    imports = [
        line.split()[1]
        for line in Path(driver.__file__).read_text().splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert not {m.split(".")[0] for m in imports} & {"torch", "tensorflow", "keras"}


def test_schedule_cadence_curves_and_metrics(tmp_path):
    ctx = step_context(tmp_path, "numpy")
    t = NumpyTrainer(ctx, _params(samples_every=2), Data())
    t.fit()
    assert (t.epoch, t.iteration) == (4, 16)
    assert lr_factor(2, 2, 2) == pytest.approx(2 / 3)
    assert [e for e, _ in t.lr_log] == [0, 1, 2, 3]
    assert [lr for _, lr in t.lr_log] == pytest.approx([0.1, 0.1, 0.1 * 2 / 3, 0.1 / 3])
    assert t.grids == [2, 4]  # samples_every 2 (and the last epoch)
    assert sorted(p.name for p in t.samples_dir.iterdir()) == ["epoch0002.png", "epoch0004.png"]
    assert [x for x, _ in t.series["score"]] == [2.0, 4.0]  # quality curves over epochs
    assert t.series["score"][-1][1] == t.evaluate()["score"]
    assert ctx.metrics["iterations"] == 16 and ctx.metrics["epochs"] == 4
    assert ctx.metrics["final_loss_G"] == round(t.series["loss_G"][-1][1], 5)
    assert [x for x, _ in t.series["loss_G"]] == [float(i) for i in range(1, 17)]


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    full = NumpyTrainer(step_context(tmp_path / "a", "numpy"), _params(), Data())
    full.fit()
    cut_ctx = step_context(tmp_path / "b", "numpy")
    cut = NumpyTrainer(cut_ctx, _params(), Data(), fail_at=[7])  # in epoch 2
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    resumed_ctx = step_context(tmp_path / "b", "numpy")
    resumed = NumpyTrainer(resumed_ctx, _params(), Data())
    resumed.fit()
    assert resumed_ctx.info["resumed_from_epoch"] == 1
    np.testing.assert_array_equal(resumed.w, full.w)
    assert resumed.series == full.series
    assert resumed.iteration == full.iteration == 16


def test_iterations_limit_stops_inside_an_epoch_and_ends_with_samples(tmp_path):
    t = NumpyTrainer(
        step_context(tmp_path, "numpy"), _params(iterations=5, samples_every=9), Data()
    )
    t.fit()
    assert (t.iteration, t.epoch) == (5, 2) and t.grids == [2]


def test_divergence_stops_or_rolls_back_with_lower_learning_rates(tmp_path):
    stop = NumpyTrainer(step_context(tmp_path / "s", "numpy"), _params(), Data(), nan_at=[6])
    with pytest.raises(Diverged, match="loss_G is nan"):
        stop.fit()
    p = _params(on_divergence="rollback", max_rollbacks=2)
    ctx = step_context(tmp_path / "r", "numpy")
    t = NumpyTrainer(ctx, p, Data(), nan_at=[6])
    t.fit()
    assert t.rollbacks == 1 and ctx.metrics["rollbacks"] == 1 and t.epoch == 4
    assert t.base_lrs == {"G": pytest.approx(0.05), "D": pytest.approx(0.1)}
    # epoch 1 ran twice: first at the full rate, again after the rollback at half of it
    assert [e for e, _ in t.lr_log] == [0, 1, 1, 2, 3]
    assert t.lr_log[2][1] == pytest.approx(0.05)
    assert any("rolled back to epoch 1" in w for w in ctx.warnings)


def test_a_checkpoint_of_another_step_is_named(tmp_path):
    ctx = step_context(tmp_path, "numpy")
    (tmp_path / "work" / "checkpoint.json").write_text(json.dumps({"w": [0, 0, 0]}))
    with pytest.raises(CheckpointError, match="is not a checkpoint of this step"):
        NumpyTrainer(ctx, _params(), Data()).fit()
