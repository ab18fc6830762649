"""The same training benchmarks on both backends in one run: PyTorch and Keras 3/TensorFlow.

    python bench/bench_backends.py [--quick] [--json PATH] [--rounds N] [--chunk K]
                                   [--budget SECONDS] [--only NAME ...]

Cases (each the training iteration the plugin runs, data preparation included):

- ``pix2pix-recipe``: ``recipes/night_to_day.yaml``'s train-gan configuration (read from the
  recipe, so the figure follows it: 64x64, batch 4, ngf = ndf = 32 at the time of writing):
  the torch ``Pix2PixTrainer.train_step`` on a batch from its ``PairedData``, against the
  Keras ``Pix2Pix`` model's compiled ``train_step`` (``train_on_batch``) on a batch from its
  ``PairedData``;
- ``pix2pix-paper``: the paper's configuration (256x256, batch 1, ngf = ndf = 64);
- ``espcn`` and ``srresnet``: one super-resolution training step (batch 16, 64 px HR
  patches at x2 / x4, L1, Adam) on each backend's network;
- ``johnson``: one feed-forward style-network training step (batch 4, 128 px crops, random
  multi-scale loss features, content + style + TV losses).

How it is measured. One run starts two worker processes per case, one per backend, each
with only its own framework loaded (so neither framework's idle threads can compete with the
other's work) and the same number of threads (torch's OpenMP threads = TensorFlow's
intra-op threads = the cores this process may use; OpenMP waits passively, as the torch
plugin sets). After a warm-up (which also traces the Keras ``tf.function``), the two
alternate in rounds of ``chunk`` iterations, so a neighbour's load on a shared CPU hits both
alike; the figure per backend is the median over rounds of the time per iteration, and the
ratio, Keras time / PyTorch time per iteration (< 1: Keras faster), is the median of the
per-round ratios (``common.paired``), whose quartiles show how stable it was.

The parent talks to each worker over two dedicated pipes, never stdin/stdout: whatever a
framework prints cannot corrupt the answers, and a worker that fails has the tail of its
output shown. ``--budget SECONDS`` caps the time of all cases together (each case gets an
equal share and stops adding rounds when it is spent, after at least 4).

FLOP/s: after the warm-up the torch worker runs one more (untimed) iteration under
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls, forward and
backward; see ``common.count_flops``); both backends run the same network, so that count
divided by each backend's time per iteration is its achieved FLOP/s (``gflops`` for Keras,
``reference_gflops`` for PyTorch).

Acceptance (issue 7): the Keras backend within 1.5x of PyTorch's time per iteration on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import count_flops, paired, parser, report, with_flops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _ctx(root: Path, backend: str):
    from artforge.context import StepContext

    for d in ("step", "work", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return StepContext(
        step_id="bench",
        uses="train-gan",
        seed=0,
        backend=backend,
        device="cpu",
        dir=root / "step",
        work_dir=root / "work",
        run_dir=root / "run",
        recipe_dir=root,
        resolve=lambda ref: None,
        log=lambda m: None,
        quiet=True,
    )


def recipe_pix2pix() -> dict:
    """The train-gan configuration of recipes/night_to_day.yaml (defaults if it is absent)."""
    cfg = {"image_size": 64, "batch_size": 8, "ngf": 32, "ndf": 32, "n_layers_d": 3}
    path = ROOT / "recipes" / "night_to_day.yaml"
    if path.exists():
        from artforge.plugins import PluginHost
        from artforge.recipe import load_recipe

        recipe = load_recipe(path, PluginHost())
        p = next(s for s in recipe.steps if s.type.name == "train-gan").params
        cfg = {k: getattr(p, k) for k in cfg}
    return cfg


# -- cases: each builds (step function, label) for one backend -------------------------------
def pix2pix_case(cfg: dict, tmp: Path, backend: str):
    from artforge.schemas.gan import TrainGanParams

    size, bs = cfg["image_size"], cfg["batch_size"]
    p = TrainGanParams(
        source="${x.a}",
        target="${x.b}",
        image_size=size,
        batch_size=bs,
        epochs=1,
        ngf=cfg["ngf"],
        ndf=cfg["ndf"],
        n_layers_d=cfg["n_layers_d"],
    )
    load = round(size * 286 / 256)
    rng = np.random.default_rng(0)
    n = max(4 * bs, 8)
    a = [rng.integers(0, 256, (load, load, 3), dtype=np.uint8) for _ in range(n)]
    b = [rng.integers(0, 256, (load, load, 3), dtype=np.uint8) for _ in range(n)]
    label = f"pix2pix {size}x{size}, batch {bs}, ngf {cfg['ngf']}"
    if backend == "torch":
        import torch

        from artforge_torch.data import PairedData as TData
        from artforge_torch.pix2pix import Pix2PixTrainer as TTrainer

        t = TTrainer(_ctx(tmp / "t", "torch"), p, TData(a, b, size, load, flip=True))
        gen = torch.Generator().manual_seed(0)
        t_batches = iter(())

        def torch_step():
            nonlocal t_batches
            batch = next(t_batches, None)
            if batch is None:
                t_batches = iter(t.data.epoch(bs, gen))
                batch = next(t_batches)
            t.train_step(batch)

        return torch_step, label

    from artforge_keras.data import PairedData as KData
    from artforge_keras.pix2pix import Pix2PixTrainer as KTrainer

    k = KTrainer(_ctx(tmp / "k", "keras"), p, KData(a, b, size, load, flip=True))
    count = {"i": 0}

    def keras_step():
        count["i"] += 1
        k.model.train_on_batch(k.data.batch(0, count["i"] % k.data.batches_per_epoch(bs), bs))

    return keras_step, label


def sr_case(arch: str, scale: int, tmp: Path, backend: str):
    bs, patch = 16, 64
    lo_size = patch // scale
    label = f"{arch} x{scale}, batch {bs}, {patch}px HR patches"
    cls = {"espcn": "ESPCN", "srresnet": "SRResNet"}[arch]
    rng = np.random.default_rng(0)
    lo = rng.integers(0, 256, (bs, lo_size, lo_size, 3), dtype=np.uint8)
    hi = rng.integers(0, 256, (bs, patch, patch, 3), dtype=np.uint8)
    if backend == "keras":
        import keras

        from artforge_keras.nets import sr as ksr
        from artforge_keras.sr.train import SRModel

        model = SRModel(getattr(ksr, cls)(scale=scale))
        model.compile(optimizer=keras.optimizers.Adam(1e-4), pixel_loss="l1")

        def keras_step():
            model.train_on_batch(lo, hi)

        return keras_step, label
    import torch

    from artforge_torch.nets import sr as tsr

    tnet = getattr(tsr, cls)(scale=scale)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-4)

    def torch_step():
        x = torch.from_numpy(lo).permute(0, 3, 1, 2).float().div(255)
        y = torch.from_numpy(hi).permute(0, 3, 1, 2).float().div(255)
        loss = torch.nn.functional.l1_loss(tnet(x), y)
        topt.zero_grad(set_to_none=True)
        loss.backward()
        topt.step()
        loss.item()

    return torch_step, label


def johnson_case(tmp: Path, backend: str):
    """One feed-forward style training step: TransformerNet (width 16, as
    recipes/stylize.yaml), batch 4 of 128 px crops, random multi-scale loss features."""
    label = "johnson width 16, batch 4, 128px, random features"
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (4, 128, 128, 3), dtype=np.uint8)
    style = rng.random((1, 128, 128, 3), dtype=np.float32)
    if backend == "keras":
        import keras

        from artforge_keras.nets.features import RandomMultiScaleFeatures as KFeat
        from artforge_keras.nets.transformer import TransformerNet as KNet
        from artforge_keras.style.feedforward import StyleNetModel
        from artforge_keras.style.loss_net import LossNetwork as KLoss

        kfeat = KFeat(seed=0)
        kl = KLoss(kfeat, kfeat.DEFAULT_CONTENT_LAYERS, kfeat.DEFAULT_STYLE_LAYERS, "random", "")
        model = StyleNetModel(KNet(width=16), kl, kl.style_targets(style), (1.0, 5.0, 1.0))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))

        def keras_step():
            model.train_on_batch(batch)

        return keras_step, label
    import torch

    from artforge_torch.nets.features import RandomMultiScaleFeatures as TFeat
    from artforge_torch.nets.transformer import TransformerNet as TNet
    from artforge_torch.style.loss_net import LossNetwork as TLoss

    tfeat = TFeat(seed=0).eval()
    tl = TLoss(tfeat, tfeat.DEFAULT_CONTENT_LAYERS, tfeat.DEFAULT_STYLE_LAYERS, "random", "")
    tnet = TNet(width=16)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    t_style = tl.style_targets(torch.from_numpy(style).permute(0, 3, 1, 2))

    def torch_step():
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255)
        ct = tl.content_targets(x)
        lc, ls, ltv = tl.losses(tnet(x), ct, t_style)
        loss = lc + 5 * ls + ltv
        topt.zero_grad(set_to_none=True)
        loss.backward()
        topt.step()
        loss.item()

    return torch_step, label


CASES: dict[str, Callable] = {
    "pix2pix-recipe": lambda tmp, b: pix2pix_case(recipe_pix2pix(), tmp, b),
    "pix2pix-paper": lambda tmp, b: pix2pix_case(
        {"image_size": 256, "batch_size": 1, "ngf": 64, "ndf": 64, "n_layers_d": 3}, tmp, b
    ),
    "espcn": lambda tmp, b: sr_case("espcn", 2, tmp, b),
    "srresnet": lambda tmp, b: sr_case("srresnet", 4, tmp, b),
    "johnson": johnson_case,
}


# -- the worker protocol -----------------------------------------------------------------------
# The parent talks to each worker over two dedicated pipes (not stdin/stdout): commands on
# one, answers on the other, one JSON object per line. The worker's stdout is pointed at its
# stderr before any framework loads, and both go to a log file, so banners, warnings and
# progress bars (TensorFlow's C++ start-up lines, absl logs, a stray print) can never reach
# the protocol; the log's tail is shown if the worker fails.
MARK = "@bench "  # every answer starts with it: anything else on the answer pipe is an error


def worker(backend: str, case: str, fds: str) -> None:
    """Build one backend's step for ``case``; then for each command ``{"run": N}`` run N steps
    and answer ``{"seconds": S}``; ``{"flops": 1}`` counts one step's FLOPs (torch only);
    ``{"stop": 1}`` or the end of the command pipe ends it."""
    cmd_fd, ans_fd = (int(x) for x in fds.split(","))
    sys.stdout.flush()
    os.dup2(2, 1)  # native writes to fd 1 land in the log too
    sys.stdout = sys.stderr
    answers = os.fdopen(ans_fd, "w", buffering=1)
    commands = os.fdopen(cmd_fd, "r")

    def answer(obj: dict) -> None:
        answers.write(MARK + json.dumps(obj) + "\n")
        answers.flush()

    try:
        if backend == "torch":
            import torch  # noqa: F401

            from artforge_torch.training.device import configure_threads

            configure_threads()
        else:
            from artforge_keras.backend import keras_module

            keras_module()
        with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as tmp:
            step, label = CASES[case](Path(tmp), backend)
            answer({"label": label, "threads": _threads(backend), "pid": os.getpid()})
            for line in commands:
                cmd = json.loads(line)
                if "run" in cmd:
                    t0 = time.perf_counter()
                    for _ in range(int(cmd["run"])):
                        step()
                    answer({"seconds": time.perf_counter() - t0})
                elif "flops" in cmd:
                    answer({"flops": count_flops(step) if backend == "torch" else 0})
                else:
                    break
    except BaseException as exc:  # the parent shows the log; say what happened there too
        import traceback

        traceback.print_exc()
        try:
            answer({"error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
        raise SystemExit(1) from None


def _threads(backend: str) -> int:
    if backend == "torch":
        import torch

        return torch.get_num_threads()
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads()


class WorkerError(RuntimeError):
    pass


class Worker:
    """A worker process for one backend and case (see the protocol above)."""

    def __init__(self, backend: str, case: str, timeout: float = 600.0):
        self.backend, self.case, self.timeout = backend, case, timeout
        self.log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (closed in close())
        cmd_r, self._cmd_w = os.pipe()
        self._ans_r, ans_w = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                backend,
                "--case",
                case,
                "--fds",
                f"{cmd_r},{ans_w}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            pass_fds=(cmd_r, ans_w),
        )
        os.close(cmd_r)
        os.close(ans_w)
        self._buf = b""
        self.info = self._answer("start-up")

    def _fail(self, what: str) -> WorkerError:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.seek(0)
        tail = self.log.read().decode("utf-8", "replace").splitlines()[-40:]
        shown = "\n".join("    " + line for line in tail) or "    (nothing)"
        return WorkerError(
            f"{self.backend} worker for case '{self.case}' failed ({what}; exit status "
            f"{self.proc.returncode}). Its output (stdout + stderr), last lines:\n{shown}"
        )

    def _answer(self, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                raise self._fail(f"no answer to {what} within {self.timeout:.0f} s")
            ready, _, _ = select.select([self._ans_r], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._ans_r, 65536)
                if not chunk:  # the worker closed its end: it has exited
                    raise self._fail(f"it exited before answering {what}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        text = line.decode("utf-8", "replace")
        if not text.startswith(MARK):
            raise self._fail(f"unexpected line on the answer pipe: {text[:200]!r}")
        msg = json.loads(text[len(MARK) :])
        if "error" in msg:
            raise self._fail(msg["error"])
        return msg

    def _send(self, obj: dict) -> None:
        try:
            os.write(self._cmd_w, (json.dumps(obj) + "\n").encode())
        except BrokenPipeError:
            raise self._fail("its command pipe is closed") from None

    def run(self, n: int) -> float:
        self._send({"run": n})
        return float(self._answer(f"run {n}")["seconds"])

    def flops(self) -> int:
        self._send({"flops": 1})
        return int(self._answer("flops")["flops"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send({"stop": 1})
            except WorkerError:
                pass
        for fd in (self._cmd_w, self._ans_r):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def measure(case: str, rounds: int, chunk: int, warmup: int, budget: float | None) -> dict:
    """Alternate the two workers for ``rounds`` rounds of ``chunk`` iterations (fewer, but
    at least 4, once ``budget`` seconds have been spent on this case)."""
    start = time.perf_counter()
    torch_w = keras_w = None
    try:
        torch_w = Worker("torch", case)
        keras_w = Worker("keras", case)
        torch_w.run(warmup)
        keras_w.run(warmup)  # also traces the tf.function
        flops = torch_w.flops()  # one more (untimed) torch step, under the counter
        t_rounds, k_rounds = [], []
        for r in range(rounds):
            pair = (torch_w, keras_w) if r % 2 == 0 else (keras_w, torch_w)
            for w in pair:
                dt = w.run(chunk) / chunk
                (t_rounds if w is torch_w else k_rounds).append(dt)
            if budget is not None and r + 1 >= 4 and time.perf_counter() - start > budget:
                break
    finally:
        for w in (torch_w, keras_w):
            if w is not None:
                w.close()
    p = paired(k_rounds, t_rounds)  # the ratio: the median of the per-round ratios
    q1, q3 = p["q1"], p["q3"]
    tm, km = p["b"], p["a"]
    row = {
        "name": torch_w.info["label"],
        "value": km * 1000,
        "unit": "ms/it (keras)",
        "reference": tm * 1000,
        "reference_unit": "ms/it (torch)",
        "ratio": p["ratio"],
        "ratio_quartiles": [q1, q3],
        "note": f"keras/torch time per iteration (< 1: keras faster), the median of the "
        f"per-round ratios; quartiles {q1:.2f}-{q3:.2f}, {len(t_rounds)} alternating rounds "
        f"of {chunk}; "
        f"threads torch {torch_w.info['threads']}, TF intra-op {keras_w.info['threads']}",
    }
    # both run the same network: the torch count is the FLOPs of either iteration
    return with_flops(row, flops, 1 / km, 1 / tm)


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds per case")
    ap.add_argument("--chunk", type=int, default=2, help="iterations per round")
    ap.add_argument("--only", nargs="*", choices=sorted(CASES), help="cases to run")
    ap.add_argument(
        "--budget", type=float, default=None, help="seconds for all cases (soft: >= 4 rounds each)"
    )
    ap.add_argument("--worker", choices=("torch", "keras"), help=argparse.SUPPRESS)
    ap.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--fds", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.case, args.fds)
        return
    names = args.only or [n for n in CASES if not (args.quick and n == "pix2pix-paper")]
    rounds = args.rounds or (4 if args.quick else 12)
    per_case = args.budget / len(names) if args.budget else None
    rows = []
    failed = []
    for name in names:
        try:
            row = measure(name, rounds, args.chunk, 2 if args.quick else 3, per_case)
        except WorkerError as exc:
            print(f"{name}: FAILED\n{exc}", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        rows.append(row)
        print(
            f"{name}: keras {row['value']:.1f} ms, torch {row['reference']:.1f} ms, "
            f"ratio {row['ratio']:.2f}",
            flush=True,
        )
    report("Keras vs PyTorch training time per iteration", rows, args.json)
    if failed:
        sys.exit(f"failed cases: {', '.join(failed)}")


if __name__ == "__main__":
    main()
