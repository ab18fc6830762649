"""CLI start-up time: `artforge --help` and `artforge plugins`, beside a bare `python -c pass`.

python bench/bench_startup.py [--quick] [--json PATH]

Each command alternates with ``python -c pass`` (rounds AB, BA, ...; median times, the ratio
the median of the per-round ratios).
"""

from __future__ import annotations

import subprocess
import sys

from common import alternate_rounds, paired_row, parser, report


def command(cmd: list[str]):
    def run() -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    return run


def main() -> None:
    args = parser(__doc__).parse_args()
    repeat = 3 if args.quick else 7
    base = command([sys.executable, "-c", "pass"])
    rows = []
    for argv in (["--help"], ["plugins"], ["steps"]):
        t, t_base = alternate_rounds(
            command([sys.executable, "-m", "artforge", *argv]), base, repeat
        )
        rows.append(
            paired_row(
                f"artforge {' '.join(argv)}",
                t,
                t_base,
                unit="ms",
                reference="python -c pass",
                rate=False,
                scale=1000,
            )
        )
    t, t_base = alternate_rounds(command([sys.executable, "-c", "import torch"]), base, repeat)
    row = paired_row(
        "import torch (for scale)",
        t,
        t_base,
        unit="ms",
        reference="python -c pass",
        rate=False,
        scale=1000,
    )
    rows.append(row)
    report("CLI start-up", rows, args.json)


if __name__ == "__main__":
    main()
