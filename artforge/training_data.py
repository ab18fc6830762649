"""Training data of the GANs, once for every backend (numpy only).

Four kinds, decoded once into uint8 arrays (NHWC) and augmented per batch:

- :class:`PairedData` (pix2pix): pairs with the same file name in two image sets, a folder in
  the pix2pix aligned format (A|B side by side) or with ``A/`` and ``B/`` sub-folders; both
  sides of a pair get the same crop and flip;
- :class:`UnpairedData` (CycleGAN): two domains of any sizes and counts, each shuffled,
  cropped and flipped on its own; an epoch is ``max(N_A, N_B)`` images, the smaller domain
  wrapping around in further shuffles;
- :class:`ImageData` (DCGAN) and, with labels, the labelled images of the cDCGAN.

Augmentation as in pix2pix: resize to ``load_size``, a random ``image_size`` crop and a random
horizontal flip. A batch is a pure function of the **epoch seed** and the batch index: the
epoch's order comes from ``numpy.random.default_rng(seed)``, the crops and flips of batch
``k`` from ``default_rng(derive_seed(seed, "batch", k))``, where ``seed`` is
:func:`epoch_seed` ``(step seed, epoch)``. So the same step seed gives the same batches on
every backend, in any process, after a resume, and whatever a loader fetches ahead.

Batches are uint8 NHWC: ``(B, S, S, 6)`` for paired and unpaired data (A | B on the channel
axis), ``(images (B, S, S, 3), labels (B,) int64 or None)`` for images. A backend's adapter
(``artforge_torch.data``, ``artforge_keras.data``) turns them into its tensors, in the
prefetch thread when it passes ``convert``.

Data-parallel: ``shard=(rank, world_size)`` keeps this process's slice of every batch. The
order, crops and flips are drawn for the whole (global) batch, so the slices of all
processes together are exactly the batch of one process.

Prefetching: :meth:`EpochData.epoch` prepares the next batches on a background thread (a
bounded queue, ``prefetch`` batches ahead), so the training loop does not wait for cropping
and conversion.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .images import list_images, load_image, resize, resize_crop
from .seeding import derive_seed

Shard = tuple[int, int]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch of a step whose seed is ``seed`` (what every backend passes)."""
    return derive_seed(seed, "epoch", epoch)


def square(img: np.ndarray, size: int, method: str = "bicubic") -> np.ndarray:
    """An RGB image as size x size: resized when square (``method``), else resize-and-crop."""
    img = img[..., :3]
    h, w = img.shape[:2]
    if h == w == size:
        return img
    if h == w:
        return resize(img, (size, size), method)
    return resize_crop(img, size)


