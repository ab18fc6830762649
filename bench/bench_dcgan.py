"""DCGAN training speed (PyTorch): iterations per second of the plugin's trainer beside a
plain PyTorch loop of the same networks (``bench/reference_dcgan.py``).

    python bench/bench_dcgan.py [--quick] [--json PATH] [--rounds N] [--chunk K] [--only paper|recipe]

Two configurations: pytorch/examples ``dcgan`` defaults (64x64, batch 64, nz 100, ngf = ndf
= 64, unconditional, BCE loss) and the default of ``recipes/digits_dcgan.yaml`` (read from
the recipe: class-conditional, 32x32, its widths and batch).

How it is measured (as ``bench_pix2pix.py``). The plugin runs through
``DCGANTrainer.fit()`` exactly as the ``train-gan`` step does (uint8 images shuffled per
epoch, divergence guard, curves, progress). Its ``train_step`` is wrapped: after every
``chunk`` plugin iterations the wrapper runs ``chunk`` iterations of the plain reference
loop, so the two alternate and a neighbour's load on a shared CPU hits both alike; the
figures are medians over the rounds. A plugin iteration is timed from the moment the
previous one returned to the loop (the loop's own work between steps counts) to the end of
its ``train_step``. End-of-epoch work (sample grid, checkpoint) falls outside the window:
the run is shorter than an epoch; the checkpoint write is timed on its own.

FLOP/s: one more (untimed) plugin ``train_step`` runs under ``torch.utils.flop_counter``
(``common.count_flops``); that count times each side's iterations per second is its
achieved FLOP/s.

Acceptance: the plugin's overhead over the plain loop (1 - ratio) stays under 10 %.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from common import (
    alternate,
    alternate_rows,
    configurations,
    report,
    step_context,
    torch_threads,
    training_parser,
    versions,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

PAPER = {
    "model": "dcgan",
    "image_size": 64,
    "batch_size": 64,
    "nz": 100,
    "ngf": 64,
    "ndf": 64,
    "classes": 0,
}


def recipe_config() -> dict | None:
    """The train-gan step of recipes/digits_dcgan.yaml (10 classes: the digits)."""
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe

    path = ROOT / "recipes" / "digits_dcgan.yaml"
    if not path.exists():
        return None
    recipe = load_recipe(path, PluginHost())
    p = next(s for s in recipe.steps if s.type.name == "train-gan").params
    return {
        "model": p.model,
        "image_size": p.image_size,
        "batch_size": p.batch_size,
        "nz": p.nz,
        "ngf": p.ngf,
        "ndf": p.ndf,
        "classes": 10 if p.model == "cdcgan" else 0,
        "loss": p.loss,
    }


def measure(cfg: dict, rounds: int, chunk: int, warmup: int) -> tuple[list[dict], dict]:
    import torch
    from reference_dcgan import PlainDCGAN, build, make_batches
    from reference_dcgan import run as run_reference

    from artforge.schemas.gan import TrainGanParams
    from artforge_torch.dcgan import DCGANTrainer, ImageData

    size, bs, k = cfg["image_size"], cfg["batch_size"], cfg["classes"]
    iterations = warmup + rounds * chunk
    params = TrainGanParams(
        model=cfg["model"],
        data="${x.images}",
        image_size=size,
        batch_size=bs,
        epochs=1,
        iterations=iterations,
        nz=cfg["nz"],
        ngf=cfg["ngf"],
        ndf=cfg["ndf"],
        loss=cfg.get("loss", "vanilla"),
        flip=False,
    )
    # one epoch holds more batches than the run needs: no end-of-epoch work in the window
    n = bs * (iterations + 1)
    rng = np.random.default_rng(0)
    images = list(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    labels = list(rng.integers(0, k, n)) if k else None
    data = ImageData(images, labels, size, flip=False)
    with tempfile.TemporaryDirectory(prefix="bench-dcgan-") as tmp:
        trainer = DCGANTrainer(step_context(Path(tmp)), params, data, k)
        dev = trainer.rt.device
        G, D = build(size, cfg["nz"], cfg["ngf"], cfg["ndf"], dev, n_classes=k)
        plain = PlainDCGAN(G, D, dev, nz=cfg["nz"])
        ref_data = make_batches(min(n, 512), size, dev)
        ref_labels = torch.randint(0, k, (len(ref_data),), device=dev) if k else None
        m = alternate(
            trainer,
            lambda steps, **kw: run_reference(plain, ref_data, steps, bs, labels=ref_labels, **kw),
            warmup,
            chunk,
            bs,
        )
    label = f"{cfg['model']} {size}x{size}, batch {bs}, nz {cfg['nz']}, ngf {cfg['ngf']}, ndf {cfg['ndf']}"
    return alternate_rows(m, f"train {label}", label, chunk), m["device"]


def main() -> None:
    args = training_parser(__doc__).parse_args()
    torch = torch_threads()
    cuda = torch.cuda.is_available()
    configs = configurations(args.only, PAPER, recipe_config, "recipes/digits_dcgan.yaml")
    rows = []
    desc: dict = {}
    for name, cfg in configs:
        if cuda:
            rounds = args.rounds or (50 if args.quick else 200)
        else:
            rounds = args.rounds or (4 if args.quick else 20)
        r, desc = measure(cfg, rounds, args.chunk or 1, warmup=2 if args.quick and not cuda else 5)
        for row in r:
            row["name"] = f"[{name}] " + row["name"]
        rows += r
    v = versions()
    print(
        f"threads: {torch.get_num_threads()}, amp: {desc.get('amp')}, channels_last: "
        f"{desc.get('channels_last')}; torch {v['torch']}, numpy {v['numpy']}, python {v['python']}"
    )
    report("DCGAN training", rows, args.json)


if __name__ == "__main__":
    main()
