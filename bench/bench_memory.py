"""End-to-end wall time and peak memory: the main recipe, and bounded-memory checks.

    python bench/bench_memory.py [--quick] [--json PATH] [--only NAME ...]

Each measurement runs in its own child process, and its peak resident memory is that
child's high-water mark (``ru_maxrss`` of the ``rusage`` that ``os.wait4`` returns for it,
which includes any process it waited for), so no measurement inherits another's peak:

- ``e2e``: ``artforge run recipes/night_to_day.yaml`` end to end (every step, the gallery),
  into a fresh run folder (nothing cached). Reference for the wall time: the sum of the
  steps' own times from the run's ``manifest.json`` (ratio = wall / that: what start-up,
  validation and the gallery add); for the memory: the peak of a bare
  ``python -c "import torch"``. Quick: the same recipe with ``--set`` small values.
- ``images``: the ``images`` step loading 10 000 tiny PNGs (32x32; quick: 2 000) from a
  folder, through ``artforge run`` (gallery disabled). Reference: the same recipe on 100
  images; ratio = peak(N) / peak(100): 1.0 when memory does not grow with the number of
  images (each image is decoded, written and released in turn).
- ``sr-tiled``: ESPCN x2 (untrained: the cost is the same) on a 4096x4096 image (quick:
  2048) through the plugin's ``upscale_tensor`` with the step's default tile (256) and
  overlap (the receptive-field radius), as the ``super-resolve`` step runs it;
- ``translate-tiled``: an untrained U-Net generator of the main recipe's shape (64 px,
  ngf 32) on a 4096x4096 image (quick: 2048) through ``gan_steps.translate_tiled`` with the
  ``translate`` step's defaults for large images (512-pixel tiles, overlap 32), as the step
  does it (uint8 in; each tile to [-1, 1] on its own; blended rows stored as uint8).
  Reference for both: the floor, i.e. the process's own peak just before inference (torch,
  the network, the uint8 input) plus the uint8 output it must hold; ratio = peak / floor.
  The note gives the working memory above the floor.
- ``train-256``: pix2pix at the ``train-gan`` step's defaults, the largest default size
  (256x256, batch 1, ngf = ndf = 64), a few iterations and the full-state checkpoints
  (nets, Adam moments, EMA; written at the start and at the end), through ``artforge run``.
  Reference: ``import torch``.

``ru_maxrss`` is what the kernel counted as resident: pages a process touched; it does not
count memory that was reserved but never used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from common import ROOT, parser, report

MARK = "@bench "


def run_child(cmd: list[str], timeout: float, cwd: Path | None = None) -> dict:
    """Run ``cmd``; its wall time, peak RSS (MB), exit status, and output."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = {
            "rc": proc.returncode,
            "wall": wall,
            "peak_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }
    if killed.is_set() or result["rc"] != 0:
        why = f"timed out after {timeout:.0f} s" if killed.is_set() else f"exit {result['rc']}"
        tail = "\n".join((result["stdout"] + result["stderr"]).splitlines()[-30:])
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({why}):\n{tail}")
    return result


def child_result(res: dict) -> dict:
    """The JSON line a ``python -c`` child printed after the marker."""
    for line in res["stdout"].splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    raise RuntimeError(f"no result line from the child:\n{res['stdout'][-2000:]}")


def artforge_run(recipe: Path, out: Path, sets: list[str], timeout: float) -> dict:
    cmd = [sys.executable, "-m", "artforge", "run", str(recipe), "--out", str(out), "-q"]
    for s in sets:
        cmd += ["--set", s]
    return run_child(cmd, timeout)


def torch_floor(timeout: float = 120) -> float:
    return run_child([sys.executable, "-c", "import torch"], timeout)["peak_mb"]


# -- the measurements ----------------------------------------------------------------------
QUICK_SETS = [
    "vars.size=32",
    "vars.pairs=16",
    "vars.holdout=4",
    "vars.epochs=1",
    "vars.decay_epochs=0",
    "vars.sr_steps=10",
    "vars.sr_patch=32",
    "vars.style_steps=5",
    "vars.style_size=64",
]


def e2e(quick: bool, tmp: Path, timeout: float) -> list[dict]:
    recipe = ROOT / "recipes" / "night_to_day.yaml"
    sets = QUICK_SETS if quick else []
    res = artforge_run(recipe, tmp / "e2e", sets, timeout)
    manifest = json.loads((tmp / "e2e" / "manifest.json").read_text())
    step_s = sum(float(s.get("seconds") or 0) for s in _steps(manifest))
    floor = torch_floor()
    what = "recipes/night_to_day.yaml" + (" (quick --set values)" if quick else "")
    rows = [
        {
            "name": f"artforge run {what}, wall",
            "value": res["wall"],
            "unit": "s",
            "reference": step_s,
            "ratio": res["wall"] / step_s if step_s else None,
            "note": "reference: the sum of the steps' own times (manifest.json); the rest "
            "is start-up, validation and the gallery",
        },
        {
            "name": f"artforge run {what}, peak RSS",
            "value": res["peak_mb"],
            "unit": "MB",
            "reference": floor,
            "ratio": res["peak_mb"] / floor,
            "note": "reference: python -c 'import torch'; ratio = peak / that",
        },
    ]
    if quick:
        for r in rows:
            r["note"] += "; --set " + " ".join(sets)
    return rows


def _steps(manifest: dict) -> list[dict]:
    return [{"seconds": s.get("seconds")} for s in manifest.get("steps", [])]


