"""Super-resolution speed (PyTorch): megapixels of output per second.

    python bench/bench_sr.py [--quick] [--json PATH]

ESPCN and SRResNet at x2 and x4 on a 256x256 low-resolution image, whole-image and tiled
(128-pixel tiles, overlap = the receptive-field radius, as the step does) inference, beside the reference: Pillow's bicubic
interpolation of the same image. Also training iterations per second (batch 16, 64-pixel
high-resolution patches) beside a plain forward+backward loop on a fixed batch, which shows
the cost of degrading the pairs on the fly.

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
from common import count_flops, parser, report, timeit, with_flops


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
        t_ref = timeit(lambda scale=scale: upscale(img, scale, "bicubic"), repeat=repeat)
        for arch in ("espcn", "srresnet"):
            if args.quick and arch == "srresnet" and scale == 4:
                continue
            net = build_net(arch, scale).to(dev).eval()
            for tile in (None, 128):

                def run(net=net, tile=tile, scale=scale, overlap=conv_radius(net)):
                    with torch.inference_mode():
                        tiled_forward(net, x, scale, tile, overlap)

                heavy = arch == "srresnet"
                t = timeit(
                    run,
                    warmup=1,
                    repeat=3 if heavy else repeat,
                    sync=sync,
                    budget=4.0 if heavy else None,
                )
                rows.append(
                    {
                        "name": f"{arch} x{scale}" + (f", tiles {tile}" if tile else ", whole"),
                        "value": out_mp / t,
                        "unit": "MP/s",
                        "reference": out_mp / t_ref,
                        "ratio": t_ref / t,
                        "note": "reference: Pillow bicubic",
                    }
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
        net = build_net(arch, 2)
        res = train_sr(net, sampler, steps=steps, batch_size=16, device=dev)
        lo, hi = sampler(16)
        xb, yb = batch_to_tensor(list(lo), dev), batch_to_tensor(list(hi), dev)
        opt = torch.optim.Adam(net.parameters(), 1e-4)
        net.train()

        def plain(net=net, opt=opt, xb=xb, yb=yb):
            loss = torch.nn.functional.l1_loss(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

        t_ref = timeit(plain, warmup=1, repeat=steps, sync=sync)
        rate = res.steps / res.seconds
        row = with_flops(
            {
                "name": f"train {arch} x2, batch 16, 64px patches",
                "value": rate,
                "unit": "it/s",
                "reference": 1 / t_ref,
                "ratio": rate * t_ref,
                "note": f"reference: plain step on a fixed batch; {steps} steps",
            },
            flops,
            rate,
            1 / t_ref,
        )
        rows.append(row)
    report("Super-resolution", rows, args.json)


if __name__ == "__main__":
    main()
