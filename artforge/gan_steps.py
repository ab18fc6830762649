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


def unet_kwargs(p: Any) -> dict[str, Any]:
    """The pix2pix U-Net generator's arguments from train-gan's parameters (every backend's
    ``UNetGenerator`` takes these; they are stored in the model's meta)."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "image_size": p.image_size,
        "ngf": p.ngf,
        "norm": p.norm,
        "dropout": p.dropout,
    }


def resnet_kwargs(p: Any) -> dict[str, Any]:
    """The CycleGAN ResNet generator's arguments from train-gan's parameters."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "ngf": p.ngf,
        "n_blocks": p.n_blocks,
        "norm": p.norm,
        "dropout": p.dropout,
        "upsample": p.upsample,
        "head": p.head,
    }


def patchgan_kwargs(p: Any, in_channels: int) -> dict[str, Any]:
    """The PatchGAN discriminator's arguments from train-gan's parameters: ``in_channels`` 6
    for pix2pix (source and target together), 3 for CycleGAN; no normalisation under the
    WGAN-GP penalty (it is per-sample)."""
    return {
        "in_channels": in_channels,
        "ndf": p.ndf,
        "n_layers": p.n_layers_d,
        "norm": p.norm if p.loss != "wgan-gp" else "none",
        "spectral_norm": p.spectral_norm,
    }


def registered_data(ctx: Any, p: Any, kind: str, classes: Any) -> tuple[Any, str]:
    """The training data of ``kind`` for a registered GAN trainer, built as the built-in
    models build theirs, and a few words on it for the log. ``classes`` holds the backend's
    data classes (its ``data`` module: ``PairedData``, ``UnpairedData``, ``ImageData``, the
    core's :mod:`artforge.training_data` classes or adapters of them): ``paired`` as pix2pix
    (``source``/``target`` paired by file name, or an aligned ``folder``), ``unpaired`` as
    cyclegan, ``images`` as dcgan (with the set's labels when it has them)."""
    from .training_data import paired_from_folder, paired_from_sets

    def paired(load: int) -> Any:
        if p.folder:
            _, a, b = paired_from_folder(ctx.resolve_path(p.folder), p.direction)
        else:
            _, a, b = paired_from_sets(ctx.images(p.source), ctx.images(p.target))
        return classes.PairedData(a, b, p.image_size, load, p.flip, seed=ctx.seed)

    def unpaired(load: int) -> Any:
        a, b = unpaired_images(ctx, p)
        return classes.UnpairedData(a, b, p.image_size, load, p.flip, seed=ctx.seed)

    def images(imgs: list[np.ndarray], labels: list[int] | None) -> Any:
        return classes.ImageData(imgs, labels, p.image_size, p.flip, seed=ctx.seed)

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


def image_to_image(ctx: Any, meta: dict[str, Any]) -> None:
    """Refuse, for ``translate``, a generator that draws images from noise (``nz`` in its
    meta: dcgan, cdcgan, or a registered one)."""
    if meta.get("nz") is not None:
        raise StepError(
            f"step '{ctx.step_id}': cannot translate with a '{meta.get('arch')}' model: it "
            "draws images from noise",
            hint="sample from it with the sample step; translate takes an image-to-image "
            "generator (pix2pix, cyclegan, or one a plugin registers)",
        )


def noise_to_image(ctx: Any, meta: dict[str, Any]) -> None:
    """Refuse, for ``sample``, a generator that does not draw images from noise (no ``nz``
    in its meta: pix2pix, cyclegan)."""
    if meta.get("nz") is None:
        raise StepError(
            f"step '{ctx.step_id}': expected a dcgan/cdcgan generator (a model with nz in its "
            f"meta), got a '{meta.get('arch')}' model",
            hint="sample from the generator of a train-gan step with model: dcgan or cdcgan, "
            "or of a registered trainer whose generator maps noise to images",
        )


def translate_images(
    ctx: Any, p: Any, predict: Callable[[np.ndarray, bool], np.ndarray]
) -> dict[str, Any]:
    """The ``translate`` step's loop, the same on every backend: ``predict(x, tiled)`` maps
    uint8 (N, H, W, 3) images to the generator's uint8 translations (``tiled``: the images are
    over 1024 px or the recipe sets ``tile``, so the backend runs them tile by tile). One image
    at a time is decoded, translated, written and dropped (memory does not grow with the set);
    consecutive images of one size up to 1024 px share a forward pass, ``batch_size`` at a
    time; larger ones go alone. Scored against ``target`` and the baselines when it is set."""
    images = ctx.images(p.images)
    if len(images) == 0:
        raise StepError(f"step '{ctx.step_id}': no images to translate")
    ctx.info["compare"] = {"before": p.images, "after": "images"}
    out = ctx.image_writer("images")
    progress = ctx.progress(len(images), "translating")
    names = images.names
    scores = TranslateScores(ctx, p, names) if p.target else None
    for batch in translate_batches(images, p.batch_size):
        x = np.stack([img for _, img in batch])
        preds = predict(x, p.tile is not None or max(x.shape[1:3]) > 1024)
        for (i, img), pred in zip(batch, preds):
            out.add(pred, name=names[i])
            if scores is not None:
                scores.add(i, img, pred)
        progress.update(len(batch))
    progress.close()
    outputs = {"images": out.finish()}
    if scores is not None:
        outputs.update(scores.finish())
    return outputs


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


