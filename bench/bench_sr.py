"""Super-resolution speed (PyTorch): megapixels of output per second.

    python bench/bench_sr.py [--quick] [--train-only] [--json PATH]

ESPCN and SRResNet at x2 and x4 on a 256x256 low-resolution image, whole-image and tiled
(128-pixel tiles, overlap = the receptive-field radius, as the step does) inference, beside the reference: Pillow's bicubic
interpolation of the same image. Also training iterations per second (batch 16, 64-pixel
high-resolution patches) of the step's training (the core's ``artforge.sr_train.train_sr``
with its numpy pipeline, on the torch runtime's session) beside a plain forward+backward
loop on a fixed batch, which shows the cost of degrading the pairs on the fly; for ESPCN
twice, with the pipeline's background prefetching (the default) and without it.

Every pair alternates (``common.alternate_rounds``: rounds AB, BA, ...; the ratio is the
median of the per-round ratios), so a neighbour's load on a shared machine hits both alike.
A training round is a whole ``train_sr`` run of a few steps (its prefetching thread starts
and stops inside the round) against the same number of plain steps.

Time budget: SRResNet is about 40 times the cost of ESPCN, so its inference rows time fewer
calls (one warm-up, up to three timed, stopping early past a few seconds) and its training
rows fewer steps (8, quick: 3) than ESPCN's (30, quick: 10); the full script takes about a
minute and a half on two quiet CPU cores.

FLOP/s of the training rows: one ``train_sr`` step of a fresh network of the same shape runs
under ``torch.utils.flop_counter`` (forward + backward convolutions, see
``common.count_flops``); that count times each side's iterations per second is its
achieved FLOP/s.
"""

from __future__ import annotations

import numpy as np
from common import alternate_rounds, count_flops, paired_row, parser, report, with_flops


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--train-only", action="store_true", help="only the training rows")
    args = ap.parse_args()
    import torch

    from artforge.sr_baselines import upscale
    from artforge.sr_learned import tiled_forward
    from artforge.sr_train import PairSampler, train_sr
    from artforge_torch.sr.runtime import build_net, forward_fn
    from artforge_torch.sr.tiled import conv_radius
    from artforge_torch.style.util import batch_to_tensor

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    repeat = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    x = img[None].astype(np.float32) / 255
    rows = []
    for scale in () if args.train_only else (2, 4):
        out_mp = (256 * scale) ** 2 / 1e6

        def bicubic(scale=scale):
            upscale(img, scale, "bicubic")

        for arch in ("espcn", "srresnet"):
            if args.quick and arch == "srresnet" and scale == 4:
                continue
            net = build_net(arch, scale).to(dev).eval()
            for tile in (None, 128):

                def run(fn=forward_fn(net, dev), tile=tile, scale=scale, overlap=conv_radius(net)):
                    tiled_forward(fn, x, scale, tile, overlap)

                heavy = arch == "srresnet"
                t, t_ref = alternate_rounds(
                    run,
                    bicubic,
                    3 if heavy else repeat,
                    sync=sync,
                    budget=4.0 if heavy else None,
                    min_rounds=3,
                )
                rows.append(
                    paired_row(
                        f"{arch} x{scale}" + (f", tiles {tile}" if tile else ", whole"),
                        t,
                        t_ref,
                        unit="MP/s",
                        reference="Pillow bicubic",
                        work=out_mp,
                    )
                )

    images = [rng.integers(0, 256, (300, 300, 3), dtype=np.uint8) for _ in range(4)]
    for arch, prefetch in (("espcn", 3), ("espcn", 0), ("srresnet", 3)):
        if arch == "espcn":
            steps, rounds = (5, 3) if args.quick else (10, 5)
        else:
            steps, rounds = (1, 3) if args.quick else (2, 3)
        flops = count_flops(
            lambda arch=arch: train_sr(
                session(build_net(arch, 2), dev),
                PairSampler(images, 2, 64, seed=1),
                steps=1,
                batch_size=16,
                prefetch=0,
            )
        )
        # the reference: a plain step of its own network on one fixed batch
        lo, hi = PairSampler(images, 2, 64, seed=2).batch(0, 16)
        xb, yb = batch_to_tensor(list(lo), dev), batch_to_tensor(list(hi), dev)
        ref_net = build_net(arch, 2).to(dev).train()
        opt = torch.optim.Adam(ref_net.parameters(), 1e-4)

        def plain(net=ref_net, opt=opt, xb=xb, yb=yb, steps=steps):
            for _ in range(steps):
                loss = torch.nn.functional.l1_loss(net(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            if sync:
                sync()

        ours = session(build_net(arch, 2), dev)
        sampler = PairSampler(images, 2, 64, seed=0)

        def train(ours=ours, sampler=sampler, steps=steps, prefetch=prefetch):
            train_sr(ours, sampler, steps=steps, batch_size=16, prefetch=prefetch)

        t, t_ref = alternate_rounds(train, plain, rounds, sync=sync, min_rounds=3)
        row = paired_row(
            f"train {arch} x2, batch 16, 64px patches" + ("" if prefetch else ", no prefetching"),
            [x / steps for x in t],
            [x / steps for x in t_ref],
            unit="it/s",
            reference="plain step on a fixed batch",
            note=f"{rounds} rounds of {steps} steps",
        )
        rows.append(with_flops(row, flops, row["value"], row["reference"]))
    report("Super-resolution", rows, args.json)


def session(net, dev):
    """The step's training session on the torch runtime (Adam, L1, weight averaging)."""
    from artforge.sr_train import ema_decay_for
    from artforge_torch.sr.runtime import Session

    return Session(net, dev, loss="l1", ema_decay=ema_decay_for(4000), perceptual=None, weight=0)


if __name__ == "__main__":
    main()
