"""The same training benchmarks on both backends in one run: PyTorch and Keras 3/TensorFlow.

    python bench/bench_backends.py [--quick] [--json PATH] [--rounds N] [--only NAME ...]

Cases (each the training iteration the plugin runs, data preparation included):

- ``pix2pix-recipe``: ``recipes/night_to_day.yaml``'s train-gan configuration (read from the
  recipe: 64x64, batch 8, ngf = ndf = 32 by default): the torch ``Pix2PixTrainer.train_step``
  on a batch from its ``PairedData``, against the Keras ``Pix2Pix`` model's compiled
  ``train_step`` (``train_on_batch``) on a batch from its ``PairedData``;
- ``pix2pix-paper``: the paper's configuration (256x256, batch 1, ngf = ndf = 64);
- ``espcn`` and ``srresnet``: one super-resolution training step (batch 16, 64 px HR
  patches at x2 / x4, L1, Adam) on each backend's network;
- ``johnson``: one feed-forward style-network training step (batch 4, 128 px crops, random
  multi-scale loss features, content + style + TV losses).

How it is measured. Both backends live in this one process with the same number of threads
(torch's OpenMP threads = TensorFlow's intra-op threads = the cores this process may use;
OpenMP waits passively, as the torch plugin sets). After a warm-up (which also traces the
Keras ``tf.function``), the two alternate in rounds of ``chunk`` iterations, so a
neighbour's load on a shared CPU hits both alike; the figure per backend is the median over
rounds of the time per iteration, and the ratio is Keras time / PyTorch time per iteration
(< 1: Keras faster). The quartiles of the per-round ratio show how stable it was.

Acceptance (issue 7): the Keras backend within 1.5x of PyTorch's time per iteration on CPU.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import parser, report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _ctx(root: Path, backend: str):
    from artforge.context import StepContext

    for d in ("step", "work", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return StepContext(
        step_id="bench",
        uses="train-gan",
        seed=0,
        backend=backend,
        device="cpu",
        dir=root / "step",
        work_dir=root / "work",
        run_dir=root / "run",
        recipe_dir=root,
        resolve=lambda ref: None,
        log=lambda m: None,
        quiet=True,
    )


def recipe_pix2pix() -> dict:
    """The train-gan configuration of recipes/night_to_day.yaml (defaults if it is absent)."""
    cfg = {"image_size": 64, "batch_size": 8, "ngf": 32, "ndf": 32, "n_layers_d": 3}
    path = ROOT / "recipes" / "night_to_day.yaml"
    if path.exists():
        from artforge.plugins import PluginHost
        from artforge.recipe import load_recipe

        recipe = load_recipe(path, PluginHost())
        p = next(s for s in recipe.steps if s.type.name == "train-gan").params
        cfg = {k: getattr(p, k) for k in cfg}
    return cfg


# -- cases: each returns (torch_step, keras_step, label) --------------------------------------
def pix2pix_case(cfg: dict, tmp: Path):
    from artforge.schemas.gan import TrainGanParams
    from artforge_keras.data import PairedData as KData
    from artforge_keras.pix2pix import Pix2PixTrainer as KTrainer
    from artforge_torch.data import PairedData as TData
    from artforge_torch.pix2pix import Pix2PixTrainer as TTrainer

    size, bs = cfg["image_size"], cfg["batch_size"]
    p = TrainGanParams(
        source="${x.a}",
        target="${x.b}",
        image_size=size,
        batch_size=bs,
        epochs=1,
        ngf=cfg["ngf"],
        ndf=cfg["ndf"],
        n_layers_d=cfg["n_layers_d"],
    )
    load = round(size * 286 / 256)
    rng = np.random.default_rng(0)
    n = max(4 * bs, 8)
    a = [rng.integers(0, 256, (load, load, 3), dtype=np.uint8) for _ in range(n)]
    b = [rng.integers(0, 256, (load, load, 3), dtype=np.uint8) for _ in range(n)]
    t = TTrainer(_ctx(tmp / "t", "torch"), p, TData(a, b, size, load, flip=True))
    k = KTrainer(_ctx(tmp / "k", "keras"), p, KData(a, b, size, load, flip=True))
    import torch

    gen = torch.Generator().manual_seed(0)
    t_batches = iter(())

    def torch_step():
        nonlocal t_batches
        batch = next(t_batches, None)
        if batch is None:
            t_batches = iter(t.data.epoch(bs, gen))
            batch = next(t_batches)
        t.train_step(batch)

    count = {"i": 0}

    def keras_step():
        count["i"] += 1
        k.model.train_on_batch(k.data.batch(0, count["i"] % k.data.batches_per_epoch(bs), bs))

    return torch_step, keras_step, f"pix2pix {size}x{size}, batch {bs}, ngf {cfg['ngf']}"


def sr_case(arch: str, scale: int, tmp: Path):
    import keras
    import torch

    from artforge_keras.nets import sr as ksr
    from artforge_torch.nets import sr as tsr

    bs, patch = 16, 64
    lo_size = patch // scale
    tnet = getattr(tsr, {"espcn": "ESPCN", "srresnet": "SRResNet"}[arch])(scale=scale)
    knet = getattr(ksr, {"espcn": "ESPCN", "srresnet": "SRResNet"}[arch])(scale=scale)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    lo = rng.integers(0, 256, (bs, lo_size, lo_size, 3), dtype=np.uint8)
    hi = rng.integers(0, 256, (bs, patch, patch, 3), dtype=np.uint8)

    def torch_step():
        x = torch.from_numpy(lo).permute(0, 3, 1, 2).float().div(255)
        y = torch.from_numpy(hi).permute(0, 3, 1, 2).float().div(255)
        loss = torch.nn.functional.l1_loss(tnet(x), y)
        topt.zero_grad(set_to_none=True)
        loss.backward()
        topt.step()
        loss.item()

    from artforge_keras.sr.train import SRModel

    model = SRModel(knet)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), pixel_loss="l1")

    def keras_step():
        model.train_on_batch(lo, hi)

    return torch_step, keras_step, f"{arch} x{scale}, batch {bs}, {patch}px HR patches"


def johnson_case(tmp: Path):
    """One feed-forward style training step on each backend: TransformerNet (width 16, as
    recipes/stylize.yaml), batch 4 of 128 px crops, random multi-scale loss features."""
    import keras
    import torch

    from artforge_keras.nets.features import RandomMultiScaleFeatures as KFeat
    from artforge_keras.nets.transformer import TransformerNet as KNet
    from artforge_keras.style.feedforward import StyleNetModel
    from artforge_keras.style.loss_net import LossNetwork as KLoss
    from artforge_torch.nets.features import RandomMultiScaleFeatures as TFeat
    from artforge_torch.nets.transformer import TransformerNet as TNet
    from artforge_torch.style.loss_net import LossNetwork as TLoss

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (4, 128, 128, 3), dtype=np.uint8)
    style = rng.random((1, 128, 128, 3), dtype=np.float32)
    tfeat = TFeat(seed=0).eval()
    tl = TLoss(tfeat, tfeat.DEFAULT_CONTENT_LAYERS, tfeat.DEFAULT_STYLE_LAYERS, "random", "")
    tnet = TNet(width=16)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    t_style = tl.style_targets(torch.from_numpy(style).permute(0, 3, 1, 2))

    def torch_step():
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255)
        ct = tl.content_targets(x)
        lc, ls, ltv = tl.losses(tnet(x), ct, t_style)
        loss = lc + 5 * ls + ltv
        topt.zero_grad(set_to_none=True)
        loss.backward()
        topt.step()
        loss.item()

    kfeat = KFeat(seed=0)
    kl = KLoss(kfeat, kfeat.DEFAULT_CONTENT_LAYERS, kfeat.DEFAULT_STYLE_LAYERS, "random", "")
    model = StyleNetModel(KNet(width=16), kl, kl.style_targets(style), (1.0, 5.0, 1.0))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))

    def keras_step():
        model.train_on_batch(batch)

    return torch_step, keras_step, "johnson width 16, batch 4, 128px, random features"


CASES: dict[str, Callable] = {
    "pix2pix-recipe": lambda tmp: pix2pix_case(recipe_pix2pix(), tmp),
    "pix2pix-paper": lambda tmp: pix2pix_case(
        {"image_size": 256, "batch_size": 1, "ngf": 64, "ndf": 64, "n_layers_d": 3}, tmp
    ),
    "espcn": lambda tmp: sr_case("espcn", 2, tmp),
    "srresnet": lambda tmp: sr_case("srresnet", 4, tmp),
    "johnson": johnson_case,
}


def measure(make, rounds: int, chunk: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        torch_step, keras_step, label = make(Path(tmp))
        for _ in range(warmup):
            torch_step()
            keras_step()
        t_rounds, k_rounds = [], []
        for r in range(rounds):
            order = (torch_step, keras_step) if r % 2 == 0 else (keras_step, torch_step)
            for step in order:
                t0 = time.perf_counter()
                for _ in range(chunk):
                    step()
                dt = (time.perf_counter() - t0) / chunk
                (t_rounds if step is torch_step else k_rounds).append(dt)
    ratios = [k / t for k, t in zip(k_rounds, t_rounds)]
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [min(ratios), 0, max(ratios)]
    tm, km = statistics.median(t_rounds), statistics.median(k_rounds)
    return {
        "name": label,
        "value": km * 1000,
        "unit": "ms/it (keras)",
        "reference": tm * 1000,
        "ratio": km / tm,
        "note": f"keras/torch time per iteration; per-round ratio quartiles {q[0]:.2f}-{q[2]:.2f}, "
        f"{rounds} alternating rounds of {chunk}",
    }


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds per case")
    ap.add_argument("--chunk", type=int, default=2, help="iterations per round")
    ap.add_argument("--only", nargs="*", choices=sorted(CASES), help="cases to run")
    args = ap.parse_args()
    import torch

    from artforge_keras.backend import keras_module
    from artforge_torch.training.device import configure_threads

    configure_threads()
    keras_module()  # pins TensorFlow's intra-op threads to the same count
    import tensorflow as tf

    names = args.only or [n for n in CASES if not (args.quick and n == "pix2pix-paper")]
    rounds = args.rounds or (4 if args.quick else 12)
    rows = []
    for name in names:
        row = measure(CASES[name], rounds, args.chunk, warmup=2 if args.quick else 3)
        rows.append(row)
        print(
            f"{name}: keras {row['value']:.1f} ms, torch {row['reference']:.1f} ms, ratio {row['ratio']:.2f}",
            flush=True,
        )
    threads = f"torch {torch.get_num_threads()} threads, TF {tf.config.threading.get_intra_op_parallelism_threads()} intra-op"
    report(f"Keras vs PyTorch training time per iteration ({threads})", rows, args.json)


if __name__ == "__main__":
    main()
