"""The backend-free parts of the ``train-gan`` and ``translate`` steps, shared by every
backend: the dcgan / cdcgan and cyclegan training runs around the backend's data and trainer
classes, the training data of registered GAN trainers, and the PSNR/SSIM scores of
``translate``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .atomic import write_json
from .errors import StepError
from .images import folder_images, unpaired_from_folder


def _check_batch(ctx: Any, p: Any, n: int, unit: str) -> None:
    if n < p.batch_size:
        raise StepError(
            f"step '{ctx.step_id}': batch_size {p.batch_size} is larger than the {n} {unit}",
            hint="lower batch_size",
        )


def train_image_gan(
    ctx: Any,
    p: Any,
    make_data: Callable[[list[np.ndarray], list[int] | None], Any],
    trainer_cls: Callable[..., Any],
    label: str = "",
) -> dict[str, Any]:
    """The train-gan step for model dcgan / cdcgan: the images (of ``p.data``, or of
    ``p.folder``, one sub-folder per class for cdcgan), ``make_data(images, labels)`` (the
    backend's ``ImageData``), ``trainer_cls(ctx, p, data, n_classes, evaluator)`` (the
    backend's trainer), sample-quality curves with ``eval_data``; ``label`` follows the model
    name in the log (`` (keras)``, say)."""
    conditional = p.model == "cdcgan"
    classes: list[str] = []
    if p.data:
        src = ctx.images(p.data)
        images, labels = src.load_all(), src.labels
        if conditional and not labels:
            raise StepError(
                f"step '{ctx.step_id}': cdcgan needs labelled images, and {p.data} has no labels",
                hint="use a step that labels its images, a folder with one sub-folder per class, "
                "or model: dcgan",
            )
        classes = list(src.meta.get("classes", []))
    else:
        images, labels, classes = folder_images(ctx.resolve_path(p.folder), conditional)
    if not conditional:
        labels = None
    n_classes = int(max(labels)) + 1 if labels else 0
    data = make_data(images, labels)
    _check_batch(ctx, p, len(data), "training images")
    ctx.metrics["images"] = len(data)
    if n_classes:
        ctx.metrics["classes"] = n_classes
    evaluator = None
    launch = getattr(ctx, "launch", None)
    # sample-quality curves (artforge.quality), scored where the samples are written: rank 0
    if p.eval_data and (launch is None or launch.is_main):
        from .sample_scores import TrainingEval

        evaluator = TrainingEval.from_params(ctx, p, n_classes, classes)
    trainer = trainer_cls(ctx, p, data, n_classes, evaluator)
    ctx.log(
        f"  {p.model}{label}: {len(data)} images at {p.image_size}px"
        + (f", {n_classes} classes" if n_classes else "")
        + f", batch {p.batch_size}, {trainer.total_epochs} epochs on "
        f"{trainer.rt.describe()['device_name']}"
    )
    trainer.fit()
    if evaluator is not None:
        evaluator.finish(ctx, trainer.series)
    outputs = trainer.export(ctx)
    if classes:
        outputs["generator"].meta["classes"] = classes
    outputs["samples"] = trainer.copy_samples(ctx)
    return outputs


def load_size(p: Any) -> int:
    """The size images are resized to before the random ``image_size`` crops: ``load_size``,
    else 286/256 of ``image_size`` with ``jitter`` (the pix2pix / CycleGAN papers'), else
    ``image_size``."""
    return p.load_size or (round(p.image_size * 286 / 256) if p.jitter else p.image_size)


def unpaired_images(ctx: Any, p: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The two unpaired domains of a ``train-gan`` step: ``p.folder``'s trainA/ and trainB/
    (swapped by ``p.direction: BtoA``), else the images of ``p.source`` and ``p.target``.
    Used by cyclegan and the ``unpaired`` data of registered trainers on every backend."""
    if p.folder:
        return unpaired_from_folder(ctx.resolve_path(p.folder), p.direction)
    return ctx.images(p.source).load_all(), ctx.images(p.target).load_all()


def train_unpaired_gan(
    ctx: Any,
    p: Any,
    make_data: Callable[[list[np.ndarray], list[np.ndarray], int], Any],
    trainer_cls: Callable[..., Any],
    label: str = "",
) -> dict[str, Any]:
    """The train-gan step for model cyclegan: the two domains (:func:`unpaired_images`),
    ``make_data(a, b, load_size)`` (the backend's ``UnpairedData``), ``trainer_cls(ctx, p,
    data)`` (the backend's trainer); ``label`` follows the model name in the log."""
    a, b = unpaired_images(ctx, p)
    data = make_data(a, b, load_size(p))
    _check_batch(ctx, p, len(data), "training images")
    ctx.metrics["images_A"] = len(data.a)
    ctx.metrics["images_B"] = len(data.b)
    trainer = trainer_cls(ctx, p, data)
    ctx.log(
        f"  cyclegan{label}: {len(data.a)} A / {len(data.b)} B images at {p.image_size}px, "
        f"batch {p.batch_size}, {p.n_blocks} blocks, {trainer.total_epochs} epochs on "
        f"{trainer.rt.describe()['device_name']}"
    )
    trainer.fit()
    outputs = trainer.export(ctx)
    outputs["samples"] = trainer.copy_samples(ctx)
    return outputs


def registered_data(
    ctx: Any,
    p: Any,
    kind: str,
    *,
    paired: Callable[[int], Any],
    unpaired: Callable[[int], Any],
    images: Callable[[list[np.ndarray], list[int] | None], Any],
) -> tuple[Any, str]:
    """The training data of ``kind`` for a registered GAN trainer, built as the built-in
    models build theirs, and a few words on it for the log. The backend's constructors:
    ``paired(load_size)`` (as pix2pix), ``unpaired(load_size)`` (as cyclegan),
    ``images(images, labels)`` (as dcgan; the set's labels when it has them)."""
    load = load_size(p)
    if kind == "paired":
        data = paired(load)
        ctx.metrics["pairs"] = len(data)
        described, unit = f"{len(data)} pairs", "training pairs"
    elif kind == "unpaired":
        data = unpaired(load)
        ctx.metrics["images_A"] = len(data.a)
        ctx.metrics["images_B"] = len(data.b)
        described, unit = f"{len(data.a)} A / {len(data.b)} B images", "training images"
    elif kind == "images":
        if p.data:
            src = ctx.images(p.data)
            imgs, labels = src.load_all(), src.labels
        else:
            imgs, labels, _ = folder_images(ctx.resolve_path(p.folder), False)
        data = images(imgs, labels or None)
        ctx.metrics["images"] = len(data)
        described, unit = f"{len(data)} images", "training images"
    else:  # pragma: no cover - the registry refuses other kinds
        raise StepError(f"step '{ctx.step_id}': unknown training data kind {kind!r}")
    _check_batch(ctx, p, len(data), unit)
    return data, described


def translate_batches(
    images: Any, batch_size: int, alone_over: int = 1024
) -> Iterator[list[tuple[int, np.ndarray]]]:
    """The images of an image set as ``translate`` runs them, ``[(index, image), ...]`` a
    batch: decoded one at a time as the batches are taken (memory does not grow with the
    set); consecutive images of one size share a batch, ``batch_size`` at most; an image
    larger than ``alone_over`` px on a side goes alone (it is translated in tiles)."""
    batch: list[tuple[int, np.ndarray]] = []
    for i in range(len(images)):
        img = images.load(i)
        if batch and (img.shape != batch[0][1].shape or len(batch) >= batch_size):
            yield batch
            batch = []
        batch.append((i, img))
        if max(img.shape[:2]) > alone_over:
            yield batch
            batch = []
    if batch:
        yield batch


class TranslateScores:
    """PSNR/SSIM against ``target`` and, with ``baseline_*``, the affine colour baseline,
    image by image as ``translate`` writes them (nothing is kept but the numbers): outputs
    ``metrics`` (a metrics.json file) and, with a baseline, ``baseline`` (its images, named
    like the inputs). The same on every backend."""

    def __init__(self, ctx: Any, p: Any, names: list[str]):
        from .metrics import fit_affine_colour

        self.ctx, self.names = ctx, names
        self.target = target = ctx.images(p.target)
        t_index = {n: i for i, n in enumerate(target.names)}
        self.pairs = {i: t_index[n] for i, n in enumerate(names) if n in t_index}
        if not self.pairs:
            raise StepError(
                f"step '{ctx.step_id}': no target image shares a file name with the inputs"
            )
        self.coef = None
        self.writer = None
        if p.baseline_source:
            src, tgt = ctx.images(p.baseline_source), ctx.images(p.baseline_target)
            tmap = {n: i for i, n in enumerate(tgt.names)}
            sel = [(i, tmap[n]) for i, n in enumerate(src.names) if n in tmap]
            if not sel:
                raise StepError(
                    f"step '{ctx.step_id}': the baseline source and target share no file names"
                )
            self.coef = fit_affine_colour(
                [src.load(i) for i, _ in sel], [tgt.load(j) for _, j in sel]
            )
            ctx.info["baseline"] = (
                "per-channel affine colour map fitted by least squares on the training pairs"
            )
            self.writer = ctx.image_writer("baseline")
        self.per_image: dict[str, dict[str, float]] = {}

    def add(self, i: int, inp: np.ndarray, pred: np.ndarray) -> None:
        from .metrics import apply_affine_colour, psnr, ssim

        base = None
        if self.writer is not None:
            base = apply_affine_colour(inp, self.coef)
            self.writer.add(base, name=self.names[i])
        if i not in self.pairs:
            return
        truth = self.target.load(self.pairs[i])
        if pred.shape != truth.shape:
            return
        row = {"psnr": psnr(pred, truth), "ssim": ssim(pred, truth)}
        if base is not None:
            row["baseline_psnr"] = psnr(base, truth)
            row["baseline_ssim"] = ssim(base, truth)
        self.per_image[self.names[i]] = {k: round(v, 4) for k, v in row.items()}

    def finish(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        if self.writer is not None:
            outputs["baseline"] = self.writer.finish(
                method="per-channel affine colour map", coefficients=self.coef.round(5).tolist()
            )
        return _summary(self.ctx, self.coef, self.per_image, outputs)


def _summary(
    ctx: Any, coef: Any, per_image: dict[str, dict[str, float]], outputs: dict[str, Any]
) -> dict[str, Any]:
    """The mean scores into ``ctx.metrics`` and metrics.json (the ``metrics`` output)."""
    if not per_image:
        raise StepError(f"step '{ctx.step_id}': targets and outputs differ in size; cannot score")
    keys = next(iter(per_image.values())).keys()
    means = {k: round(float(np.mean([r[k] for r in per_image.values()])), 4) for k in keys}
    ctx.metrics.update(means)
    if coef is not None:
        ctx.metrics["psnr_margin_db"] = round(means["psnr"] - means["baseline_psnr"], 3)
    ctx.metrics["scored_images"] = len(per_image)
    ctx.metrics["per_image"] = per_image
    art = ctx.file_artifact("metrics", "metrics.json")
    summary: dict[str, Any] = {"mean": means, "psnr_margin_db": ctx.metrics.get("psnr_margin_db")}
    if coef is not None:
        summary["baseline"] = {
            "method": "per-channel affine colour map, least squares on the training pairs",
            "coefficients": {c: coef[k].round(6).tolist() for k, c in enumerate("RGB")},
        }
    summary["per_image"] = per_image
    write_json(art.path, summary)
    outputs["metrics"] = art
    return outputs
