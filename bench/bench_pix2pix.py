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

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import count_flops, parser, quartiles, report, with_flops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))


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
        trainer = Pix2PixTrainer(_ctx(Path(tmp)), params, data)
        dev = trainer.rt.device
        G, D = build(size, cfg["ngf"], cfg["ndf"], cfg["n_layers_d"], dev)
        plain = PlainPix2Pix(G, D, dev)
        ra, rb = make_batches(min(n_pairs, 64), size, dev)

        plugin_times: list[float] = []
        ref_rounds: list[float] = []
        state = {"returned": None, "n": 0}
        real_step = trainer.train_step

        def wrapped(batch):
            losses = real_step(batch)  # .item() inside synchronises a GPU
            end = time.perf_counter()
            state["n"] += 1
            if state["returned"] is not None and state["n"] > warmup:
                plugin_times.append(end - state["returned"])
            if state["n"] >= warmup and (state["n"] - warmup) % chunk == 0:
                if state["n"] == warmup:
                    run_reference(plain, ra, rb, warmup, bs)  # the reference's own warm-up
                else:
                    ref_rounds.append(run_reference(plain, ra, rb, chunk, bs, seed=state["n"]))
            state["returned"] = time.perf_counter()
            return losses

        trainer.train_step = wrapped
        trainer.save = lambda: None  # checkpoint I/O is timed separately below
        trainer.fit()
        # FLOPs of one plugin iteration (D and G updates, forward + backward), counted on
        # one more untimed train_step
        import torch

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
    spread = [p / r for p, r in zip(plugin_rounds, ref_rounds)]  # per-round time ratios
    q = quartiles(spread)
    label = f"{size}x{size}, batch {bs}, ngf {cfg['ngf']}"
    rows = [
        with_flops(
            {
                "name": f"train pix2pix {label}",
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
            "note": f"{ckpt_mb:.0f} MB full state (nets, Adam, RNG), atomic + fsync; "
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
    # what importing artforge_torch does in a run, before torch loads (see its docstring)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from artforge_torch.training.device import configure_threads

    configure_threads()
    cuda = torch.cuda.is_available()
    configs = []
    if args.only != "recipe":
        configs.append(
            ("paper", {"image_size": 256, "batch_size": 1, "ngf": 64, "ndf": 64, "n_layers_d": 3})
        )
    if args.only != "paper":
        cfg = recipe_config()
        if cfg is None:
            print("recipes/night_to_day.yaml not found: skipping the recipe configuration")
        else:
            configs.append(("recipe", cfg))
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
