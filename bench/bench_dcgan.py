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

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import count_flops, parser, quartiles, report, versions, with_flops

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


def _ctx(root: Path):
    from artforge.context import StepContext

    for d in ("step", "work", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return StepContext(
        step_id="bench",
        uses="train-gan",
        seed=0,
        backend="torch",
        device="auto",
        dir=root / "step",
        work_dir=root / "work",
        run_dir=root / "run",
        recipe_dir=root,
        resolve=lambda ref: None,
        log=lambda m: None,
        quiet=True,
    )


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
        trainer = DCGANTrainer(_ctx(Path(tmp)), params, data, k)
        dev = trainer.rt.device
        G, D = build(size, cfg["nz"], cfg["ngf"], cfg["ndf"], dev, n_classes=k)
        plain = PlainDCGAN(G, D, dev, nz=cfg["nz"])
        ref_data = make_batches(min(n, 512), size, dev)
        ref_labels = torch.randint(0, k, (len(ref_data),), device=dev) if k else None

        plugin_times: list[float] = []
        ref_rounds: list[float] = []
        state = {"returned": None, "n": 0}
        real_step = trainer.train_step

        def wrapped(batch):
            losses = real_step(batch)  # .tolist() inside synchronises a GPU
            end = time.perf_counter()
            state["n"] += 1
            if state["returned"] is not None and state["n"] > warmup:
                plugin_times.append(end - state["returned"])
            if state["n"] >= warmup and (state["n"] - warmup) % chunk == 0:
                if state["n"] == warmup:
                    run_reference(plain, ref_data, warmup, bs, labels=ref_labels)  # its own warm-up
                else:
                    ref_rounds.append(
                        run_reference(
                            plain, ref_data, chunk, bs, seed=state["n"], labels=ref_labels
                        )
                    )
            state["returned"] = time.perf_counter()
            return losses

        trainer.train_step = wrapped
        trainer.save = lambda: None  # checkpoint I/O is timed separately below
        trainer.fit()
        batch = next(iter(trainer.data.epoch(bs, torch.Generator().manual_seed(0))))
        flops = count_flops(lambda: real_step(batch))
        del trainer.save
        t0 = time.perf_counter()
        trainer.save()
        t_ckpt = time.perf_counter() - t0
        ckpt_mb = trainer.checkpoint_path.stat().st_size / 1e6
        device_desc = trainer.rt.describe()

    plugin_rounds = [sum(plugin_times[i : i + chunk]) for i in range(0, len(plugin_times), chunk)]
    plugin_rate = chunk / statistics.median(plugin_rounds)
    ref_rate = chunk / statistics.median(ref_rounds)
    spread = [p / r for p, r in zip(plugin_rounds, ref_rounds)]
    q = quartiles(spread)
    label = f"{cfg['model']} {size}x{size}, batch {bs}, nz {cfg['nz']}, ngf {cfg['ngf']}, ndf {cfg['ndf']}"
    rows = [
        with_flops(
            {
                "name": f"train {label}",
                "value": plugin_rate,
                "unit": "it/s",
                "reference": ref_rate,
                "ratio": plugin_rate / ref_rate,
                "note": f"overhead {100 * (ref_rate / plugin_rate - 1):+.1f}% (per-round time ratio "
                f"quartiles {q[0]:.2f}-{q[2]:.2f}); reference: plain loop, "
                f"{len(plugin_rounds)} alternating rounds of {chunk}",
            },
            flops,
            plugin_rate,
            ref_rate,
        ),
        {
            "name": f"checkpoint write, {label}",
            "value": t_ckpt,
            "unit": "s",
            "note": f"{ckpt_mb:.1f} MB full state (nets, Adam, RNG), atomic + fsync; "
            f"= {t_ckpt * plugin_rate:.1f} iterations",
        },
    ]
    return rows, device_desc


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds per configuration")
    ap.add_argument("--chunk", type=int, default=None, help="iterations per round (default 1)")
    ap.add_argument("--only", choices=("paper", "recipe"), help="measure one configuration")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as importing artforge_torch does
    import torch

    from artforge_torch.training.device import configure_threads

    configure_threads()
    cuda = torch.cuda.is_available()
    configs = []
    if args.only != "recipe":
        configs.append(("paper", dict(PAPER)))
    if args.only != "paper":
        cfg = recipe_config()
        if cfg is None:
            print("recipes/digits_dcgan.yaml not found: skipping the recipe configuration")
        else:
            configs.append(("recipe", cfg))
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
