"""The ``stylize`` step end to end on tiny images (PyTorch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.errors import DataError, RecipeError, StepError  # noqa: E402
from artforge.images import load_image, save_png  # noqa: E402
from artforge.plugins import PluginHost  # noqa: E402
from artforge.recipe import load_recipe  # noqa: E402
from artforge.runner import Runner  # noqa: E402

HEAD = """name: style-test
seed: 5
device: cpu
gallery: {enabled: false}
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 2, holdout: 2, size: 32}
"""


@pytest.fixture(scope="module")
def host():
    return PluginHost()


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No VGG19 weights anywhere: the step must fall back to the random features."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("ARTFORGE_VGG19_WEIGHTS", raising=False)


def run(host, tmp_path, steps: str, out="run"):
    path = tmp_path / "recipe.yaml"
    path.write_text(HEAD + steps)
    Runner(load_recipe(path, host), host, tmp_path / out, quiet=True, log=lambda m: None).run()
    return tmp_path / out


def record(run_dir, step):
    return json.loads((run_dir / "steps" / step / "record.json").read_text())


def images(run_dir, step, output="images"):
    rec = record(run_dir, step)["outputs"][output]
    root = run_dir / "steps" / step / rec["path"]
    return {f: load_image(root / f) for f in rec["files"]}


def test_optimise_with_a_builtin_style_records_losses_and_provenance(host, tmp_path):
    from artforge_torch.style.loss_net import RANDOM_DESC

    out = run(
        host,
        tmp_path,
        """
  - id: st
    uses: stylize
    with: {images: "${scenes.holdout_night}", style: "builtin:mosaic", size: 32, steps: 12,
           style_weight: 10, tv_weight: 1, method: optimise}
""",
    )
    rec = record(out, "st")
    assert rec["info"]["feature_network"] == RANDOM_DESC
    assert any("random multi-scale" in w for w in rec["warnings"])
    assert "built-in procedural style 'mosaic'" in rec["info"]["style"]
    for name in ("style_loss", "content_loss", "tv_loss", "total_loss"):
        assert [x for x, _ in rec["series"][name]] == list(range(1, 13))
    m = rec["metrics"]
    assert 0.3 < m["style_loss_drop"] <= 1 and m["content_within_bound"] == 2
    assert 0 < m["content_loss_final"] <= m["content_loss_bound"]
    stylized = images(out, "st")
    assert stylized.keys() == images(out, "scenes", "holdout_night").keys()
    assert all(a.shape == (32, 32, 3) for a in stylized.values())
    assert next(iter(images(out, "st", "style").values())).shape == (32, 32, 3)


def test_style_from_a_file_and_from_another_step(host, tmp_path):
    rng = np.random.default_rng(0)
    save_png(tmp_path / "my style.png", rng.integers(0, 256, (40, 24, 3), dtype=np.uint8))
    out = run(
        host,
        tmp_path,
        """
  - id: a
    uses: stylize
    with: {images: "${scenes.holdout_day}", style: "my style.png", size: 24, steps: 2,
           method: optimise}
  - id: b
    uses: stylize
    with: {images: "${scenes.holdout_day}", style: "${scenes.night}", style_index: 1,
           size: 24, steps: 2, preserve_color: true, optimiser: adam, scales: 2,
           method: optimise}
""",
    )
    assert record(out, "a")["info"]["style"].endswith("my style.png")
    assert next(iter(images(out, "a", "style").values())).shape == (24, 14, 3)  # longer edge 24
    b = record(out, "b")
    assert "${scenes.night} image" in b["info"]["style"]
    assert "colours preserved" in b["info"]["method"] and "Adam" in b["info"]["method"]
    assert b["info"]["scales"] == "12x12 -> 24x24" and len(b["series"]["style_loss"]) == 4


@pytest.mark.parametrize(
    "style, error, message",
    [
        ("missing.png", DataError, "image not found"),
        ("${scenes.night}", StepError, "style_index 7 is out of range"),
    ],
)
def test_bad_style_images_are_step_errors(host, tmp_path, style, error, message):
    with pytest.raises(error, match=message):
        run(
            host,
            tmp_path,
            f"""
  - id: st
    uses: stylize
    with: {{images: "${{scenes.holdout_day}}", style: "{style}", style_index: 7, steps: 1}}