# -- sources --------------------------------------------------------------------------------------
def paired_from_sets(src: Any, tgt: Any) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Pairs of images with the same file name in two image sets."""
    tgt_index = {name: i for i, name in enumerate(tgt.names)}
    names, a, b = [], [], []
    for i, name in enumerate(src.names):
        j = tgt_index.get(name)
        if j is None:
            continue
        names.append(name)
        a.append(src.load(i))
        b.append(tgt.load(j))
    if not names:
        raise DataError(
            "no pairs: the source and target image sets share no file names",
            hint="paired training needs images with the same names on both sides",
        )
    return names, a, b


def paired_from_folder(
    folder: Path, direction: str = "AtoB"
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """An aligned folder (A|B side by side) or a folder with A/ and B/ sub-folders."""
    if not folder.is_dir():
        raise DataError(f"training folder not found: {folder}")
    names, a, b = [], [], []
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        b_files = {p.stem: p for p in list_images(folder / "B")}
        for p in list_images(folder / "A"):
            if p.stem in b_files:
                names.append(p.stem)
                a.append(load_image(p))
                b.append(load_image(b_files[p.stem]))
        if not names:
            raise DataError(f"no matching file names in {folder / 'A'} and {folder / 'B'}")
    else:
        files = list_images(folder)
        if not files:
            raise DataError(
                f"no images in {folder}",
                hint="expected aligned A|B images or A/ and B/ sub-folders",
            )
        for p in files:
            img = load_image(p)
            w = img.shape[1]
            if w % 2:
                raise DataError(
                    f"{p} is not an aligned pair: its width {w} is odd",
                    hint="the aligned format puts A and B side by side, each half the width",
                )
            names.append(p.stem)
            a.append(img[:, : w // 2])
            b.append(img[:, w // 2 :])
    if direction == "BtoA":
        a, b = b, a
    return names, a, b


# -- augmentation ---------------------------------------------------------------------------------
def shard_slice(n: int, shard: Shard) -> slice:
    """This process's part of a batch of ``n``: rank r of w keeps ``[n*r//w, n*(r+1)//w)``."""
    rank, world = shard
    return slice(n * rank // world, n * (rank + 1) // world)


def crop_flip(
    stack: np.ndarray, idx: np.ndarray, size: int, flip: bool, rng: np.random.Generator, part: slice
) -> np.ndarray:
    """Random ``size`` crops (when the images are larger) and horizontal flips of
    ``stack[idx]``, drawn for all of ``idx`` (in that order: offsets, then flips) and kept
    for ``idx[part]``: uint8 (len(idx[part]), size, size, C)."""
    n, load = len(idx), stack.shape[1]
    offs = rng.integers(0, load - size + 1, (n, 2)) if load > size else np.zeros((n, 2), np.int64)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    idx, offs, flips = idx[part], offs[part], flips[part]
    out = np.empty((len(idx), size, size, stack.shape[-1]), np.uint8)
    for k, (i, (y, x), f) in enumerate(zip(idx, offs, flips)):
        crop = stack[i, y : y + size, x : x + size]
        out[k] = crop[:, ::-1] if f else crop
    return out


def centre(stack: np.ndarray, count: int, size: int) -> np.ndarray:
    """The first ``count`` images, centre-cropped to ``size``."""
    o = (stack.shape[1] - size) // 2
    return stack[:count, o : o + size, o : o + size]


# -- prefetching ----------------------------------------------------------------------------------
class Prefetcher:
    """Iterates ``items`` on a daemon thread, at most ``depth`` items ahead (a bounded queue).

    An exception raised while producing an item is raised again by ``next`` in the consumer.
    ``close()`` (also on garbage collection, e.g. when a loop breaks out early) stops the
    thread; the thread holds no reference to this object, so an abandoned one is collected.
    """

    def __init__(self, items: Iterable[Any], depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce,
            args=(iter(items), self._queue, self._stop),
            daemon=True,
            name="artforge-prefetch",
        )
        self._thread.start()

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        kind, item = self._queue.get()
        if kind == "item":
            return item
        self.close()
        if kind == "error":
            raise item
        raise StopIteration

    def close(self) -> None:
        self._done = True
        self._stop.set()

    def __del__(self) -> None:
        self._stop.set()


def _produce(items: Iterator[Any], out: queue.Queue, stop: threading.Event) -> None:
    def put(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                out.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in items:
            if not put(("item", item)):
                return
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
        put(("error", exc))
        return
    put(("end", None))


# -- datasets -------------------------------------------------------------------------------------
class EpochData:
    """Base of the datasets: ``len``, ``batches_per_epoch`` (drop_last), ``order(seed,
    batch_size)`` (the epoch's plan), ``batch(seed, index, batch_size, shard, order)`` and
    ``epoch(batch_size, seed, shard)`` (the batches, prefetched). ``seed`` is the step seed,
    for :meth:`epoch_seed`; batches depend only on the epoch seed passed in."""

    image_size: int
    seed: int = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def batches_per_epoch(self, batch_size: int) -> int:
        return max(1, len(self) // batch_size)

    def epoch_seed(self, epoch: int) -> int:
        return epoch_seed(self.seed, epoch)

    def order(self, seed: int, batch_size: int) -> Any:
        raise NotImplementedError

    def batch(
        self, seed: int, index: int, batch_size: int, shard: Shard = (0, 1), order: Any = None
    ) -> Any:
        raise NotImplementedError

    def epoch(
        self,
        batch_size: int,
        seed: int,
        shard: Shard = (0, 1),
        *,
        start: int = 0,
        prefetch: int = 2,
        convert: Callable[[Any], Any] | None = None,
    ) -> Iterator[Any]:
        """The batches ``start..`` of the epoch whose seed is ``seed`` (:func:`epoch_seed`),
        each passed through ``convert`` (a backend's tensors), prepared ``prefetch`` ahead on
        a background thread (0: in the caller's thread)."""
        order = self.order(seed, batch_size)

        def batches() -> Iterator[Any]:
            for k in range(start, self.batches_per_epoch(batch_size)):
                b = self.batch(seed, k, batch_size, shard, order)
                yield convert(b) if convert is not None else b

        return Prefetcher(batches(), prefetch) if prefetch > 0 else batches()

    @staticmethod
    def _rng(seed: int, index: int) -> np.random.Generator:
        return np.random.default_rng(derive_seed(seed, "batch", index))


class PairedData(EpochData):
    """Paired images as one uint8 array (N, L, L, 6) (A | B); batches (B, S, S, 6) with the
    same crop and flip on both sides."""

    def __init__(
        self,
        sources: list[np.ndarray],
        targets: list[np.ndarray],
        image_size: int,
        load_size: int,
        flip: bool,
        seed: int = 0,
    ):
        if not sources:
            raise DataError("no training pairs")
        self.image_size, self.load_size, self.flip, self.seed = image_size, load_size, flip, seed
        self.data = np.stack(
            [
                np.concatenate([square(a, load_size), square(b, load_size)], axis=2)
                for a, b in zip(sources, targets)
            ]
        )

    def __len__(self) -> int:
        return len(self.data)

    def order(self, seed: int, batch_size: int) -> np.ndarray:
        return np.random.default_rng(seed).permutation(len(self))

    def batch(self, seed, index, batch_size, shard=(0, 1), order=None) -> np.ndarray:
        order = self.order(seed, batch_size) if order is None else order
        idx = order[index * batch_size : (index + 1) * batch_size]
        part = shard_slice(len(idx), shard)
        return crop_flip(self.data, idx, self.image_size, self.flip, self._rng(seed, index), part)

    def fixed(self, count: int) -> np.ndarray:
        """The first ``count`` pairs, centre-cropped (B, S, S, 6): the sample grids' input."""
        return centre(self.data, count, self.image_size)


class UnpairedData(EpochData):
    """Two unpaired domains as uint8 arrays (N_A, L, L, 3) and (N_B, L, L, 3); batches
    (B, S, S, 6) (a | b), each side in its own order with its own crops and flips."""

    def __init__(
        self,
        a: list[np.ndarray],
        b: list[np.ndarray],
        image_size: int,
        load_size: int,
        flip: bool,
        seed: int = 0,
    ):
        if not a or not b:
            raise DataError(
                "cyclegan needs images in both domains", hint="check `source` and `target`"
            )
        self.image_size, self.load_size, self.flip, self.seed = image_size, load_size, flip, seed
        self.a = np.stack([square(x, load_size) for x in a])
        self.b = np.stack([square(x, load_size) for x in b])

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def order(self, seed: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Each domain's order for the epoch's ``batches * batch_size`` positions: shuffles
        of the domain one after the other (A's first, then B's, from one generator)."""
        rng = np.random.default_rng(seed)
        count = self.batches_per_epoch(batch_size) * batch_size

        def one(n: int) -> np.ndarray:
            return np.concatenate([rng.permutation(n) for _ in range(-(-count // n))])[:count]

        return one(len(self.a)), one(len(self.b))

    def batch(self, seed, index, batch_size, shard=(0, 1), order=None) -> np.ndarray:
        order_a, order_b = self.order(seed, batch_size) if order is None else order
        sel = slice(index * batch_size, (index + 1) * batch_size)
        rng = self._rng(seed, index)
        part = shard_slice(len(order_a[sel]), shard)
        s, f = self.image_size, self.flip
        xa = crop_flip(self.a, order_a[sel], s, f, rng, part)
        xb = crop_flip(self.b, order_b[sel], s, f, rng, part)
        return np.concatenate([xa, xb], axis=-1)

    def fixed(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``count`` images of each domain, centre-cropped (the sample grids)."""
        return centre(self.a, count, self.image_size), centre(self.b, count, self.image_size)


class ImageData(EpochData):
    """Training images as one uint8 array (N, S, S, 3), with integer labels for a
    conditional model; batches ``(images (B, S, S, 3), labels (B,) int64 or None)``,
    shuffled per epoch and optionally flipped (no crops: images are fitted to ``size``)."""

    def __init__(
        self,
        images: list[np.ndarray],
        labels: list[int] | None,
        size: int,
        flip: bool,
        seed: int = 0,
    ):
        if not images:
            raise DataError("no training images")
        self.data = np.stack([square(img, size, "lanczos") for img in images])
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.image_size, self.flip, self.seed = size, flip, seed

    def __len__(self) -> int:
        return len(self.data)

    def order(self, seed: int, batch_size: int) -> np.ndarray:
        return np.random.default_rng(seed).permutation(len(self))

    def batch(self, seed, index, batch_size, shard=(0, 1), order=None):
        order = self.order(seed, batch_size) if order is None else order
        idx = order[index * batch_size : (index + 1) * batch_size]
        part = shard_slice(len(idx), shard)
        x = crop_flip(self.data, idx, self.image_size, self.flip, self._rng(seed, index), part)
        return x, None if self.labels is None else self.labels[idx[part]]
