"""DCGAN and the class-conditional DCGAN (projection discriminator) on the Keras trainer."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")

from artforge.errors import StepError  # noqa: E402
from artforge.schemas.gan import TrainGanParams  # noqa: E402
from tests.helpers_gan import dcgan_params, step_context  # noqa: E402
from tests.helpers_gan import labelled_set as _labelled_set  # noqa: E402


def _ctx(tmp_path, images):
    return step_context(tmp_path, "keras", lambda ref: images)


@pytest.mark.slow
@pytest.mark.parametrize("model,loss", [("cdcgan", "hinge"), ("dcgan", "wgan-gp")])
def test_dcgan_trains_exports_and_samples(tmp_path, model, loss):
    from artforge_keras.gan_steps import train_gan

    images = _labelled_set(tmp_path / "data")
    ctx = _ctx(tmp_path, images)
    p = dcgan_params(
        model=model,
        batch_size=8,
        loss=loss,
        n_critic=2 if loss == "wgan-gp" else 1,
        ema=0.9,
    )
    out = train_gan(ctx, p)
    meta = out["generator"].meta
    assert meta["arch"] == "dcgan" and meta["backend"] == "keras" and meta["ema"]
    assert meta["n_classes"] == (2 if model == "cdcgan" else 0)
    assert ctx.metrics["iterations"] == 6 and set(ctx.series) >= {"loss_D", "loss_G"}
    assert all(np.isfinite(y) for _, y in ctx.series["loss_D"])
    grid = out["samples"].load(1)
    rows = 2 if model == "cdcgan" else 8  # one row of eight per class
    assert grid.shape == (32 * rows, 32 * 8, 3)
    if model == "cdcgan":
        assert meta["classes"] == ["horizontal", "vertical"]
    # the exported generator rebuilds from its meta
    from artforge_keras.nets.dcgan import DCGANGenerator

    g = DCGANGenerator(**meta["kwargs"])
    g.load_weights(out["generator"].path)
    z = np.zeros((2, 16), "float32")
    y = g([z, np.array([0, 1])] if meta["n_classes"] else z, training=False)
    assert np.asarray(y).shape == (2, 32, 32, 3)


def test_conditional_model_needs_labels(tmp_path):
    from artforge_keras.gan_steps import train_gan

    images = _labelled_set(tmp_path / "data", n=4)
    images.labels = None
    p = TrainGanParams(model="cdcgan", data="${d.images}", image_size=32, batch_size=2)
    with pytest.raises(StepError, match="labelled"):
        train_gan(_ctx(tmp_path, images), p)


def test_image_data_batches_are_pure_and_labelled(tmp_path):
    from artforge_keras.dcgan import ImageData

    images = _labelled_set(tmp_path / "data", n=10, size=40)
    data = ImageData(images.load_all(), images.labels, 32, flip=True, seed=1)
    assert data.data.shape == (10, 32, 32, 3) and data.batches_per_epoch(4) == 2
    from artforge_keras.data import keras_batch

    x, y = keras_batch(data.batch(3, 1, 4))
    x2, y2 = keras_batch(data.batch(3, 1, 4))
    assert x.shape == (4, 32, 32, 3) and y.dtype == np.int32
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    order = data.order(3, 4)
    np.testing.assert_array_equal(y, np.asarray(images.labels)[order[4:8]])
