"""pix2pix training speed (PyTorch): iterations per second of the plugin's trainer beside a
plain PyTorch loop of the same networks (``bench/reference_pix2pix.py``).

    python bench/bench_pix2pix.py [--quick] [--json PATH] [--rounds N] [--chunk K]

Two configurations: the paper's (U-Net 256, 256x256, batch 1, ngf = ndf = 64) and the
default of ``recipes/night_to_day.yaml`` (read from the recipe, so the figure follows it).

How it is measured. The plugin runs through ``Pix2PixTrainer.fit()`` exactly as the
``train-gan`` step does (paired uint8 data, resize-crop jitter and flips per batch,
divergence guard, curves, progress). Its ``train_step`` is wrapped: after every ``chunk``
plugin iterations (default 1) the wrapper runs ``chunk`` iterations of the plain reference
loop, so the two alternate step by step and a neighbour's load on a shared CPU hits both
alike; the figures are medians over the rounds. A plugin iteration is timed from the moment
the previous one returned to the loop (so the loop's own work between steps counts) to
the end of its ``train_step``. End-of-epoch work (sample grid, checkpoint) falls outside
the window: the run is shorter than an epoch; the checkpoint write is timed on its own and
printed as a separate row.

FLOP/s: one more (untimed) plugin ``train_step`` runs under ``torch.utils.flop_counter``
(convolutions forward and backward, see ``common.count_flops``); that count times each
side's iterations per second is its achieved FLOP/s (``gflops``, ``reference_gflops``).

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
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

PAPER = {"image_size": 256, "batch_size": 1, "ngf": 64, "ndf": 64, "n_layers_d": 3}


def recipe_config() -> dict | None:
    """image_size, batch_size, ngf, ndf, n_layers_d of the main recipe's train-gan step."""
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe

    path = ROOT / "recipes" / "night_to_day.yaml"
    if not path.exists():
        return None
    recipe = load_recipe(path, PluginHost())
    step = next(s for s in recipe.steps if s.type.name == "train-gan")
    p = step.params
    return {
        "image_size": p.image_size,
        "batch_size": p.batch_size,
        "ngf": p.ngf,
        "ndf": p.ndf,
        "n_layers_d": p.n_layers_d,
        "load_size": p.load_size,
        "jitter": p.jitter,
    }


def _pairs(n: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    b = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    return a, b


def measure(cfg: dict, rounds: int, chunk: int, warmup: int) -> tuple[list[dict], dict]:
    from reference_pix2pix import PlainPix2Pix, build, make_batches
    from reference_pix2pix import run as run_reference

    from artforge.schemas.gan import TrainGanParams
    from artforge_torch.data import PairedData
    from artforge_torch.pix2pix import Pix2PixTrainer

    size, bs = cfg["image_size"], cfg["batch_size"]
    iterations = warmup + rounds * chunk
    params = TrainGanParams(
        model="pix2pix",
        source="${x.a}",
        target="${x.b}",
        image_size=size,
        load_size=cfg.get("load_size"),
        jitter=cfg.get("jitter", True),
        batch_size=bs,
        epochs=1,
        iterations=iterations,
        ngf=cfg["ngf"],
        ndf=cfg["ndf"],
        n_layers_d=cfg["n_layers_d"],
    )
    load = params.load_size or (round(size * 286 / 256) if params.jitter else size)
    # one epoch holds more batches than the run needs: no end-of-epoch work in the window
    n_pairs = bs * (iterations + 1)
    a, b = _pairs(n_pairs, load)
    data = PairedData(a, b, size, load, flip=True)
    with tempfile.TemporaryDirectory(prefix="bench-pix2pix-") as tmp:
        trainer = Pix2PixTrainer(step_context(Path(tmp)), params, data)
        dev = trainer.rt.device
        G, D = build(size, cfg["ngf"], cfg["ndf"], cfg["n_layers_d"], dev)
        plain = PlainPix2Pix(G, D, dev)
        ra, rb = make_batches(min(n_pairs, 64), size, dev)
        m = alternate(
            trainer,
            lambda steps, **kw: run_reference(plain, ra, rb, steps, bs, **kw),
            warmup,
            chunk,
            bs,
        )
    label = f"{size}x{size}, batch {bs}, ngf {cfg['ngf']}"
    return alternate_rows(m, f"train pix2pix {label}", label, chunk, mb_digits=0), m["device"]


def main() -> None:
    args = training_parser(__doc__).parse_args()
    torch = torch_threads()
    cuda = torch.cuda.is_available()
    configs = configurations(args.only, PAPER, recipe_config, "recipes/night_to_day.yaml")
    rows = []
    for name, cfg in configs:
        big = cfg["image_size"] >= 256 and not cuda
        if cuda:
            rounds = args.rounds or (50 if args.quick else 200)
        elif big:
            rounds = args.rounds or (4 if args.quick else 8)
        else:
            rounds = args.rounds or (10 if args.quick else 30)
        r, desc = measure(cfg, rounds, args.chunk or 1, warmup=2 if big else 5)
        for row in r:
            row["name"] = f"[{name}] " + row["name"]
        rows += r
    print(
        f"threads: {torch.get_num_threads()}, amp: {desc['amp']}, channels_last: {desc['channels_last']}"
    )
    report("pix2pix training", rows, args.json)


if __name__ == "__main__":
    main()
