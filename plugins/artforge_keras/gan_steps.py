"""The ``train-gan`` and ``translate`` steps of the Keras backend (same parameters, outputs,
metrics and curves as the PyTorch backend's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from artforge.api import StepError, write_json

# model name -> "module:function(ctx, params) -> outputs"; other GANs add themselves here.
TRAINERS: dict[str, str] = {
    "pix2pix": "artforge_keras.gan_steps:train_pix2pix",
    "cyclegan": "artforge_keras.cyclegan:train_cyclegan",
    "dcgan": "artforge_keras.gan_steps:train_dcgan",
    "cdcgan": "artforge_keras.gan_steps:train_dcgan",
}


def train_gan(ctx: Any, p: Any) -> dict[str, Any]:
    spec = TRAINERS.get(p.model)
    if spec is None:
        raise StepError(
            f"step '{ctx.step_id}': model '{p.model}' is not available in the keras backend yet",
            hint=f"available: {', '.join(sorted(TRAINERS))}; or run this step with backend: torch",
        )
    from artforge.registry import load_object

    return load_object(spec)(ctx, p)


def train_pix2pix(ctx: Any, p: Any) -> dict[str, Any]:
    from .data import PairedData, paired_from_folder, paired_from_sets
    from .pix2pix import Pix2PixTrainer

    if p.folder:
        names, a, b = paired_from_folder(ctx.resolve_path(p.folder), p.direction)
    else:
        names, a, b = paired_from_sets(ctx.images(p.source), ctx.images(p.target))
    load = p.load_size or (round(p.image_size * 286 / 256) if p.jitter else p.image_size)
    data = PairedData(a, b, p.image_size, load, p.flip, seed=ctx.seed)
    if len(data) < p.batch_size:
        raise StepError(
            f"step '{ctx.step_id}': batch_size {p.batch_size} is larger than the {len(data)} "
            "training pairs",
            hint="lower batch_size",
        )
    ctx.metrics["pairs"] = len(data)
    trainer = Pix2PixTrainer(ctx, p, data)
    ctx.log(
        f"  pix2pix (keras): {len(data)} pairs at {p.image_size}px, batch {p.batch_size}, "
        f"{trainer.total_epochs} epochs on {trainer.rt.describe()['device_name']}"
    )
    trainer.fit()
    outputs = trainer.export(ctx)
    outputs["samples"] = trainer.copy_samples(ctx)
    return outputs


def _folder_images(
    folder: Path, labelled: bool
) -> tuple[list[np.ndarray], list[int] | None, list[str]]:
    """Images of a folder; labelled: one sub-folder per class (sorted names are classes)."""
    from artforge.api import DataError, load_image
    from artforge.images import list_images

    if not folder.is_dir():
        raise DataError(f"training folder not found: {folder}")
    if not labelled:
        files = list_images(folder)
        if not files:
            raise DataError(f"no images in {folder}")
        return [load_image(f) for f in files], None, []
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    images, labels = [], []
    for k, c in enumerate(classes):
        for f in list_images(folder / c):
            images.append(load_image(f))
            labels.append(k)
    if not images:
        raise DataError(
            f"no labelled images in {folder}",
            hint="cdcgan wants one sub-folder of images per class",
        )
    return images, labels, classes


def train_dcgan(ctx: Any, p: Any) -> dict[str, Any]:
    from .dcgan import DCGANTrainer, ImageData

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
        images, labels, classes = _folder_images(ctx.resolve_path(p.folder), conditional)
    if not conditional:
        labels = None
    n_classes = int(max(labels)) + 1 if labels else 0
    data = ImageData(images, labels, p.image_size, p.flip, seed=ctx.seed)
    if len(data) < p.batch_size:
        raise StepError(
            f"step '{ctx.step_id}': batch_size {p.batch_size} is larger than the {len(data)} "
            "training images",
            hint="lower batch_size",
        )
    ctx.metrics["images"] = len(data)
    if n_classes:
        ctx.metrics["classes"] = n_classes
    evaluator = None
    if p.eval_data:  # sample-quality curves (artforge.quality), as the torch backend
        from artforge.sampling import TrainingEval

        evaluator = TrainingEval.from_params(ctx, p, n_classes, classes)
    trainer = DCGANTrainer(ctx, p, data, n_classes, evaluator)
    ctx.log(
        f"  {p.model} (keras): {len(data)} images at {p.image_size}px"
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


# -- translate ------------------------------------------------------------------------------
def build_generator(meta: dict[str, Any], path: Any, direction: str = "AtoB"):
    """Rebuild a generator from a model artifact's meta and load its weights: Keras'
    ``.weights.h5``, or a PyTorch backend's ``.safetensors`` (converted layer by layer)."""
    from .backend import keras_module

    keras_module()
    arch = meta.get("arch")
    if arch != "unet":
        builder = ARCHS.get(arch)
        if builder is None:
            raise StepError(
                f"cannot translate with a '{arch}' model in the keras backend",
                hint="use a pix2pix generator, or run translate with backend: torch",
            )
        from artforge.registry import load_object

        return load_object(builder)(meta, path, direction)
    from .nets.pix2pix import UNetGenerator

    net = UNetGenerator(**meta["kwargs"])
    load_weights_any(net, path, meta)
    return net