def images(quick: bool, tmp: Path, timeout: float) -> list[dict]:
    import numpy as np
    from PIL import Image

    count = 2000 if quick else 10000
    peaks = {}
    walls = {}
    for n in (100, count):
        folder = tmp / f"imgs{n}"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(n):
            arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(arr).save(folder / f"img{i:05d}.png", compress_level=1)
        recipe = tmp / f"images{n}.yaml"
        recipe.write_text(
            textwrap.dedent(
                f"""\
                name: bench-images-{n}
                steps:
                  - id: load
                    uses: images
                    with: {{path: {folder.name}}}
                gallery: {{enabled: false}}
                """
            )
        )
        res = artforge_run(recipe, tmp / f"run{n}", [], timeout)
        peaks[n], walls[n] = res["peak_mb"], res["wall"]
    return [
        {
            "name": f"images step, {count} PNGs of 32x32, peak RSS",
            "value": peaks[count],
            "unit": "MB",
            "reference": peaks[100],
            "ratio": peaks[count] / peaks[100],
            "note": f"reference: the same on 100 images; 1.0 = memory does not grow with the "
            f"count; wall {walls[count]:.1f} s ({count / walls[count]:.0f} images/s end to end)",
        }
    ]


INFER_CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch
from artforge_torch.training.device import configure_threads
configure_threads()
kind, size = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
if kind == "sr":
    from artforge.sr_learned import tiled_to_image
    from artforge_torch.sr.runtime import build_net, forward_fn
    from artforge_torch.sr.tiled import conv_radius
    net = build_net("espcn", 2).eval()
    tile, overlap, scale = 256, conv_radius(net), 2
    def infer():
        return tiled_to_image(forward_fn(net), img, scale, tile, overlap)
else:
    from artforge_torch.gan_steps import translate_tiled
    from artforge_torch.nets.init import init_weights
    from artforge_torch.nets.pix2pix import UNetGenerator
    net = init_weights(UNetGenerator(3, 3, 64, ngf=32)).eval()
    tile, overlap, scale = 512, 32, 1
    def infer():
        with torch.inference_mode():
            return translate_tiled(net, img[None], tile, overlap, net.multiple)[0]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
out = infer()
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
assert out.shape == (size * scale, size * scale, 3) and out.dtype == np.uint8, out.shape
print("@bench " + json.dumps({"before_mb": before, "peak_mb": peak, "wall": wall,
      "out_mb": out.nbytes / 2**20, "tile": tile, "overlap": overlap}), flush=True)
"""


def tiled(kind: str, quick: bool, tmp: Path, timeout: float) -> list[dict]:
    size = 2048 if quick else 4096
    res = run_child([sys.executable, "-c", INFER_CHILD, kind, str(size)], timeout)
    r = child_result(res)
    floor = r["before_mb"] + r["out_mb"]
    extra = res["peak_mb"] - floor
    if kind == "sr":
        name = f"ESPCN x2 tiled inference, {size}x{size} -> {2 * size}x{2 * size}, peak RSS"
    else:
        name = f"translate (U-Net, ngf 32) tiled, {size}x{size}, peak RSS"
    mp = (size * (2 if kind == "sr" else 1)) ** 2 / 1e6
    return [
        {
            "name": name,
            "value": res["peak_mb"],
            "unit": "MB",
            "reference": floor,
            "ratio": res["peak_mb"] / floor,
            "note": f"reference: peak before inference ({r['before_mb']:.0f} MB) + the uint8 "
            f"output ({r['out_mb']:.0f} MB); {extra:.0f} MB of working memory above it; "
            f"tile {r['tile']}, overlap {r['overlap']}; {r['wall']:.1f} s "
            f"({mp / r['wall']:.2f} MP/s out)",
        }
    ]


def train_256(quick: bool, tmp: Path, timeout: float) -> list[dict]:
    iterations = 2 if quick else 4
    recipe = tmp / "train256.yaml"
    recipe.write_text(
        textwrap.dedent(
            f"""\
            name: bench-train-256
            steps:
              - id: scenes
                uses: synthetic-scenes
                with: {{count: 8, holdout: 0, size: 256}}
              - id: train
                uses: train-gan
                with:
                  model: pix2pix
                  source: ${{scenes.night}}
                  target: ${{scenes.day}}
                  epochs: 1
                  iterations: {iterations}
            gallery: {{enabled: false}}
            """
        )
    )
    res = artforge_run(recipe, tmp / "train256", [], timeout)
    floor = torch_floor()
    return [
        {
            "name": "train-gan pix2pix at the defaults (256x256, batch 1, ngf 64), peak RSS",
            "value": res["peak_mb"],
            "unit": "MB",
            "reference": floor,
            "ratio": res["peak_mb"] / floor,
            "note": f"reference: python -c 'import torch'; {iterations} iterations + the "
            f"full-state checkpoints, through artforge run; wall {res['wall']:.1f} s",
        }
    ]


CASES = {
    "e2e": e2e,
    "images": images,
    "sr-tiled": lambda q, t, s: tiled("sr", q, t, s),
    "translate-tiled": lambda q, t, s: tiled("translate", q, t, s),
    "train-256": train_256,
}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--only", nargs="*", choices=sorted(CASES), help="measurements to run")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per child process")
    args = ap.parse_args()
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        for name in args.only or CASES:
            t0 = time.perf_counter()
            folder = Path(tmp) / name
            folder.mkdir()
            try:
                got = CASES[name](args.quick, folder, args.timeout)
            except RuntimeError as exc:
                print(f"{name}: FAILED: {exc}", file=sys.stderr, flush=True)
                failed.append(name)
                continue
            rows += got
            print(f"{name}: done in {time.perf_counter() - t0:.1f} s", flush=True)
    report("End to end and memory", rows, args.json)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
