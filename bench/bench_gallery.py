"""How long the gallery takes to build for a run with many images.

    python bench/bench_gallery.py [--images 500] [--size 128] [--quick] [--json PATH]

Writes a synthetic finished run (three image sets of N/3 images, per-epoch samples, loss
curves, a collage) into a temporary folder, then times: the first build (thumbnails, zips,
plots made), a rebuild with everything cached, and `gallery build` after one image changed.
Reference: the first build; the ratio of a rebuild is rebuild / first build (the share of
the first build's time that a rebuild costs). Each round builds a fresh copy of the run
(first build, cached rebuild, one image newer), so every rebuild has a first build of its own
round beside it; the ratio is the median of the per-round ratios. Single process, mostly
Pillow (thumbnails) and zlib (zips).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import paired_row, parser, report

from artforge.gallery import build_gallery
from tests.gallery.synth import make_run


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--images", type=int, default=None, help="images in the run (about; 500)")
    ap.add_argument("--size", type=int, default=128, help="image edge in pixels")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 2)")
    args = ap.parse_args()
    images = args.images or (150 if args.quick else 500)
    rounds = args.rounds or (2 if args.quick else 3)
    first, cached, one = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        source = make_run(Path(tmp) / "source", count=max(1, images // 3), size=args.size)
        n = sum(1 for _ in (source / "steps").rglob("*.png"))
        for r in range(rounds):
            run = Path(tmp) / f"gallery{r}"
            shutil.copytree(source, run)  # a fresh run: nothing of the gallery made yet
            for times, before in ((first, None), (cached, None), (one, "touch")):
                if before:
                    (run / "steps/translate/images/scene00000.png").touch()
                t0 = time.perf_counter()
                build_gallery(run)
                times.append(time.perf_counter() - t0)
            size = sum(p.stat().st_size for p in (run / "_gallery").rglob("*") if p.is_file())
            shutil.rmtree(run)
    label = f"{n} images of {args.size}px"
    t_first = statistics.median(first)
    rows = [
        {
            "name": f"first build, {label}",
            "value": t_first,
            "unit": "s",
            "note": f"thumbnails, zips, plots; {size / 1e6:.1f} MB; {n / t_first:.0f} images/s; "
            f"median of {rounds} rounds",
        },
        paired_row(
            f"cached rebuild, {label}",
            cached,
            first,
            unit="s",
            reference="the first build",
            rate=False,
        ),
        paired_row(
            f"rebuild, one image newer, {label}",
            one,
            first,
            unit="s",
            reference="the first build",
            rate=False,
        ),
    ]
    report("Gallery build", rows, args.json)


if __name__ == "__main__":
    main()