# arch name -> "module:function(meta, path, direction) -> keras.Model"; other GANs add theirs.
ARCHS: dict[str, str] = {
    "resnet": "artforge_keras.cyclegan:build_resnet",
}


def load_weights_any(net, path: Any, meta: dict[str, Any]) -> None:
    """Keras weights (``.weights.h5``) or PyTorch weights (``.safetensors``) into ``net``."""
    path = Path(path)
    backend = meta.get("backend")
    try:
        if path.suffix == ".safetensors" or backend == "torch":
            from safetensors.numpy import load_file

            from .nets.convert import load_torch_state

            load_torch_state(net, load_file(str(path)))
        else:
            net.load_weights(str(path))
    except Exception as exc:
        raise StepError(
            f"cannot load the weights {path} into the {meta.get('arch')} network: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from None


def _pad_to(x: np.ndarray, multiple: int) -> tuple[np.ndarray, int, int]:
    h, w = x.shape[1:3]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "edge"
        x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    return x, h, w


def run_whole(fn, x: np.ndarray, multiple: int) -> np.ndarray:
    """``fn`` on ``x`` (N, H, W, C) padded to a multiple of ``multiple``, cropped back."""
    xp, h, w = _pad_to(x, multiple)
    return np.asarray(fn(xp), np.float32)[:, :h, :w]


def run_tiled(fn, x: np.ndarray, tile: int, overlap: int, multiple: int) -> np.ndarray:
    """Overlapping tiles blended with linear ramps; memory is bounded by the tile."""
    n, h, w, _ = x.shape
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap, tile // 2)
    step = tile - overlap
    out = np.zeros((n, h, w, 3), np.float32)
    weight = np.zeros((1, h, w, 1), np.float32)
    ramp = np.ones(tile, np.float32)
    if overlap:
        edge = np.linspace(0, 1, overlap + 2, dtype=np.float32)[1:-1]
        ramp[:overlap] = edge
        ramp[-overlap:] = edge[::-1]
    win = ramp[:, None] * ramp[None, :]
    ys = list(range(0, max(h - tile, 0) + 1, step)) or [0]
    xs = list(range(0, max(w - tile, 0) + 1, step)) or [0]
    if ys[-1] + tile < h:
        ys.append(h - tile)
    if xs[-1] + tile < w:
        xs.append(w - tile)
    for y0 in ys:
        for x0 in xs:
            patch = x[:, y0 : y0 + tile, x0 : x0 + tile]
            pred = run_whole(fn, patch, multiple)
            th, tw = pred.shape[1:3]
            wv = win[:th, :tw, None]
            out[:, y0 : y0 + th, x0 : x0 + tw] += pred * wv
            weight[:, y0 : y0 + th, x0 : x0 + tw] += wv
    return out / np.maximum(weight, 1e-8)


def inference_fn(net, rt):
    """``net`` in inference mode as a ``tf.function`` traced once for any image size."""
    import tensorflow as tf

    channels = net.inputs[0].shape[-1]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)])
    def fn(x):
        return tf.cast(net(x, training=False), tf.float32)

    def call(x):
        with rt.scope():
            return fn(tf.constant(x, tf.float32)).numpy()

    return call


