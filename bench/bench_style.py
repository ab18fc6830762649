"""Style transfer speed (PyTorch): optimisation steps per second and feed-forward images per
second.

    python bench/bench_style.py [--quick] [--json PATH]

* Gatys optimisation (L-BFGS, one loss evaluation per step) at 256 and 512 pixels with the
  offline loss network (random multi-scale filters) and with the VGG19 architecture (random
  weights: the same cost as the ImageNet-trained network). Reference: a plain loop of
  forward + backward through the same loss network, the floor of any optimiser's step.
* Feed-forward stylization of a 512x512 image (Johnson et al.'s network at widths 32 and
  16) as the step runs it: ``torch.inference_mode``, channels_last on CUDA only (slower on
  this CPU). Reference: the same network in a plain ``torch.no_grad`` loop.

Time budget: an optimisation call runs ``steps`` L-BFGS steps, fewer where a step is dear
on a CPU (random features: 8 at 256 px, 3 at 512 px; VGG19: 3 at 256 px, and VGG19 at
512 px only on a GPU, where every case runs 10), after a one-step warm-up, and three timed
calls per side: about two minutes on two quiet CPU cores.

FLOP/s of the optimisation rows: one step of the plain loop (forward + backward through the
loss network to the image) under ``torch.utils.flop_counter`` (see ``common.count_flops``);
an L-BFGS step evaluates the same loss once, so the count is the same for the plugin.
"""

from __future__ import annotations

from common import count_flops, parser, report, timeit, with_flops


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    from artforge_torch.nets import features as feat
    from artforge_torch.style.feedforward import build_transformer
    from artforge_torch.style.loss_net import LossNetwork

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    rows = []
    # L-BFGS steps per timed call, by loss network and size (full, quick)
    # (0: skipped on a CPU, where VGG19 at 512 px alone would take over a minute)
    steps_for = {
        ("random multi-scale", 256): (8, 4),
        ("random multi-scale", 512): (3, 2),
        ("VGG19", 256): (3, 2),
        ("VGG19", 512): (0, 0),
    }

    nets = {}
    rnd = feat.RandomMultiScaleFeatures(seed=0)
    nets["random multi-scale"] = LossNetwork(
        rnd, list(rnd.DEFAULT_CONTENT_LAYERS), list(rnd.DEFAULT_STYLE_LAYERS), "random", ""
    )
    c, s = list(feat.DEFAULT_CONTENT_LAYERS), list(feat.DEFAULT_STYLE_LAYERS)
    nets["VGG19"] = LossNetwork(feat.VGG19Features(layers=c + s), c, s, "vgg19", "")
    for name, ln in nets.items():
        ln.net.to(dev).eval().requires_grad_(False)
        for size in (256, 512):
            full, quick = steps_for[(name, size)]
            steps = quick if args.quick else full
            if dev.type == "cuda":
                steps = 10
            if steps:
                rows.append(optimise_row(name, ln, size, steps, dev, sync))

    x = torch.rand(1, 3, 512, 512, device=dev)
    for width in (32, 16):
        net = build_transformer({"width": width}).to(dev).eval()

        def plain_ff(net=net):
            with torch.no_grad():
                net(x)

        t_ref = timeit(plain_ff, warmup=1, repeat=3 if args.quick else 5, sync=sync)
        cl = dev.type == "cuda"  # as the step does: channels_last on CUDA only
        net_s = net.to(memory_format=torch.channels_last) if cl else net
        xs = x.contiguous(memory_format=torch.channels_last) if cl else x

        def fast(net_s=net_s, xs=xs):
            with torch.inference_mode():
                net_s(xs)

        t = timeit(fast, warmup=1, repeat=3 if args.quick else 5, sync=sync)
        rows.append(
            {
                "name": f"feed-forward 512x512, width {width}",
                "value": 1 / t,
                "unit": "images/s",
                "reference": 1 / t_ref,
                "ratio": t_ref / t,
                "note": f"{t * 1000:.0f} ms/image; reference: no_grad",
            }
        )
    report("Style transfer", rows, args.json)


def optimise_row(name, ln, size, steps, dev, sync) -> dict:
    import torch

    from artforge_torch.style.gatys import GatysOptimiser

    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, size, size, generator=g).to(dev)
    style = torch.rand(1, 3, size, size, generator=g).to(dev)
    opt = GatysOptimiser(ln, steps=steps, scales=1)
    ct, st = ln.content_targets(content), ln.style_targets(style)
    opt.optimise(content, ct, st, 1)  # warm-up: one step
    t = timeit(
        lambda: opt.optimise(content, ct, st, steps), warmup=0, repeat=3, sync=sync, budget=6.0
    )
    x = content.clone().requires_grad_(True)

    def plain(n=steps):
        for _ in range(n):
            lc, ls, ltv = ln.losses(x, ct, st)
            (lc + ls + ltv).backward()
            x.grad = None

    flops = count_flops(lambda: plain(1))  # also the reference's warm-up
    t_ref = timeit(plain, warmup=0, repeat=3, sync=sync, budget=6.0)
    return with_flops(
        {
            "name": f"optimise (L-BFGS) {size}px, {name}",
            "value": steps / t,
            "unit": "steps/s",
            "reference": steps / t_ref,
            "ratio": t_ref / t,
            "note": f"reference: plain forward+backward loop; {steps} steps per call",
        },
        flops,
        steps / t,
        steps / t_ref,
    )


if __name__ == "__main__":
    main()
