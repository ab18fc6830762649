"""When the Keras backend mirrors training over the local GPUs (MirroredStrategy), and that on
this CPU machine it does not: the selection is plain Python, tested without TensorFlow; the
no-op path with it."""

from __future__ import annotations

import pytest

from artforge.errors import StepError
from artforge_keras.distribution import choose


@pytest.mark.parametrize(
    "device,gpus,setting,expected",
    [
        ("auto", 0, None, "single"),  # this machine
        ("auto", 1, None, "single"),
        ("auto", 2, None, "mirrored"),
        ("cuda", 4, "auto", "mirrored"),
        ("cuda:1", 4, None, "single"),  # an explicit GPU pins one device
        ("cpu", 4, None, "single"),
        ("auto", 4, "off", "single"),
        ("auto", 1, "mirrored", "single"),  # asked for, but fewer than two GPUs
        ("auto", 2, " Mirrored ", "mirrored"),
    ],
)
def test_choose(device, gpus, setting, expected):
    choice = choose(device, gpus, setting)
    assert choice.strategy == expected
    assert choice.replicas == (gpus if expected == "mirrored" else 1)
    assert choice.reason


def test_unknown_setting_is_refused():
    with pytest.raises(StepError, match="ARTFORGE_KERAS_STRATEGY"):
        choose("auto", 2, "tpu")


@pytest.mark.keras
def test_no_strategy_on_this_machine(monkeypatch):
    pytest.importorskip("keras")
    import tensorflow as tf

    from artforge_keras.distribution import replica_mean, select

    monkeypatch.delenv("ARTFORGE_KERAS_STRATEGY", raising=False)
    choice, strategy = select("auto")
    if tf.config.list_physical_devices("GPU")[1:]:
        pytest.skip("several GPUs: the mirrored path is taken here")
    assert choice.strategy == "single" and strategy is None
    g = [tf.constant([2.0]), None]
    assert replica_mean(g) is g  # no division without replicas
