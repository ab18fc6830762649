"""The machine's own ceiling: float32 matmul and 3x3 convolution throughput (PyTorch).

    python bench/bench_ceiling.py

Training benchmarks report their achieved FLOP/s as a fraction of these numbers.
"""

from __future__ import annotations

from common import parser, report, timeit


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else None
    rows = []
    n = 2048 if dev == "cpu" else 8192
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    t = timeit(lambda: a @ b, repeat=3 if args.quick else 7, sync=sync)
    rows.append({"name": f"matmul fp32 {n}x{n}", "value": 2 * n**3 / t / 1e9, "unit": "GFLOP/s"})
    x = torch.randn(64, 64, 32, 32, device=dev)
    conv = torch.nn.Conv2d(64, 128, 3, padding=1).to(dev)
    with torch.inference_mode():
        t = timeit(lambda: conv(x), repeat=3 if args.quick else 7, sync=sync)
    flops = 2 * 64 * 128 * 9 * 32 * 32 * 64
    rows.append(
        {"name": "conv2d 3x3 64->128 32x32 batch 64", "value": flops / t / 1e9, "unit": "GFLOP/s"}
    )
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
                "note": f"{threads} threads",
            }
        )
    report("Machine ceiling", rows, args.json)


if __name__ == "__main__":
    main()
