"""The machine's own ceiling: float32 matmul and 3x3 convolution throughput (PyTorch).

    python bench/bench_ceiling.py [--quick] [--json PATH]

Training benchmarks report their achieved FLOP/s as a fraction of these numbers:
``bench/run_all.py`` measures them first and divides every training row's ``gflops`` by the
rows marked ``"ceiling": "matmul"`` and ``"ceiling": "conv3x3"`` of the same run.

A ceiling is a peak, so each is the best (fastest) of its timed repetitions, not the median.
The conv 3x3 ceiling is a wide layer (256 -> 256 channels, 32x32, batch 16: as fast as the
matmul on this CPU); the narrower 64 -> 128 layer of earlier runs is kept beside it for
comparison (narrow layers are slower per FLOP). Threads: torch's default (the plugin's).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the torch plugin sets

from common import parser, report, timeit  # noqa: E402


def best(fn, repeat: int, sync=None) -> float:
    """The fastest of ``repeat`` timed calls after two warm-up calls."""
    for _ in range(2):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    from artforge_torch.training.device import configure_threads

    configure_threads()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else None
    repeat = 5 if args.quick else 10
    rows = []
    n = 2048 if dev == "cpu" else 8192
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    t = best(lambda: a @ b, repeat, sync)
    rows.append(
        {
            "name": f"matmul fp32 {n}x{n}",
            "value": 2 * n**3 / t / 1e9,
            "unit": "GFLOP/s",
            "ceiling": "matmul",
            "note": f"best of {repeat}",
        }
    )
    for cin, cout, hw, bs, mark in ((256, 256, 32, 16, "conv3x3"), (64, 128, 32, 64, None)):
        x = torch.randn(bs, cin, hw, hw, device=dev)
        conv = torch.nn.Conv2d(cin, cout, 3, padding=1).to(dev)
        with torch.inference_mode():
            t = best(lambda conv=conv, x=x: conv(x), repeat, sync)
        flops = 2 * cin * cout * 9 * hw * hw * bs
        row = {
            "name": f"conv2d 3x3 {cin}->{cout} {hw}x{hw} batch {bs}",
            "value": flops / t / 1e9,
            "unit": "GFLOP/s",
            "note": f"best of {repeat}" + ("" if mark else "; narrow layer, for comparison"),
        }
        if mark:
            row["ceiling"] = mark
        rows.append(row)
    t1 = timeit(lambda: a @ b, repeat=3, sync=sync)
    if dev == "cpu":
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t_single = timeit(lambda: a @ b, repeat=3)
        torch.set_num_threads(threads)
        rows.append(
            {
                "name": "matmul fp32, all threads vs 1 thread",
                "value": 2 * n**3 / t1 / 1e9,
                "unit": "GFLOP/s",
                "reference": 2 * n**3 / t_single / 1e9,
                "ratio": t_single / t1,
                "note": f"{threads} threads; medians",
            }
        )
    report("Machine ceiling", rows, args.json)


if __name__ == "__main__":
    main()
