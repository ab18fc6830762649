"""Human words for the gallery: metric names with units, labels the recipe gives, what a step
did, and the device it really ran on. Everything here reads records and parameters only."""

from __future__ import annotations

import re
from typing import Any

from ..params import parse_ref

# names of metric parts: "psnr_margin_db" -> "PSNR margin (dB)"
TOKENS = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "ms": "MS",
    "lpips": "LPIPS",
    "fid": "FID",
    "kid": "KID",
    "swd": "SWD",
    "is": "IS",
    "y": "Y",
    "rgb": "RGB",
    "l1": "L1",
    "l2": "L2",
    "mse": "MSE",
    "mae": "MAE",
    "rmse": "RMSE",
    "lr": "learning rate",
    "g": "G",
    "d": "D",
    "val": "validation",
    "acc": "accuracy",
    "ema": "EMA",
    "nn": "nearest-neighbour",
}
UNITS = {"psnr": "dB", "db": "dB", "seconds": "s", "s": "s", "sec": "s", "ms_time": "ms"}
# the yardsticks' own words (the recipe's labels win where it gives them)
BASELINE_NAMES = {
    "baseline": "baseline",
    "mean_image": "mean image",
    "affine": "per-channel affine",
    "colour_matrix": "colour matrix",
    "pixel_ridge": "per-pixel ridge",
    "ridge": "per-pixel ridge",
    "bicubic": "bicubic",
    "bilinear": "bilinear",
    "nearest": "nearest",
    "lanczos": "Lanczos",
    "identity": "identity",
    "input": "input",
    "random": "random",
    "real": "real images",
    "target": "target",
    "reference": "reference",
    "naive": "naive",
    "means": "class means",
}
_SPLIT = re.compile(r"[_.\-\s]+")


def metric_name(key: str) -> str:
    """A readable metric name with its unit: ``psnr_margin_db`` -> "PSNR margin (dB)",
    ``val.y_psnr`` -> "validation PSNR-Y (dB)", ``final_G`` -> "final G"."""
    parts = [p for p in _SPLIT.split(key) if p]
    low = [p.lower() for p in parts]
    unit = ""
    if low and low[-1] in ("db", "seconds", "sec"):
        unit = UNITS[low[-1]]
        parts, low = parts[:-1], low[:-1]
    if "psnr" in low:
        unit = "dB"
    # "y psnr" / "psnr y" -> "PSNR-Y"
    words: list[str] = []
    i = 0
    while i < len(parts):
        w = low[i]
        if w == "y" and i + 1 < len(low) and low[i + 1] in ("psnr", "ssim"):
            words.append(TOKENS[low[i + 1]] + "-Y")
            i += 2
            continue
        if w in ("psnr", "ssim") and i + 1 < len(low) and low[i + 1] == "y":
            words.append(TOKENS[w] + "-Y")
            i += 2
            continue
        words.append(TOKENS.get(w, parts[i]))
        i += 1
    text = " ".join(words) or key
    return f"{text} ({unit})" if unit else text


def baseline_name(word: str, labels: dict[str, str] | None = None, step: str = "") -> str:
    """The words for a baseline column: the recipe's label of ``${step.baseline_<word>}``
    when it gives one, else the yardstick's own name."""
    if labels and step:
        last = word.rsplit("_", 1)[-1]
        for ref in (
            f"${{{step}.baseline_{word}}}",
            f"${{{step}.{word}}}",
            f"${{{step}.baseline_{last}}}",
        ):
            if ref in labels:
                return labels[ref]
    return BASELINE_NAMES.get(word, word.replace("_", " "))


# -- labels the recipe gives -----------------------------------------------------------------
def recipe_labels(records: dict[str, dict]) -> dict[str, str]:
    """``${step.output}`` -> the label a recipe gave it: any step whose parameters hold a list
    of references beside a list of ``labels`` of the same length (``collage``'s sets)."""
    found: dict[str, str] = {}
    for rec in records.values():
        params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
        labels = params.get("labels")
        if not isinstance(labels, list):
            continue
        for value in params.values():
            if (
                isinstance(value, list)
                and len(value) == len(labels)
                and all(parse_ref(v) for v in value)
            ):
                for ref, label in zip(value, labels):
                    if isinstance(label, str) and label.strip():
                        found.setdefault(str(ref), label.strip())
    return found


def output_label(step: str, output: str, labels: dict[str, str]) -> str:
    """ "night" for ``scenes.holdout_night`` when the recipe says so, else "scenes · holdout night"."""
    ref = f"${{{step}.{output}}}"
    if ref in labels:
        return labels[ref]
    return f"{step} · {output.replace('_', ' ')}"


