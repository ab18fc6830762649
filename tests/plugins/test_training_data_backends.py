"""The same step seed gives the same training batches on both backends: the PyTorch adapter
(what its trainer iterates: ``epoch(batch_size, torch.Generator seeded with the epoch seed)``)
and the Keras trainer (``GANTrainer.epoch_batches``, what its compiled step is fed)
serve the core's batches, bit-identical before conversion and equal after converting back."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.training_data import epoch_seed  # noqa: E402
from artforge_keras import data as kdata  # noqa: E402 - no keras import
from artforge_torch import data as tdata  # noqa: E402

SEED = 11
RNG = np.random.default_rng(3)


def _images(n: int, size: int) -> list[np.ndarray]:
    return [RNG.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def _pair(kind: str):
    a, b = _images(10, 24), _images(7, 24)
    if kind == "paired":
        args = (a, b[:3] + _images(7, 24), 20, 24, True)
    elif kind == "unpaired":
        args = (a, b, 20, 24, True)
    else:
        args = (a, list(range(10)), 20, True)
    cls = {"paired": "PairedData", "unpaired": "UnpairedData", "images": "ImageData"}[kind]
    return getattr(tdata, cls)(*args, seed=SEED), getattr(kdata, cls)(*args, seed=SEED)


def _keras_batches(data, batch_size: int, epoch: int) -> list:
    """What the Keras trainer feeds its compiled step: its own ``epoch_batches`` (no Keras
    import: the method reads only the data, the batch size and its thread pool)."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from artforge_keras.training.trainer import GANTrainer

    with ThreadPoolExecutor(1) as pool:
        trainer = SimpleNamespace(data=data, p=SimpleNamespace(batch_size=batch_size), _pool=pool)
        return list(GANTrainer.epoch_batches(trainer, epoch))


@pytest.mark.parametrize("kind", ["paired", "unpaired", "images"])
def test_the_same_seed_gives_the_same_batches_on_both_backends(kind):
    tdata_, kdata_ = _pair(kind)
    for epoch in (0, 1):
        gen = torch.Generator().manual_seed(epoch_seed(SEED, epoch))  # as the torch trainer
        t_batches = list(tdata_.epoch(3, gen))
        k_batches = _keras_batches(kdata_, 3, epoch)
        core = [tdata_.batch(epoch_seed(SEED, epoch), i, 3) for i in range(len(k_batches))]
        assert len(t_batches) == len(k_batches) == 3
        for t, k, c in zip(t_batches, k_batches, core):
            if kind == "images":
                np.testing.assert_array_equal(k[0], c[0])  # bit-identical before conversion
                np.testing.assert_array_equal(tdata.to_uint8_images(t[0]), k[0])
                np.testing.assert_array_equal(t[1].numpy(), k[1])
                assert t[0].dtype == torch.float32 and t[0].shape == (3, 3, 20, 20)
            else:
                np.testing.assert_array_equal(k, c)
                back = np.concatenate([tdata.to_uint8_images(x) for x in t], axis=-1)
                np.testing.assert_array_equal(back, k)  # equal after converting back
                assert t[0].shape == t[1].shape == (3, 3, 20, 20)
    assert not np.array_equal(_keras_batches(kdata_, 3, 0)[0], _keras_batches(kdata_, 3, 1)[0])


def test_torch_batches_are_the_float_tensors_the_trainers_expect():
    a = _images(4, 16)
    data = tdata.PairedData(a, [255 - x for x in a], 16, 16, flip=False)
    xa, xb = next(iter(data.epoch(4, torch.Generator().manual_seed(0))))
    assert xa.shape == (4, 3, 16, 16) and xa.dtype == torch.float32
    assert torch.allclose(xa, -xb, atol=1e-6)  # 255 - x maps to -(x / 127.5 - 1)
    fa, fb = data.fixed(2)
    ref = torch.from_numpy(np.stack(a[:2])).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(fa, ref) and fb.shape == (2, 3, 16, 16)
    assert tdata.to_float(np.stack(a)).is_contiguous()  # NCHW, as the networks expect