""",
        )


@pytest.mark.parametrize(
    "params, message",
    [
        ("style: 'builtin:mosiac'", "did you mean 'mosaic'"),
        ("style: 'builtin:brush', model: '${scenes.day}'", "feed-forward only"),
        ("style: 'builtin:brush', features: vgg16", "Input should be"),
    ],
)
def test_invalid_parameters_are_recipe_errors(host, tmp_path, params, message):
    path = tmp_path / "bad.yaml"
    path.write_text(
        HEAD + f"  - id: st\n    uses: stylize\n    with: {{images: '${{scenes.day}}', {params}}}\n"
    )
    with pytest.raises(RecipeError, match=message):
        load_recipe(path, host)


def test_feed_forward_trains_once_and_the_model_is_reused(host, tmp_path):
    out = run(
        host,
        tmp_path,
        """
  - id: ff
    uses: stylize
    with: {images: "${scenes.holdout_day}", train_images: "${scenes.day}",
           style: "builtin:brush", method: feed-forward, size: 32, steps: 3, batch_size: 2,
           train_size: 24, width: 8}
  - id: reuse
    uses: stylize
    with: {images: "${scenes.holdout_day}", style: "builtin:brush", method: feed-forward,
           model: "${ff.model}", size: 32}
""",
    )
    rec = record(out, "ff")
    assert (
        rec["metrics"]["train_steps"] == 3 and rec["outputs"]["model"]["meta"]["arch"] == "johnson"
    )
    assert rec["outputs"]["model"]["meta"]["config"]["width"] == 8
    assert {"images_per_second", "style_loss_drop", "content_loss_final"} <= set(rec["metrics"])
    a, b = images(out, "ff"), images(out, "reuse")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert "model" not in record(out, "reuse")["outputs"]


@pytest.mark.slow
def test_vgg19_weights_file_is_used_when_given(host, tmp_path):
    """A torchvision-layout VGG19 state dict (random values) written by the test."""
    from safetensors.torch import save_file

    from artforge_torch.nets.features import VGG19Features

    torch.manual_seed(0)
    vgg = VGG19Features()
    path = tmp_path / "vgg19.safetensors"
    save_file({f"features.{k}": v for k, v in vgg.features.state_dict().items()}, str(path))
    out = run(
        host,
        tmp_path,
        f"""
  - id: st
    uses: stylize
    with: {{images: "${{scenes.holdout_day}}", style: "builtin:ink", size: 32, steps: 2,
           features: vgg19, vgg_weights: "{path}", content_layers: [conv2_1],
           style_layers: [conv1_1, relu2_1]}}
""",
    )
    rec = record(out, "st")
    assert rec["info"]["feature_network"] == f"VGG19 (ImageNet weights from {path})"
    assert rec["info"]["layers"] == "content conv2_1; style conv1_1, relu2_1"
    # method auto (the default) optimises when VGG19 weights are found
    assert rec["info"]["method_choice"] == "method auto: optimise (VGG19 weights found)"
    assert "Gatys" in rec["info"]["method"]
    assert not any("random" in w for w in rec["warnings"])
    bad = tmp_path / "bad.safetensors"
    save_file({"features.0.weight": torch.zeros(1)}, str(bad))
    with pytest.raises(StepError, match="cannot load VGG19 weights"):
        run(
            host,
            tmp_path,
            f"""
  - id: st
    uses: stylize
    with: {{images: "${{scenes.holdout_day}}", style: "builtin:ink", size: 32, steps: 1,
           features: vgg19, vgg_weights: "{bad}"}}
""",
            out="run2",
        )


def test_every_method_is_scored_against_the_colour_only_baseline(host, tmp_path):
    """method: patch (backend-free, registered by the core) beside optimise: both report the
    texture score and the colour-transfer baseline's, and write the baseline images."""
    out = run(
        host,
        tmp_path,
        """
  - id: patch
    uses: stylize
    with: {images: "${scenes.holdout_day}", style: "builtin:brush", method: patch, size: 48,
           options: {patch_sizes: [17, 9], iterations: 1, max_style_patches: 2000}}
  - id: opt
    uses: stylize
    with: {images: "${scenes.holdout_day}", style: "builtin:brush", size: 48, steps: 2,
           method: optimise}
""",
    )
    rec = record(out, "patch")
    m = rec["metrics"]
    assert "Elad & Milanfar" in rec["info"]["method"]
    assert rec["info"]["patch_options"]["patch_sizes"] == [17, 9]
    assert m["texture_beats_colour_baseline"] == 2
    assert m["texture_distance"] < m["texture_distance_colour_baseline"]
    assert len(m["texture_per_image"]) == 2
    base = images(out, "patch", "baseline")
    assert base.keys() == images(out, "patch").keys()
    assert all(b.shape == (48, 48, 3) for b in base.values())
    opt = record(out, "opt")["metrics"]
    assert {"texture_distance", "texture_distance_colour_baseline"} <= set(opt)
    assert 0 <= opt["texture_beats_colour_baseline"] <= 2


def test_bad_patch_options_are_step_errors(host, tmp_path):
    with pytest.raises(StepError, match=r"method patch: options.patch_size: unknown option"):
        run(
            host,
            tmp_path,
            """
  - id: st
    uses: stylize
    with: {images: "${scenes.holdout_day}", style: "builtin:ink", method: patch, size: 32,
           options: {patch_size: 9}}
""",
        )
