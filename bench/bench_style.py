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

Every pair alternates (``common.alternate_rounds``: rounds AB, BA, ...; one optimisation
call and one call of the plain loop per round, the ratio the median of the per-round
ratios), so a neighbour's load on a shared machine hits both alike. (Timed one after the
other, as before 2026-12-07, the VGG19 row read 1.60x, an artifact of the load changing
between the two timings; issue 16 measured about 0.92 alternated.) An optimisation's steps
are its loss evaluations, counted (``on_eval``), not assumed.

Time budget: an optimisation call runs ``steps`` L-BFGS steps, fewer where a step is dear
on a CPU (random features: 8 at 256 px, 3 at 512 px; VGG19: 3 at 256 px, and VGG19 at
512 px only on a GPU, where every case runs 10), after a warm-up call of each side, in
4 alternating rounds (quick: 3), stopping early past 8 s of rounds: about two minutes on
two quiet CPU cores.

FLOP/s of the optimisation rows: one step of the plain loop (forward + backward through the
loss network to the image) under ``torch.utils.flop_counter`` (see ``common.count_flops``);
an L-BFGS step evaluates the same loss once, so the count is the same for the plugin.
"""

from __future__ import annotations

from common import alternate_rounds, count_flops, paired_row, parser, report, with_flops


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
                rows.append(optimise_row(name, ln, size, steps, dev, sync, args.quick))

    x = torch.rand(1, 3, 512, 512, device=dev)
    for width in (32, 16):
        net = build_transformer({"width": width}).to(dev).eval()

        def plain_ff(net=net):
            with torch.no_grad():
                net(x)

        cl = dev.type == "cuda"  # as the step does: channels_last on CUDA only
        net_s = net.to(memory_format=torch.channels_last) if cl else net
        xs = x.contiguous(memory_format=torch.channels_last) if cl else x

        def fast(net_s=net_s, xs=xs):
            with torch.inference_mode():
                net_s(xs)

        t, t_ref = alternate_rounds(fast, plain_ff, 3 if args.quick else 5, sync=sync)
        row = paired_row(
            f"feed-forward 512x512, width {width}",
            t,
            t_ref,
            unit="images/s",
            reference="no_grad",
        )
        row["note"] += f"; {1000 / row['value']:.0f} ms/image"
        rows.append(row)
    report("Style transfer", rows, args.json)


def optimise_row(name, ln, size, steps, dev, sync, quick: bool = False) -> dict:
    import torch

    from artforge_torch.style.gatys import GatysOptimiser

    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, size, size, generator=g).to(dev)
    style = torch.rand(1, 3, size, size, generator=g).to(dev)
    opt = GatysOptimiser(ln, steps=steps, scales=1)
    ct, st = ln.content_targets(content), ln.style_targets(style)
    evaluations: list[int] = []

    def optimise() -> None:
        calls: list[object] = []
        opt.optimise(content, ct, st, steps, on_eval=calls.append)
        evaluations.append(len(calls))

    x = content.clone().requires_grad_(True)

    def plain(n=steps):
        for _ in range(n):
            lc, ls, ltv = ln.losses(x, ct, st)
            (lc + ls + ltv).backward()
            x.grad = None

    flops = count_flops(lambda: plain(1))
    t, t_ref = alternate_rounds(
        optimise, plain, 3 if quick else 4, sync=sync, budget=8.0, min_rounds=3
    )
    if set(evaluations) != {steps}:  # a step is one loss evaluation; say so if it was not
        raise SystemExit(
            f"{name} {size}px: L-BFGS made {sorted(set(evaluations))} evaluations, not {steps}"
        )
    row = paired_row(
        f"optimise (L-BFGS) {size}px, {name}",
        t,
        t_ref,
        unit="steps/s",
        reference="plain forward+backward loop",
        work=steps,
        note=f"{steps} steps (loss evaluations, counted) per call",
    )
    return with_flops(row, flops, row["value"], row["reference"])


if __name__ == "__main__":
    main()