# -- what a step did ---------------------------------------------------------------------------
def _count(records: dict[str, dict], ref: Any) -> int | None:
    got = parse_ref(ref)
    if not got:
        return None
    out = ((records.get(got[0]) or {}).get("outputs") or {}).get(got[1])
    if isinstance(out, dict) and isinstance(out.get("files"), list):
        return len(out["files"])
    return None


def _of(records: dict[str, dict], labels: dict[str, str], ref: Any, noun: str = "images") -> str:
    """ "48 night images" / "the images of scenes · night"."""
    got = parse_ref(ref)
    if not got:
        return noun
    n = _count(records, ref)
    if str(ref) in labels:
        text = f"{labels[str(ref)]} {noun}"
    else:
        text = f"{got[1].replace('_', ' ')} {noun} from {got[0]}"
    return f"{n} {text}" if n is not None else text


def step_description(uses: str, params: dict, records: dict[str, dict], labels: dict[str, str]):
    """One sentence on what a built-in step type did with these parameters (None otherwise)."""
    p = params if isinstance(params, dict) else {}
    n = p.get
    if uses == "synthetic-scenes":
        parts = [f"{n('count')} training pairs"]
        if n("holdout"):
            parts.append(f"{n('holdout')} held-out test pairs")
        if n("validation"):
            parts.append(f"{n('validation')} validation pairs")
        return (
            f"Renders synthetic night/day scenes of {n('size')}×{n('size')} pixels: "
            + ", ".join(parts)
            + "."
        )
    if uses == "images":
        return f"Reads the images of {n('path')} and resizes them to {n('size')} pixels."
    if uses == "collage":
        k = len(n("sets") or [])
        return (
            f"Lays out {k} image sets side by side in contact sheets, one labelled column per set."
        )
    if uses == "train-gan":
        model = n("model") or "a GAN"
        epochs = (n("epochs") or 0) + (n("decay_epochs") or 0)
        data = _of(records, labels, n("source") or n("images") or n("data"))
        target = f" to {_of(records, labels, n('target'))}" if n("target") else ""
        span = f" for {epochs} epoch{'' if epochs == 1 else 's'}" if epochs else ""
        return f"Trains {model} on {data}{target}{span}; loss curves and per-epoch samples below."
    if uses == "translate":
        tgt = f", scored against {_of(records, labels, n('target'))}" if n("target") else ""
        return (
            f"Translates {_of(records, labels, n('images'))} with the generator of "
            f"{(parse_ref(n('model')) or ('the model',))[0]}{tgt}, beside simple baselines."
        )
    if uses == "super-resolve":
        scale = n("scale") or 2
        method = n("method") or "a model"
        if n("mode") == "evaluate":
            return (
                f"Shrinks {_of(records, labels, n('images'))} ×{scale}, upscales them back with "
                f"{method} and scores the result against the originals and against bicubic."
            )
        return f"Upscales {_of(records, labels, n('images'))} ×{scale} with {method}."
    if uses == "stylize":
        return (
            f"Paints {_of(records, labels, n('images'))} in the style {n('style')} "
            f"({n('method') or 'style transfer'}), scored against a colour-transfer baseline."
        )
    if uses == "sample":
        return f"Draws samples from the generator of {(parse_ref(n('model')) or ('a model',))[0]}."
    if uses == "digits":
        return "Loads scikit-learn's handwritten digits (8×8, labelled) and splits them."
    return None


# -- devices -----------------------------------------------------------------------------------
def resolved_device(rec: dict) -> str:
    """Where a step really ran: the plugin's ``info.device`` (``cuda:0``), else the record's
    device unless it is ``auto``; a backend-free step ran on the CPU."""
    info = rec.get("info") if isinstance(rec.get("info"), dict) else {}
    dev = info.get("device")
    if isinstance(dev, str) and dev and dev != "auto":
        return dev
    dev = rec.get("device")
    if isinstance(dev, str) and dev and dev != "auto":
        return dev
    if not rec.get("backend"):
        return "cpu"
    return "auto (not recorded)"


def run_device(devices: list[str], requested: str) -> str:
    """The run's device: what its steps ran on ("cpu"; "cpu, cuda:0"), and what was asked."""
    seen = [d for i, d in enumerate(devices) if d and d not in devices[:i]]
    if not seen:
        return requested or "—"
    text = ", ".join(seen)
    if requested and requested not in seen:
        text += f" (asked: {requested})"
    return text
