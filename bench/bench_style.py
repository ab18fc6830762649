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
"""

from __future__ import annotations

from common import parser, report, timeit


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    from artforge_torch.nets import features as feat
    from artforge_torch.style.feedforward import build_transformer
    from artforge_torch.style.loss_net import LossNetwork

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    rows = []
    steps = 5 if args.quick else 10

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
            if args.quick and size == 512 and name == "VGG19" and dev.type == "cpu":
                continue
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
    t = timeit(lambda: opt.optimise(content, ct, st, steps), warmup=1, repeat=3, sync=sync)
    x = content.clone().requires_grad_(True)

    def plain():
        for _ in range(steps):
            lc, ls, ltv = ln.losses(x, ct, st)
            (lc + ls + ltv).backward()
            x.grad = None

    t_ref = timeit(plain, warmup=1, repeat=3, sync=sync)
    return {
        "name": f"optimise (L-BFGS) {size}px, {name}",
        "value": steps / t,
        "unit": "steps/s",
        "reference": steps / t_ref,
        "ratio": t_ref / t,
        "note": "reference: plain forward+backward loop",
    }


if __name__ == "__main__":
    main()
