"""synthetic-scenes: train / holdout (test) / validation splits, and unpaired domains drawn
from disjoint scenes."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from artforge.cli import main
from artforge.scenes import render_pairs


def _run(tmp_path, unpaired: bool):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: s\nseed: 0\nsteps:\n  - id: scenes\n    uses: synthetic-scenes\n"
        f"    with: {{count: 4, holdout: 2, validation: 3, size: 32, unpaired: {str(unpaired).lower()}}}\n"
        "gallery: {enabled: false}\n"
    )
    out = tmp_path / ("u" if unpaired else "p")
    assert main(["run", str(recipe), "--out", str(out), "-q"]) == 0
    rec = json.loads((out / "steps/scenes/record.json").read_text())
    step_dir = out / "steps/scenes"

    def images(name):
        files = rec["outputs"][name]["files"]
        return {f: np.asarray(Image.open(step_dir / name / f).convert("RGB")) for f in files}

    return rec, images


def test_validation_pairs_are_other_scenes_than_train_and_holdout(tmp_path):
    rec, images = _run(tmp_path, unpaired=False)
    names = {k: [f.split(".")[0] for f in rec["outputs"][k]["files"]] for k in rec["outputs"]}
    assert names["night"] == names["day"] == [f"scene{i:05d}" for i in range(4)]
    assert names["holdout_night"] == ["scene00004", "scene00005"]
    assert names["val_night"] == names["val_day"] == ["scene00006", "scene00007", "scene00008"]
    seed = rec["seed"]
    # the validation pairs are the renderer's scenes 6..8 of the step's seed, night with its day
    val_n, val_d = images("val_night"), images("val_day")
    for k, (night, day) in zip(sorted(val_n), [(n, d) for i, n, d in _scenes(seed, 9)][6:]):
        assert np.array_equal(val_n[k], night) and np.array_equal(val_d[k], day)


def test_unpaired_days_come_from_disjoint_scenes(tmp_path):
    rec, images = _run(tmp_path, unpaired=True)
    scenes = list(_scenes(rec["seed"], 4 + 2 + 3 + 4))
    days = list(images("day").values())
    assert len(days) == 4
    train_days = [d for i, _, d in scenes[:4]]
    other_days = [d for i, _, d in scenes[9:]]
    # no day image shows a scene of the night set; each is one of the 4 extra scenes
    assert not any(np.array_equal(d, t) for d in days for t in train_days)
    assert sorted(
        next(j for j, o in enumerate(other_days) if np.array_equal(d, o)) for d in days
    ) == [0, 1, 2, 3]
    assert len(images("holdout_day")) == 2 and len(images("val_day")) == 3  # still paired


def _scenes(seed, n):
    """The renderer's scenes 0..n-1 of the step's seed, as the step draws them."""
    return render_pairs(seed, n, 32)
