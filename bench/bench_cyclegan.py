"""CycleGAN training speed (PyTorch): iterations per second of the plugin's trainer beside a
plain PyTorch loop of the same networks (``bench/reference_cyclegan.py``).

    python bench/bench_cyclegan.py [--quick] [--json PATH] [--rounds N] [--chunk K]
                                   [--only paper|recipe] [--paper-size 128|256]

Two configurations: the paper's (two 9-block ResNet generators at 256x256, batch 1,
ngf = ndf = 64; on a CPU its 128x128 setting with 6 blocks unless ``--paper-size 256``:
one 256-px iteration takes seconds there, more than the suite's budget allows) and the
default of ``recipes/day_to_night_cyclegan.yaml`` (read from the recipe, so the figure
follows it).

How it is measured (as ``bench_pix2pix.py``). The plugin runs through
``CycleGANTrainer.fit()`` exactly as the ``train-gan`` step does (two unpaired uint8 domains,
each shuffled, cropped and flipped on its own, the history pools, divergence guard, curves,
progress). Its ``train_step`` is wrapped: after every ``chunk`` plugin iterations the wrapper
runs ``chunk`` iterations of the plain reference loop, so the two alternate and a
neighbour's load on a shared CPU hits both alike; the figures are medians over the rounds.
A plugin iteration is timed from the moment the previous one returned to the loop (the
loop's own work between steps counts) to the end of its ``train_step``. End-of-epoch work
(sample grid, checkpoint) falls outside the window: the run is shorter than an epoch; the
checkpoint write is timed on its own. FLOP/s: one more (untimed) plugin ``train_step`` runs
under ``torch.utils.flop_counter``.

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

PAPER = {"image_size": 256, "batch_size": 1, "ngf": 64, "ndf": 64, "n_blocks": 9, "n_layers_d": 3}


def recipe_config() -> dict | None:
    """The train-gan step of recipes/day_to_night_cyclegan.yaml."""
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe

    path = ROOT / "recipes" / "day_to_night_cyclegan.yaml"
    if not path.exists():
        return None
    recipe = load_recipe(path, PluginHost())
    p = next(s for s in recipe.steps if s.type.name == "train-gan").params
    return {
        "image_size": p.image_size,
        "batch_size": p.batch_size,
        "ngf": p.ngf,
        "ndf": p.ndf,
        "n_blocks": p.n_blocks,
        "n_layers_d": p.n_layers_d,
        "lambda_cycle": p.lambda_cycle,
        "lambda_identity": p.lambda_identity,
        "load_size": p.load_size,
        "jitter": p.jitter,
    }


def measure(cfg: dict, rounds: int, chunk: int, warmup: int) -> tuple[list[dict], dict]:
    from reference_cyclegan import PlainCycleGAN, build, make_batches
    from reference_cyclegan import run as run_reference

    from artforge.schemas.gan import TrainGanParams
    from artforge_torch.cyclegan import CycleGANTrainer, UnpairedData

    size, bs = cfg["image_size"], cfg["batch_size"]
    iterations = warmup + rounds * chunk
    params = TrainGanParams(
        model="cyclegan",
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
        n_blocks=cfg["n_blocks"],
        n_layers_d=cfg["n_layers_d"],
        lambda_cycle=cfg.get("lambda_cycle", 10.0),
        lambda_identity=cfg.get("lambda_identity", 0.5),
    )
    load = params.load_size or (round(size * 286 / 256) if params.jitter else size)
    # one epoch holds more batches than the run needs: no end-of-epoch work in the window
    n = bs * (iterations + 1)
    rng = np.random.default_rng(0)
    a = list(rng.integers(0, 256, (n, load, load, 3), dtype=np.uint8))
    b = list(rng.integers(0, 256, (n, load, load, 3), dtype=np.uint8))
    data = UnpairedData(a, b, size, load, flip=True)
    with tempfile.TemporaryDirectory(prefix="bench-cyclegan-") as tmp:
        trainer = CycleGANTrainer(step_context(Path(tmp)), params, data)
        dev = trainer.rt.device
        nets = build(cfg["ngf"], cfg["ndf"], cfg["n_blocks"], cfg["n_layers_d"], dev)
        plain = PlainCycleGAN(
            *nets, dev, lambda_cycle=params.lambda_cycle, lambda_identity=params.lambda_identity
        )
        ra, rb = make_batches(min(n, 64), size, dev)
        m = alternate(
            trainer,
            lambda steps, **kw: run_reference(plain, ra, rb, steps, bs, **kw),
            warmup,
            chunk,
            bs,
        )
    label = (
        f"{size}x{size}, {cfg['n_blocks']} blocks, batch {bs}, ngf {cfg['ngf']}, ndf {cfg['ndf']}"
    )
    rows = alternate_rows(
        m, f"train cyclegan {label}", label, chunk, state="4 nets, 2 Adam, 2 image pools, RNG"
    )
    return rows, m["device"]


def main() -> None:
    ap = training_parser(__doc__)
    ap.add_argument(
        "--paper-size",
        type=int,
        choices=(128, 256),
        default=None,
        help="the paper configuration's size (default: 256 on CUDA, 128 with 6 blocks on a CPU)",
    )
    args = ap.parse_args()
    torch = torch_threads()
    cuda = torch.cuda.is_available()
    paper = dict(PAPER)
    if (args.paper_size or (256 if cuda else 128)) == 128:
        paper.update(image_size=128, n_blocks=6)  # the paper's 128 x 128 setting
    configs = configurations(args.only, paper, recipe_config, "recipes/day_to_night_cyclegan.yaml")
    rows = []
    desc: dict = {}
    for name, cfg in configs:
        big = cfg["image_size"] >= 128 and not cuda
        if cuda:
            rounds = args.rounds or (50 if args.quick else 200)
        elif big:
            rounds = args.rounds or (3 if args.quick else 6)
        else:
            rounds = args.rounds or (8 if args.quick else 30)
        warmup = 1 if big else (2 if args.quick and not cuda else 5)
        r, desc = measure(cfg, rounds, args.chunk or 1, warmup=warmup)
        for row in r:
            row["name"] = f"[{name}] " + row["name"]
        rows += r
    v = versions()
    print(
        f"threads: {torch.get_num_threads()}, amp: {desc.get('amp')}, channels_last: "
        f"{desc.get('channels_last')}; torch {v['torch']}, numpy {v['numpy']}, python {v['python']}"
    )
    report("CycleGAN training", rows, args.json)


if __name__ == "__main__":
    main()
