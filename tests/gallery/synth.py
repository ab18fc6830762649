"""A synthetic finished run directory (manifest, records, PNGs, a GIF, a checkpoint), written
without the runner or any framework, for testing the gallery on its own."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

EVIL = "<script>alert(1)</script>"


def _png(path: Path, rng: np.random.Generator, size: int, tint: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 // size, y * 255 // size, np.full_like(x, tint)], axis=-1)
    noise = rng.integers(0, 60, (size, size, 3))
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)


def _record(step_id: str, uses: str, **kw) -> dict:
    rec = {
        "id": step_id,
        "uses": uses,
        "plugin": kw.pop("plugin", "artforge"),
        "plugin_version": "0.1.0",
        "backend": kw.pop("backend", None),
        "device": kw.pop("device", "cpu"),
        "key": hashlib.sha256(step_id.encode()).hexdigest()[:16],
        "seed": 1234,
        "params": {},
        "inputs": {},
        "outputs": {},
        "metrics": {},
        "series": {},
        "warnings": [],
        "info": {},
        "started": "2026-11-24T09:00:00+00:00",
        "seconds": 1.5,
        "versions": {"artforge": "0.1.0", "python": "3.11.2", "numpy": "1.26.4"},
        "status": "ok",
    }
    rec.update(kw)
    return rec


def make_run(
    root: Path,
    name: str = "demo",
    *,
    count: int = 8,
    size: int = 32,
    title: str = "Demo run",
    evil: bool = False,
    started: str = "2026-11-24T09:00:00+00:00",
    warnings: bool = True,
) -> Path:
    """Write a finished four-step run (scenes -> train -> translate -> sheet) into root/name."""
    run = Path(root) / name
    rng = np.random.default_rng(0)
    names = [f"scene{i:05d}" for i in range(count)]
    text = EVIL if evil else ""
    records = {}

    # scenes: two paired image sets
    for out, tint in (("holdout_night", 20), ("holdout_day", 200)):
        for n in names:
            _png(run / "steps/scenes" / out / f"{n}.png", rng, size, tint)
    records["scenes"] = _record(
        "scenes",
        "synthetic-scenes",
        params={"count": count, "size": size, "note": text},
        outputs={
            out: {"kind": "images", "path": out, "files": [f"{n}.png" for n in names]}
            for out in ("holdout_night", "holdout_day")
        },
    )

    # train: a checkpoint, per-epoch samples, an animated GIF, loss curves, warnings
    train = run / "steps/train"
    for e in range(1, 5):
        _png(train / "samples" / f"epoch{e:03d}.png", rng, size * 2, 60 * e)
    frames = [Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)) for i in range(4)]
    (train / "progress").mkdir(parents=True)
    frames[0].save(
        train / "progress/progress.gif",
        save_all=True,
        append_images=frames[1:],
        duration=200,
        loop=0,
    )
    (train / "model").mkdir(parents=True)
    (train / "model/generator.safetensors").write_bytes(b"weights" * 100)
    series = {
        "G": [[i, 2.0 + math.sin(i / 5) * 0.3 + 1.0 / (i + 1)] for i in range(120)],
        "D": [[i, 0.7 + math.cos(i / 7) * 0.1] for i in range(120)],
        "G_L1": [[i, 40.0 * math.exp(-i / 60)] for i in range(120)],
        "val_psnr": [[e, 18.0 + e] for e in range(1, 5)],
    }
    records["train"] = _record(
        "train",
        "pix2pix",
        plugin="torch",
        backend="torch",
        device="cpu",
        params={
            "images": "${scenes.holdout_night}",
            "targets": "${scenes.holdout_day}",
            "epochs": 4,
            "title": text,
        },
        outputs={
            "model": {
                "kind": "model",
                "path": "model",
                "file": "generator.safetensors",
                "meta": {"arch": "unet", "size": size},
            },
            "samples": {
                "kind": "images",
                "path": "samples",
                "files": [f"epoch{e:03d}.png" for e in range(1, 5)],
            },
            "progress": {"kind": "file", "path": "progress", "file": "progress.gif", "meta": {}},
        },
        series=series,
        metrics={"epochs": 4, "final_G": 2.1, "final_D": 0.69},
        warnings=(
            ["divergence guard: D loss exploded at iteration 80; restarted from epoch 2" + text]
            if warnings
            else []
        ),
        info={"device": "cpu", "feature": "unet" + text},
    )

    # translate: images -> images with the same names (the comparison slider)
    for n in names:
        _png(run / "steps/translate/images" / f"{n}.png", rng, size, 120)
    records["translate"] = _record(
        "translate",
        "translate",
        plugin="torch",
        backend="torch",
        params={"images": "${scenes.holdout_night}", "model": "${train.model}"},
        outputs={
            "images": {"kind": "images", "path": "images", "files": [f"{n}.png" for n in names]}
        },
        metrics={
            "psnr": 24.5,
            "baseline_psnr": 19.25,
            "ssim": 0.81,
            "bicubic_ssim": 0.7,
            "lpips": 0.2,
            "identity_lpips": 0.4,
            "count": count,
            "per_split": {"fid": 31.0},
            "note": "ok" + text,
        },
    )

    # sheet: a collage shown full width
    _png(run / "steps/sheet/sheets/sheet001.png", rng, size * 6)
    records["sheet"] = _record(
        "sheet",
        "collage",
        params={
            "sets": ["${scenes.holdout_night}", "${translate.images}"],
            "labels": ["night", "day" + text],
        },
        outputs={"sheets": {"kind": "images", "path": "sheets", "files": ["sheet001.png"]}},
    )

    for sid, rec in records.items():
        (run / "steps" / sid).mkdir(parents=True, exist_ok=True)
        (run / "steps" / sid / "record.json").write_text(json.dumps(rec, indent=2))
    recipe_text = f"name: {name}\ndescription: a synthetic run {text}\nseed: 7\nsteps: []\n"
    (run / "recipe.yaml").write_text(recipe_text)
    manifest = {
        "artforge_version": "0.1.0",
        "recipe": {
            "name": name,
            "description": "A synthetic run" + text,
            "file": f"recipes/{name}.yaml",
            "sha256": hashlib.sha256(recipe_text.encode()).hexdigest(),
            "overrides": ["seed=7"],
        },
        "title": title + (" " + text if text else ""),
        "command": f"artforge run recipes/{name}.yaml",
        "backend": "torch",
        "device": "auto",
        "seed": 7,
        "gallery": {"enabled": True, "title": title, "thumbnail_size": 64},
        "started": started,
        "finished": started,
        "status": "ok",
        "seconds": 83.4,
        "steps": [
            {
                "id": sid,
                "uses": rec["uses"],
                "backend": rec["backend"],
                "plugin": rec["plugin"],
                "description": ("step " + sid + text) if sid == "train" else "",
                "deps": [],
                "key": rec["key"],
                "status": "ran",
                "record": f"steps/{sid}/record.json",
            }
            for sid, rec in records.items()
        ],
        "versions": {"artforge": "0.1.0", "python": "3.11.2"},
    }
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return run
