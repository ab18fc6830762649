"""The GANs' training data (artforge.training_data, numpy only): batches are a pure function
of the epoch seed and index, pairs share crops and flips, shards make up the batch, the
prefetch thread hands over batches, errors and stops cleanly."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from artforge.errors import DataError
from artforge.training_data import (
    ImageData,
    PairedData,
    Prefetcher,
    UnpairedData,
    epoch_seed,
)

RNG = np.random.default_rng(0)


def _images(n: int, size: int) -> list[np.ndarray]:
    return [RNG.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def _epoch(data, batch_size, seed, shard=(0, 1), **kw):
    return list(data.epoch(batch_size, seed, shard, **kw))


def test_paired_batches_are_a_pure_function_of_the_epoch_seed():
    a = _images(8, 20)
    data = PairedData(a, [255 - x for x in a], 16, 20, flip=True)
    assert data.data.shape == (8, 20, 20, 6) and data.batches_per_epoch(3) == 2
    first = _epoch(data, 3, epoch_seed(7, 0))
    assert len(first) == 2 and all(b.shape == (3, 16, 16, 6) and b.dtype == np.uint8 for b in first)
    again = _epoch(data, 3, epoch_seed(7, 0), prefetch=0)  # no thread: the same batches
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    # random access (what Keras' PyDataset does) gives the same batch as the stream
    np.testing.assert_array_equal(data.batch(epoch_seed(7, 0), 1, 3), first[1])
    other = _epoch(data, 3, epoch_seed(7, 1))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other))
    for batch in first:  # both sides share the crop and the flip
        np.testing.assert_array_equal(batch[..., 3:], 255 - batch[..., :3])


def test_crops_and_flips_cover_the_jitter():
    img = _images(1, 20)[0]  # every crop differs
    data = PairedData([img] * 64, [img] * 64, 16, 20, flip=True)
    batch = data.batch(epoch_seed(0, 0), 0, 64)
    crops = {
        (y, x, f)
        for b in batch[..., :3]
        for y in range(5)
        for x in range(5)
        for f in (False, True)
        if np.array_equal(
            b, (img[y : y + 16, x : x + 16][:, ::-1] if f else img[y : y + 16, x : x + 16])
        )
    }
    assert len(crops) > 20  # many of the 5 x 5 offsets, flipped and not
    assert {f for _, _, f in crops} == {False, True}
    small = img[2:18, 2:18]
    still = PairedData([small] * 4, [small] * 4, 16, 16, flip=False)  # no jitter, no flips
    np.testing.assert_array_equal(still.batch(1, 0, 4)[..., :3], np.stack([small] * 4))
    np.testing.assert_array_equal(data.fixed(2)[..., 3:], np.stack([img[2:18, 2:18]] * 2))


@pytest.mark.parametrize("kind", ["paired", "unpaired", "images"])
def test_shards_of_every_batch_make_up_the_batch(kind):
    a = _images(9, 18)
    if kind == "paired":
        data = PairedData(a, [255 - x for x in a], 16, 18, flip=True)
    elif kind == "unpaired":
        data = UnpairedData(a, _images(5, 18), 16, 18, flip=True)
    else:
        data = ImageData(a, list(range(9)), 18, flip=True)
    seed = epoch_seed(3, 2)
    whole = _epoch(data, 4, seed)
    halves = [_epoch(data, 4, seed, (r, 2)) for r in range(2)]
    assert len(whole) == 2
    for k, batch in enumerate(whole):
        if kind == "images":
            x = np.concatenate([halves[0][k][0], halves[1][k][0]])
            y = np.concatenate([halves[0][k][1], halves[1][k][1]])
            np.testing.assert_array_equal(x, batch[0])
            np.testing.assert_array_equal(y, batch[1])
        else:
            assert halves[0][k].shape[0] == 2
            np.testing.assert_array_equal(np.concatenate([halves[0][k], halves[1][k]]), batch)


def test_unpaired_domains_shuffle_on_their_own_and_the_smaller_wraps_around():
    data = UnpairedData(_images(6, 20), _images(4, 20), 16, 20, flip=True)
    assert len(data) == 6 and data.batches_per_epoch(2) == 3
    order_a, order_b = data.order(epoch_seed(0, 0), 2)
    assert sorted(order_a.tolist()) == list(range(6))
    assert sorted(order_b[:4].tolist()) == [0, 1, 2, 3] and len(order_b) == 6
    batches = _epoch(data, 2, epoch_seed(0, 0))
    assert len(batches) == 3 and all(b.shape == (2, 16, 16, 6) for b in batches)
    fa, fb = data.fixed(3)
    assert fa.shape == fb.shape == (3, 16, 16, 3)
    with pytest.raises(DataError, match="both domains"):
        UnpairedData(_images(2, 16), [], 16, 16, flip=False)


def test_images_keep_their_labels_through_shuffles_and_flips():
    imgs = _images(10, 40)  # fitted to 32 (Lanczos)
    data = ImageData(imgs, list(range(10)), 32, flip=True)
    assert data.data.shape == (10, 32, 32, 3) and data.labels.dtype == np.int64
    for x, y in _epoch(data, 4, epoch_seed(1, 0)):
        assert x.shape == (4, 32, 32, 3) and sorted(set(y.tolist())) == sorted(y.tolist())
        for img, label in zip(x, y):
            ref = data.data[label]
            assert np.array_equal(img, ref) or np.array_equal(img, ref[:, ::-1])
    x, y = ImageData(imgs, None, 32, flip=False).batch(0, 0, 4)
    assert y is None and x.shape == (4, 32, 32, 3)


def test_prefetch_runs_ahead_on_a_thread_and_passes_errors_on():
    made: list[int] = []

    def slow():
        for i in range(5):
            made.append(i)
            yield i

    it = Prefetcher(slow(), depth=2)
    deadline = time.monotonic() + 5
    while len(made) < 3 and time.monotonic() < deadline:  # 2 queued + 1 waiting to be put
        time.sleep(0.01)
    assert made == [0, 1, 2]  # bounded: no further
    assert list(it) == [0, 1, 2, 3, 4]

    def broken():
        yield 1
        raise DataError("bad image", hint="fix it")

    it = Prefetcher(broken())
    assert next(it) == 1
    with pytest.raises(DataError, match="bad image"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_an_abandoned_prefetch_thread_stops():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    it = Prefetcher(endless(), depth=1)
    assert next(it) == 0
    del it  # a training loop that breaks out early drops its iterator
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == before
