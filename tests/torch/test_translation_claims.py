"""The translation recipes' claims, under test: at a reduced size, the shipped recipe's model
beats the strongest of its baselines (mean image, affine colour map, 3x3 colour matrix,
per-pixel ridge) on PSNR and SSIM on the held-out test pairs. The recipe file itself is run,
cut to its data, training and scoring steps, with smaller ``vars`` set on the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

from artforge.cli import main  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def run_reduced(tmp_path: Path, recipe: str, keep: set[str], sets: dict) -> dict:
    """Run ``recipe``'s steps in ``keep`` with ``--set vars.K=V``; the translate metrics."""
    doc = yaml.safe_load((RECIPES / recipe).read_text())
    doc["steps"] = [s for s in doc["steps"] if s["id"] in keep]
    doc["gallery"] = {"enabled": False}
    doc["device"] = "cpu"
    path = tmp_path / recipe
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    args = [a for k, v in sets.items() for a in ("--set", f"vars.{k}={v}")]
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "-q", *args]) == 0
    return json.loads((tmp_path / "run/steps/translate/record.json").read_text())["metrics"]


def assert_beats_strongest(m: dict) -> None:
    names = ("mean_image", "affine", "colour_matrix", "pixel_ridge")
    assert {f"{n}_psnr" for n in names} <= set(m)
    best = max(names, key=lambda n: m[f"{n}_psnr"])
    assert m["strongest_baseline"] == best and m["baseline_psnr"] == m[f"{best}_psnr"]
    assert m["psnr"] > m["baseline_psnr"], m
    assert m["ssim"] > m["baseline_ssim"], m


@pytest.mark.slow
def test_night_to_day_pix2pix_beats_its_strongest_baseline(tmp_path):
    m = run_reduced(
        tmp_path,
        "night_to_day.yaml",
        {"scenes", "train", "translate"},
        {
            "size": 32,
            "pairs": 1000,
            "holdout": 24,
            "validation": 0,
            "epochs": 5,  # 1250 iterations: at 1000 the SSIM margin was within noise (seed 1
            "decay_epochs": 5,  # lost by 0.004 before the core data pipeline, seed 0 after it)
            "batch": 8,
            "ngf": 16,
        },
    )
    assert m["scored_images"] == 24
    assert_beats_strongest(m)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("ARTFORGE_KNOWN_GAPS"),
    reason="a known gap (issue 16) that costs ~2 min of CI to confirm: set ARTFORGE_KNOWN_GAPS=1",
)
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="issue 16: CycleGAN does not yet beat the per-pixel ridge baseline (measured at this "
    "size: 22.28 dB / SSIM 0.391 vs 23.64 / 0.530); strict: passing flags the README to update",
)
def test_day_to_night_cyclegan_beats_its_strongest_baseline(tmp_path):
    m = run_reduced(
        tmp_path,
        "day_to_night_cyclegan.yaml",
        {"scenes", "pairs", "train", "translate"},
        {"size": 32, "images": 200, "holdout": 24, "validation": 0, "epochs": 1, "decay_epochs": 1},
    )
    assert m["scored_images"] == 24
    assert_beats_strongest(m)
