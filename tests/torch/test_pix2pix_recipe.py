"""The main job, recipes/night_to_day.yaml, end to end at a tiny size (the same file, shrunk
with --set): every step runs, the metrics file holds both scores, the gallery is printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from artforge.cli import main  # noqa: E402

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "night_to_day.yaml"
TINY = {
    "size": 32,
    "pairs": 8,
    "holdout": 4,
    "validation": 2,
    "epochs": 1,
    "decay_epochs": 1,
    "batch": 4,
    "ngf": 8,
    "sr_steps": 10,
    "sr_patch": 16,
    "style_steps": 3,
    "style_size": 32,
}


def test_main_recipe_validates():
    assert main(["validate", str(RECIPE)]) == 0


@pytest.mark.slow
def test_main_recipe_runs_end_to_end_at_a_tiny_size(tmp_path, capsys):
    out = tmp_path / "run"
    sets = [a for k, v in TINY.items() for a in ("--set", f"vars.{k}={v}")]
    assert main(["run", str(RECIPE), "--out", str(out), "-q", *sets]) == 0
    printed = capsys.readouterr().out
    assert f"gallery: {out / 'index.html'}" in printed
    steps = out / "steps"
    train = json.loads((steps / "train/record.json").read_text())
    assert train["metrics"]["epochs"] == 2 and train["metrics"]["iterations"] == 4
    assert {"loss_G", "loss_D", "loss_L1"} <= set(train["series"])
    assert train["outputs"]["samples"]["files"] == ["epoch0001.png", "epoch0002.png"]

    rec = json.loads((steps / "translate/record.json").read_text())
    m = rec["metrics"]
    assert m["scored_images"] == 4
    assert m["psnr_margin_db"] == pytest.approx(m["psnr"] - m["baseline_psnr"], abs=2e-3)
    assert len(rec["outputs"]["baseline"]["files"]) == 4  # the baseline's images
    metrics = json.loads((steps / "translate/metrics/metrics.json").read_text())
    assert metrics["mean"]["psnr"] == pytest.approx(m["psnr"])
    assert set(metrics["baseline"]["coefficients"]) == {"R", "G", "B"}
    assert len(metrics["per_image"]) == 4

    collage = json.loads((steps / "collage/record.json").read_text())
    assert collage["outputs"]["sheets"]["meta"]["labels"] == [
        "night",
        "per-pixel ridge baseline",
        "pix2pix day",
        "true day",
        "ESPCN x2",
        "stylized",
    ]
    assert json.loads((steps / "upscale_check/record.json").read_text())["metrics"]["bicubic_y_psnr"] > 0
    assert len(json.loads((steps / "stylize/record.json").read_text())["outputs"]["images"]["files"]) == 4
    page = (out / "index.html").read_text()
    assert "PSNR" in page and "baseline" in page