# image outputs of the baselines beside ``images`` (``baseline``: the affine map, as before)
BASELINE_OUTPUTS = {
    "affine": "baseline",
    "mean_image": "baseline_mean",
    "colour_matrix": "baseline_matrix",
    "pixel_ridge": "baseline_ridge",
}


class TranslateScores:
    """PSNR/SSIM against ``target`` and, with ``baseline_*``, beside the baselines of
    :mod:`artforge.translate_baselines` fitted on those training pairs, image by image as
    ``translate`` writes them (nothing is kept but the numbers). Outputs ``metrics`` (a
    metrics.json file) and, with baselines, their images (:data:`BASELINE_OUTPUTS`, named like
    the inputs). ``baseline_psnr``/``baseline_ssim`` and ``psnr_margin_db`` are against the
    strongest baseline by PSNR on the images scored, named in ``strongest_baseline``. The
    same on every backend."""

    def __init__(self, ctx: Any, p: Any, names: list[str]):
        from .translate_baselines import fit_baselines

        self.ctx, self.names = ctx, names
        self.target = target = ctx.images(p.target)
        t_index = {n: i for i, n in enumerate(target.names)}
        self.pairs = {i: t_index[n] for i, n in enumerate(names) if n in t_index}
        if not self.pairs:
            raise StepError(
                f"step '{ctx.step_id}': no target image shares a file name with the inputs"
            )
        self.baselines: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}
        self.skipped: set[str] = set()
        if p.baseline_source:
            src, tgt = ctx.images(p.baseline_source), ctx.images(p.baseline_target)
            tmap = {n: i for i, n in enumerate(tgt.names)}
            sel = [(i, tmap[n]) for i, n in enumerate(src.names) if n in tmap]
            if not sel:
                raise StepError(
                    f"step '{ctx.step_id}': the baseline source and target share no file names"
                )
            pairs = ((src.load(i), tgt.load(j)) for i, j in sel)
            try:
                self.baselines = fit_baselines(pairs, p.baselines)
            except ValueError as e:  # a source and its target of different sizes
                raise StepError(
                    f"step '{ctx.step_id}': cannot fit the baselines on {p.baseline_source} -> "
                    f"{p.baseline_target}: {e}",
                    hint="give baseline_source and baseline_target images of the same size, pair by pair",
                ) from None
            for name in set(p.baselines) - set(self.baselines):
                ctx.warn(f"baseline {name} left out: the training pairs differ in size")
            ctx.info["baselines"] = {
                n: f"{b.description}, fitted on {len(sel)} training pairs"
                for n, b in self.baselines.items()
            }
            self.writers = {n: ctx.image_writer(BASELINE_OUTPUTS[n]) for n in self.baselines}
        self.per_image: dict[str, dict[str, float]] = {}

    def add(self, i: int, inp: np.ndarray, pred: np.ndarray) -> None:
        from .metrics import psnr, ssim

        bases = {}
        for name, b in self.baselines.items():
            if not b.applies(inp.shape):
                if name not in self.skipped:
                    self.skipped.add(name)
                    self.ctx.warn(
                        f"baseline {name} left out: it applies to {b.shape[1]}x{b.shape[0]} "
                        f"images only, and {self.names[i]} is {inp.shape[1]}x{inp.shape[0]}"
                    )
                continue
            bases[name] = b.apply(inp)
            self.writers[name].add(bases[name], name=self.names[i])
        if i not in self.pairs:
            return
        truth = self.target.load(self.pairs[i])
        if pred.shape != truth.shape:
            return
        row = {"psnr": psnr(pred, truth), "ssim": ssim(pred, truth)}
        for name, base in bases.items():
            row[f"{name}_psnr"] = psnr(base, truth)
            row[f"{name}_ssim"] = ssim(base, truth)
        self.per_image[self.names[i]] = {k: round(v, 4) for k, v in row.items()}

    def finish(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for name, w in self.writers.items():
            b = self.baselines[name]
            meta: dict[str, Any] = {"method": b.description}
            if name == "affine":
                meta["coefficients"] = _affine_coef(b).round(5).tolist()
            outputs[BASELINE_OUTPUTS[name]] = w.finish(**meta)
        scored = [n for n in self.baselines if n not in self.skipped]
        return _summary(self.ctx, self.baselines, scored, self.per_image, outputs)


def _affine_coef(b: Any) -> np.ndarray:
    """The affine baseline as (3, 2) ``[[a_R, b_R], ...]`` (on 0-255 values: the bias scales)."""
    w = b.weights
    return np.array([[w[c, c], w[3, c] * 255.0] for c in range(3)])


def _summary(
    ctx: Any,
    baselines: dict[str, Any],
    scored: list[str],
    per_image: dict[str, dict[str, float]],
    outputs: dict[str, Any],
) -> dict[str, Any]:
    """The mean scores into ``ctx.metrics`` and metrics.json (the ``metrics`` output)."""
    from .translate_baselines import strongest

    if not per_image:
        raise StepError(f"step '{ctx.step_id}': targets and outputs differ in size; cannot score")
    rows = list(per_image.values())
    means = {k: round(float(np.mean([r[k] for r in rows if k in r])), 4) for k in rows[0]}
    table = {n: {"psnr": means[f"{n}_psnr"], "ssim": means[f"{n}_ssim"]} for n in scored}
    m = ctx.metrics
    m["psnr"], m["ssim"] = means["psnr"], means["ssim"]
    summary: dict[str, Any] = {"mean": means}
    if table:
        best = strongest(table)
        # the strongest first: the gallery's deltas are against the first baseline
        m["baseline_psnr"], m["baseline_ssim"] = table[best]["psnr"], table[best]["ssim"]
        m["strongest_baseline"] = best
        m["psnr_margin_db"] = round(means["psnr"] - table[best]["psnr"], 3)
        m["ssim_margin"] = round(means["ssim"] - table[best]["ssim"], 4)
        for n in scored:
            m[f"{n}_psnr"], m[f"{n}_ssim"] = table[n]["psnr"], table[n]["ssim"]
        summary.update(
            strongest_baseline=best,
            psnr_margin_db=m["psnr_margin_db"],
            ssim_margin=m["ssim_margin"],
            baselines={
                n: {**table[n], "method": baselines[n].description, **baselines[n].info}
                for n in scored
            },
        )
        if "affine" in baselines:
            coef = _affine_coef(baselines["affine"])
            summary["baseline"] = {
                "method": "per-channel affine colour map, least squares on the training pairs",
                "coefficients": {c: coef[k].round(6).tolist() for k, c in enumerate("RGB")},
            }
    m["scored_images"] = len(per_image)
    m["per_image"] = per_image
    art = ctx.file_artifact("metrics", "metrics.json")
    summary["per_image"] = per_image
    write_json(art.path, summary)
    outputs["metrics"] = art
    return outputs


# -- the GAN step types, declared once for every backend ---------------------------------------
TRANSLATE_OUTPUTS = ("images", "metrics", *BASELINE_OUTPUTS.values())


def gan_step_types(backend: str, module: str, sample_module: str, note: str = "") -> list[Any]:
    """The ``train-gan``, ``translate`` and ``sample`` step types of ``backend``: the same
    schema, outputs, version and description on every backend (``note`` adds a few words);
    ``module`` holds the backend's ``train_gan`` and ``translate`` runtimes (``"pkg.mod"``),
    ``sample_module`` its ``sample``. Every model, generator and trainer they use comes from
    the registry (``register_models``, ``register_trainers``)."""
    from .registry import StepType
    from .schemas.gan import SampleParams, TrainGanParams, TranslateParams

    return [
        StepType(
            name="train-gan",
            params=TrainGanParams,
            run=f"{module}:train_gan",
            outputs=("generator", "samples"),
            description=f"Train a GAN{note} (pix2pix, dcgan, cdcgan, cyclegan, or a registered "
            "trainer) with checkpoints, resume and a divergence guard",
            backend=backend,
            version="2",  # 2: the core data pipeline (artforge.training_data): new crops, flips, order
        ),
        StepType(
            name="translate",
            params=TranslateParams,
            run=f"{module}:translate",
            outputs=TRANSLATE_OUTPUTS,
            description=f"Apply a trained generator{note} (any registered architecture) to "
            "images of any size (padding or tiling); PSNR/SSIM vs a target",
            backend=backend,
            version="3",  # 3: four baselines (their images are outputs), the margin against the strongest
        ),
        StepType(
            name="sample",
            params=SampleParams,
            run=f"{sample_module}:sample",
            outputs=("images", "grid", "walk"),
            description=f"Draw images from a trained noise-to-image generator{note} "
            "(dcgan/cdcgan or a registered one): labelled samples, a per-class grid, a latent "
            "walk (slerp) strip and looping GIF; scores vs real images",
            backend=backend,
            version="2",  # 2: precision/recall, diversity, novelty, means_* and flags
        ),
    ]
