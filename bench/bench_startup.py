"""CLI start-up time: `artforge --help` and `artforge plugins`, beside a bare `python -c pass`.

python bench/bench_startup.py
"""

from __future__ import annotations

import subprocess
import sys
import time

from common import parser, report


def wall(cmd: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    args = parser(__doc__).parse_args()
    repeat = 3 if args.quick else 7
    base = wall([sys.executable, "-c", "pass"], repeat)
    rows = []
    for argv in (["--help"], ["plugins"], ["steps"]):
        t = wall([sys.executable, "-m", "artforge", *argv], repeat)
        rows.append(
            {
                "name": f"artforge {' '.join(argv)}",
                "value": t * 1000,
                "unit": "ms",
                "reference": base * 1000,
                "ratio": t / base,
                "note": "reference: python -c pass",
            }
        )
    t = wall([sys.executable, "-c", "import torch"], repeat)
    rows.append(
        {
            "name": "import torch (for scale)",
            "value": t * 1000,
            "unit": "ms",
            "reference": base * 1000,
            "ratio": t / base,
        }
    )
    report("CLI start-up", rows, args.json)


if __name__ == "__main__":
    main()