def translate(ctx: Any, p: Any) -> dict[str, Any]:
    from .backend import runtime
    from .data import to_float, to_uint8_images

    art = ctx.model_input(p.model)
    images = ctx.images(p.images)
    if len(images) == 0:
        raise StepError(f"step '{ctx.step_id}': no images to translate")
    rt = runtime(ctx.device, "auto")
    with rt.scope():
        net = build_generator(art.meta, art.path, p.direction)
    fn = inference_fn(net, rt)
    multiple = int(art.meta.get("multiple", 4))
    ctx.info.update(rt.describe())
    ctx.info["model_sha256"] = art.meta.get("sha256")
    if art.meta.get("backend") == "torch":
        ctx.info["weights"] = "trained by the torch backend, converted layer by layer"
    ctx.info["compare"] = {"before": p.images, "after": "images"}
    out = ctx.image_writer("images")
    progress = ctx.progress(len(images), "translating")
    by_size: dict[tuple, list[int]] = {}
    for i in range(len(images)):
        by_size.setdefault(images.load(i).shape, []).append(i)
    results: dict[int, np.ndarray] = {}
    for shape, idx in by_size.items():
        h, w = shape[:2]
        use_tiles = p.tile is not None or max(h, w) > 1024
        for k in range(0, len(idx), p.batch_size):
            chunk = idx[k : k + p.batch_size]
            x = to_float(np.stack([images.load(i) for i in chunk]))
            if use_tiles:
                y = run_tiled(fn, x, p.tile or 512, p.overlap, multiple)
            else:
                y = run_whole(fn, x, multiple)
            for i, img in zip(chunk, to_uint8_images(y)):
                results[i] = img
            progress.update(len(chunk))
    progress.close()
    names = images.names
    for i in range(len(images)):
        out.add(results[i], name=names[i])
    outputs = {"images": out.finish()}
    if p.target:
        outputs.update(score(ctx, p, names, results, images))
    return outputs


def score(
    ctx: Any, p: Any, names: list[str], results: dict[int, np.ndarray], images: Any
) -> dict[str, Any]:
    """PSNR/SSIM against ``target`` and, with ``baseline_*``, the affine colour baseline:
    the same metrics, keys, outputs (``metrics``: metrics.json; ``baseline``: the
    baseline's images named like the inputs) as the PyTorch backend."""
    from artforge.metrics import apply_affine_colour, fit_affine_colour, psnr, ssim

    target = ctx.images(p.target)
    t_index = {n: i for i, n in enumerate(target.names)}
    pairs = [(i, t_index[n]) for i, n in enumerate(names) if n in t_index]
    if not pairs:
        raise StepError(f"step '{ctx.step_id}': no target image shares a file name with the inputs")
    coef = None
    if p.baseline_source:
        src, tgt = ctx.images(p.baseline_source), ctx.images(p.baseline_target)
        tmap = {n: i for i, n in enumerate(tgt.names)}
        sel = [(i, tmap[n]) for i, n in enumerate(src.names) if n in tmap]
        if not sel:
            raise StepError(
                f"step '{ctx.step_id}': the baseline source and target share no file names"
            )
        coef = fit_affine_colour([src.load(i) for i, _ in sel], [tgt.load(j) for _, j in sel])
        ctx.info["baseline"] = (
            "per-channel affine colour map fitted by least squares on the training pairs"
        )
    outputs: dict[str, Any] = {}
    baseline: dict[int, np.ndarray] = {}
    if coef is not None:
        writer = ctx.image_writer("baseline")
        for i, name in enumerate(names):
            baseline[i] = apply_affine_colour(images.load(i), coef)
            writer.add(baseline[i], name=name)
        outputs["baseline"] = writer.finish(
            method="per-channel affine colour map", coefficients=coef.round(5).tolist()
        )
    per_image: dict[str, dict[str, float]] = {}
    for i, j in pairs:
        truth = target.load(j)
        pred = results[i]
        if pred.shape != truth.shape:
            continue
        row = {"psnr": psnr(pred, truth), "ssim": ssim(pred, truth)}
        if coef is not None:
            base = baseline[i]
            row["baseline_psnr"] = psnr(base, truth)
            row["baseline_ssim"] = ssim(base, truth)
        per_image[names[i]] = {k: round(v, 4) for k, v in row.items()}
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
