"""Super-resolution speed (PyTorch): megapixels of output per second.

    python bench/bench_sr.py [--quick] [--json PATH]

ESPCN and SRResNet at x2 and x4 on a 256x256 low-resolution image, whole-image and tiled
(128-pixel tiles, overlap = the receptive-field radius, as the step does) inference, beside the reference: Pillow's bicubic
interpolation of the same image. Also training iterations per second (batch 16, 64-pixel
high-resolution patches) beside a plain forward+backward loop on a fixed batch, which shows
the cost of degrading the pairs on the fly.

Every pair alternates (``common.alternate_rounds``: rounds AB, BA, ...; the ratio is the
median of the per-round ratios), so a neighbour's load on a shared machine hits both alike.
Training alternates inside the run: ``train_sr``'s sampler is wrapped so that after two
warm-up steps, after each step the plain loop runs one step on its fixed batch, timed on its
own; a ``train_sr`` step is the time from one sampler call to the next, less the plain step
run between them.

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

import time

import numpy as np
from common import alternate_rounds, count_flops, paired_row, parser, report, with_flops


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    from artforge.sr_baselines import upscale
    from artforge_torch.sr.data import PairSampler
    from artforge_torch.sr.learned import build_net
    from artforge_torch.sr.tiled import conv_radius, tiled_forward
    from artforge_torch.sr.train import train_sr
    from artforge_torch.style.util import batch_to_tensor

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    repeat = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(dev)
    rows = []
    for scale in (2, 4):
        out_mp = (256 * scale) ** 2 / 1e6

        def bicubic(scale=scale):
            upscale(img, scale, "bicubic")

        for arch in ("espcn", "srresnet"):
            if args.quick and arch == "srresnet" and scale == 4:
                continue
            net = build_net(arch, scale).to(dev).eval()
            for tile in (None, 128):

                def run(net=net, tile=tile, scale=scale, overlap=conv_radius(net)):
                    with torch.inference_mode():
                        tiled_forward(net, x, scale, tile, overlap)

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
    for arch in ("espcn", "srresnet"):
        if arch == "espcn":
            steps = 10 if args.quick else 30
        else:
            steps = 3 if args.quick else 8
        sampler = PairSampler(images, 2, 64, seed=0)
        flops = count_flops(
            lambda arch=arch: train_sr(
                build_net(arch, 2),
                PairSampler(images, 2, 64, seed=1),
                steps=1,
                batch_size=16,
                device=dev,
            )
        )
        # the reference: a plain step of its own network on one fixed batch
        lo, hi = PairSampler(images, 2, 64, seed=2)(16)
        xb, yb = batch_to_tensor(list(lo), dev), batch_to_tensor(list(hi), dev)
        ref_net = build_net(arch, 2).to(dev).train()
        opt = torch.optim.Adam(ref_net.parameters(), 1e-4)

        def plain(net=ref_net, opt=opt, xb=xb, yb=yb):
            loss = torch.nn.functional.l1_loss(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sync:
                sync()

        t, t_ref = interleaved_train(arch, sampler, plain, steps, dev)
        row = paired_row(
            f"train {arch} x2, batch 16, 64px patches",
            t,
            t_ref,
            unit="it/s",
            reference="plain step on a fixed batch",
            note=f"{steps} steps",
        )
        rows.append(with_flops(row, flops, row["value"], row["reference"]))
    report("Super-resolution", rows, args.json)


def interleaved_train(arch, sampler, plain, steps: int, dev, warmup: int = 2):
    """Seconds of each ``train_sr`` step and of the ``plain`` step run after it, alternating
    inside one ``train_sr`` run of ``warmup + steps + 1`` steps (see the module's doc)."""
    from artforge_torch.sr.learned import build_net
    from artforge_torch.sr.train import train_sr

    plugin: list[float] = []
    ref: list[float] = []
    state = {"calls": 0, "start": None}

    def wrapped(n):
        now = time.perf_counter()
        state["calls"] += 1
        if state["start"] is not None:  # the previous step is over: its data and its update
            plugin.append(now - state["start"])
        if state["calls"] == warmup + 1:
            plain()  # the reference's warm-up
        elif state["calls"] > warmup + 1:
            t0 = time.perf_counter()
            plain()
            ref.append(time.perf_counter() - t0)
        state["start"] = time.perf_counter() if state["calls"] > warmup else None
        return sampler(n)

    train_sr(build_net(arch, 2), wrapped, steps=warmup + steps + 1, batch_size=16, device=dev)
    return plugin, ref


if __name__ == "__main__":
    main()
