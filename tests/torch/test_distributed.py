"""Data-parallel training under torchrun (gloo on the CPU): two processes train like one with
the same global batch, keep identical replicas, only rank 0 writes, and a two-process
checkpoint resumes in one process.

Why the two-process result can match the one-process one: every rank draws the order, crops
and flips of the *global* batch from the epoch's generator and keeps its half, DDP averages
the two halves' gradients (equal halves: the global batch's mean gradient) and the loss
curves are averaged across ranks. What would still differ, and is switched off here:
dropout (each rank draws its own masks, from its own RNG stream), and BatchNorm (each CPU
rank normalises with its half's statistics; SyncBatchNorm needs CUDA), so the networks use
instance norm and no dropout. What is left is floating-point summation order: the losses
and the generators' outputs agree to ~1e-6 (checked to 1e-4). A few weights do differ by up to a few
learning rates: conv biases followed by instance norm have a zero gradient in exact
arithmetic, and Adam turns the rounding noise there into +-lr steps (they do not change any
output). Each rank runs with OMP_NUM_THREADS=1 (the test machine's cores are shared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.api import InputRef, Params, StepType, hookimpl  # noqa: E402
from artforge.context import Launch, StepContext  # noqa: E402
from artforge.errors import ArtforgeError, StepError  # noqa: E402
from artforge.recipe import load_recipe  # noqa: E402
from artforge.runner import Runner  # noqa: E402
from artforge.schemas.gan import TrainGanParams  # noqa: E402
from artforge_torch.data import PairedData  # noqa: E402
from artforge_torch.training import distributed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


# -- the launch, the command line, sharding: no process group --------------------------------
def test_launch_from_the_environment():
    assert Launch.from_env({}) == Launch()
    assert not Launch.from_env({"WORLD_SIZE": "1", "RANK": "0"}).distributed
    env = {
        "WORLD_SIZE": "4",
        "RANK": "3",
        "LOCAL_RANK": "1",
        "TORCHELASTIC_RUN_ID": "abc",
        "MASTER_ADDR": "host",
        "MASTER_PORT": "29500",
        "TORCHELASTIC_RESTART_COUNT": "0",
    }
    launch = Launch.from_env(env)
    assert (launch.rank, launch.world_size, launch.local_rank) == (3, 4, 1)
    assert launch.distributed and not launch.is_main and launch.id == "abc/host/29500/0"
    assert Launch.from_env({**env, "ARTFORGE_LAUNCH_ID": "xyz"}).id == "xyz"
    with pytest.raises(ArtforgeError, match="RANK=4 is not below WORLD_SIZE=4"):
        Launch.from_env({**env, "RANK": "4"})
    with pytest.raises(ArtforgeError, match="not a number"):
        Launch.from_env({"WORLD_SIZE": "two"})


def test_nproc_launches_the_same_command_under_torchrun(tmp_path, monkeypatch, capsys):
    from artforge import cli

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nsteps:\n  - id: s\n    uses: synthetic-scenes\n")
    seen = {}

    class FakeLauncher:
        def __init__(self, args, env):
            seen.update(args=args, env=env)
            Path(env["ARTFORGE_EXIT_FILE"]).write_text("2")  # what rank 0 reports

        def wait(self):
            return 1  # torchrun's own status when a rank failed

    monkeypatch.setattr("subprocess.Popen", FakeLauncher)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    args = ["run", str(recipe), "--nproc", "2", "--set", "seed=4", "--out", str(tmp_path / "o")]
    assert cli.main([*args, "-q"]) == 2  # rank 0's exit status, not the launcher's
    launcher = seen["args"]
    assert launcher[:2] == [sys.executable, "-c"] and "torch.distributed.run" in launcher[2]
    assert launcher[3:] == [
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "artforge",
        "run",
        str(recipe),
        "--set",
        "seed=4",
        "--out",
        str(tmp_path / "o"),
        "-q",
    ]
    assert len(seen["env"]["ARTFORGE_LAUNCH_ID"]) == 32
    assert int(seen["env"]["OMP_NUM_THREADS"]) >= 1
    assert not (tmp_path / "o").exists()  # the parent validates, the launched run writes


def test_nproc_inside_a_launch_is_refused(tmp_path, monkeypatch, capsys):
    from artforge import cli

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nsteps:\n  - id: s\n    uses: synthetic-scenes\n")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert cli.main(["run", str(recipe), "--nproc", "2"]) == 2
    assert "already runs under a launcher" in capsys.readouterr().err


def test_shards_of_a_batch_make_up_the_batch():
    rng = np.random.default_rng(0)
    a = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(8)]
    data = PairedData(a, [255 - x for x in a], 16, 20, flip=True)  # crops and flips on

    def epoch(shard):
        return list(data.epoch(4, torch.Generator().manual_seed(5), shard=shard))

    whole = epoch((0, 1))
    halves = [epoch((r, 2)) for r in range(2)]
    for k, (x, y) in enumerate(whole):
        assert torch.equal(torch.cat([halves[0][k][0], halves[1][k][0]]), x)
        assert torch.equal(torch.cat([halves[0][k][1], halves[1][k][1]]), y)
    # the generic slicing of any batch structure (for data without a `shard` argument)
    g = distributed.Group(1, 2)
    batch = (torch.arange(4), {"y": torch.arange(4) * 2}, None)
    part = distributed.shard(batch, g)
    assert part[0].tolist() == [2, 3] and part[1]["y"].tolist() == [4, 6] and part[2] is None


def test_batch_size_must_split_over_the_processes():
    distributed.check_batch_size(3, distributed.Group(), "t")  # one process: anything goes
    distributed.check_batch_size(4, distributed.Group(0, 2), "t")
    with pytest.raises(StepError, match="batch_size 3 does not split over 2 processes"):
        distributed.check_batch_size(3, distributed.Group(0, 2), "t")


# -- the runner's ranks, framework-free: two "ranks" as threads of this process -----------------
class _Collective:
    """Stands in for a process group: both ranks must be inside the distributed step."""

    def __init__(self):
        self.barrier = threading.Barrier(2, timeout=20)
        self.seen: list[tuple[int, Path, int]] = []


COLLECTIVE = _Collective()


class ShardParams(Params):
    images: InputRef


def _shard_step(ctx, p):
    COLLECTIVE.barrier.wait()  # the rendezvous: hangs (then fails) unless both ranks run it
    src = ctx.images(p.images)
    COLLECTIVE.seen.append((ctx.launch.rank, ctx.dir, len(src)))
    out = ctx.image_writer("images")
    for i, name in enumerate(src.names):
        out.add(src.load(i), name=name)
    return {"images": out.finish()}


_shard_step.distributed = True


def _boom(ctx, p):
    raise StepError("boom")


class RankPlugin:
    @hookimpl
    def register_steps(self, register):
        register(StepType("shard", ShardParams, _shard_step, ("images",), "a distributed step"))
        register(StepType("boom", ShardParams, _boom, ("images",), "fails"))


RANK_RECIPE = """name: ranks
steps:
  - id: src
    uses: gradient
    with: {count: 3}
  - id: inv
    uses: invert
    with: {images: '${src.images}'}
  - id: shard
    uses: shard
    with: {images: '${inv.images}'}
"""


def _ranks(host, path, out, launch_id, delay0=0.0):
    """Rank 0 in a thread (started ``delay0`` s late), rank 1 here: their summaries."""
    rec = load_recipe(path, host)
    results: dict[int, object] = {}

    def rank0():
        time.sleep(delay0)
        try:
            results[0] = Runner(
                rec, host, out, quiet=True, log=lambda m: None, launch=Launch(0, 2, 0, launch_id)
            ).run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results[0] = exc

    thread = threading.Thread(target=rank0)
    thread.start()
    try:
        results[1] = Runner(
            rec, host, out, quiet=True, log=lambda m: None, launch=Launch(1, 2, 1, launch_id)
        ).run()
    except BaseException as exc:  # noqa: BLE001
        results[1] = exc
    thread.join(30)
    return results


def test_only_rank_0_runs_and_writes_the_rest_joins_distributed_steps(host, tmp_path):
    from tests.core.helpers import CALLS, TestPlugin

    host.add_module(TestPlugin(), name="testplugin", source="test")
    host.add_module(RankPlugin(), name="rankplugin", source="test")
    CALLS.clear()
    COLLECTIVE.seen.clear()
    path = tmp_path / "ranks.yaml"
    path.write_text(RANK_RECIPE)
    out = tmp_path / "run"
    res = _ranks(host, path, out, "launch-1")
    assert not isinstance(res[0], BaseException), res[0]
    assert not isinstance(res[1], BaseException), res[1]
    assert [o.status for o in res[0].outcomes] == ["ran", "ran", "ran"]
    assert [(o.id, o.status) for o in res[1].outcomes] == [("shard", "ran")]  # only that one
    assert CALLS == {"gradient": 1, "invert": 1}  # the other steps ran on rank 0 alone
    (r0, dir0, n0), (r1, dir1, n1) = sorted(COLLECTIVE.seen)
    assert (r0, r1, n0, n1) == (0, 1, 3, 3)  # rank 1 read rank 0's published inputs
    assert dir0.is_relative_to(out) and not dir1.is_relative_to(out)
    assert not dir1.exists()  # its scratch folder is gone
    record = json.loads((out / "steps/shard/record.json").read_text())
    assert record["outputs"]["images"]["files"] == ["g0.png", "g1.png", "g2.png"]

    # the next launch reuses everything; rank 1 starts first and must not follow the
    # manifest of the previous launch (which says "run" for the distributed step)
    COLLECTIVE.seen.clear()
    res = _ranks(host, path, out, "launch-2", delay0=0.5)
    assert [o.status for o in res[0].outcomes] == ["reused"] * 3
    assert res[1].outcomes == [] and COLLECTIVE.seen == []


def test_rank_0_failing_stops_the_other_ranks(host, tmp_path):
    from tests.core.helpers import TestPlugin

    host.add_module(TestPlugin(), name="testplugin", source="test")
    host.add_module(RankPlugin(), name="rankplugin", source="test")
    path = tmp_path / "ranks.yaml"
    path.write_text(RANK_RECIPE.replace("uses: invert", "uses: boom"))
    res = _ranks(host, path, tmp_path / "run", "launch-3")
    assert isinstance(res[0], StepError)
    assert isinstance(res[1], ArtforgeError)
    assert "rank 0 stopped (failed in step 'inv': boom)" in str(res[1])


# -- two processes under torchrun ------------------------------------------------------------
def _params(epochs: int) -> TrainGanParams:
    return TrainGanParams(
        source="${a.b}",
        target="${a.c}",
        image_size=16,
        load_size=18,  # random 16 px crops of 18 px images ...
        flip=True,  # ... and flips: drawn for the global batch, so they need not be off
        batch_size=4,
        epochs=epochs,
        ngf=8,
        ndf=8,
        n_layers_d=1,
        norm="instance",
        dropout=False,
        ema=0.9,
    )


def _data() -> PairedData:
    rng = np.random.default_rng(0)
    a = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(8)]
    return PairedData(a, [255 - x for x in a], 16, 18, flip=True)  # 2 iterations per epoch


def _ctx(base: Path, launch: Launch | None = None) -> StepContext:
    for d in ("step", "work"):
        (base / d).mkdir(parents=True, exist_ok=True)
    return StepContext(
        "train",
        "train-gan",
        7,
        "torch",
        "cpu",
        base / "step",
        base / "work",
        base,
        base,
        lambda ref: None,
        log=lambda msg: None,
        quiet=True,
        launch=launch or Launch(),
    )


WORKER = """
import sys
from pathlib import Path

import torch

from artforge.context import Launch
from tests.torch.test_distributed import _ctx, _data, _params
from artforge_torch.pix2pix import Pix2PixTrainer

root, epochs = Path(sys.argv[1]), int(sys.argv[2])
launch = Launch.from_env()
ctx = _ctx(root / f"rank{launch.rank}", launch)
trainer = Pix2PixTrainer(ctx, _params(epochs), _data())
trainer.fit()
nets = {k: v.state_dict() for k, v in trainer.nets.items()}
nets["ema"] = trainer.ema.shadow.state_dict()
torch.save({"nets": nets, "info": ctx.info, "metrics": ctx.metrics, "series": trainer.series},
           root / f"result{launch.rank}.pt")
"""


def _torchrun(args: list[str], nproc: int = 2, **env: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc_per_node={nproc}", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env=_env(**env), timeout=240
    )


def _fit(base: Path, epochs: int):
    from artforge_torch.pix2pix import Pix2PixTrainer

    ctx = _ctx(base)
    trainer = Pix2PixTrainer(ctx, _params(epochs), _data())
    trainer.fit()
    return trainer, ctx


def _outputs(state: dict) -> torch.Tensor:
    """The generator's translation of the fixed sample inputs (instance norm, no dropout:
    the same in train and eval mode)."""
    from artforge_torch.nets.pix2pix import UNetGenerator
    from artforge_torch.pix2pix import generator_kwargs

    G = UNetGenerator(**generator_kwargs(_params(1)))
    G.load_state_dict(state)
    with torch.no_grad():
        return G.eval()(_data().fixed(4)[0])


def _close_curves(a: dict, b: dict, rtol: float = 1e-4) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(np.array(a[k]), np.array(b[k]), rtol=rtol, atol=1e-6)


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume_in_one(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    t0 = time.perf_counter()
    proc = _torchrun([str(script), str(tmp_path), "2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"result{r}.pt", weights_only=True) for r in range(2)]
    two_seconds = time.perf_counter() - t0

    # (a) identical replicas: every weight and buffer of G, D and the EMA, bit for bit
    for name, state in ranks[0]["nets"].items():
        for key, value in state.items():
            assert torch.equal(value, ranks[1]["nets"][name][key]), f"{name}.{key}"
    info = ranks[0]["info"]["distributed"]
    assert info["world_size"] == 2 and info["batch_per_rank"] == 2 and info["global_batch"] == 4
    assert info["replicas_identical"] is True and info["backend"] == "gloo"
    # the loss curves are the ranks' mean, the same on both
    assert ranks[0]["series"] == ranks[1]["series"]

    # (c) only rank 0 wrote: its checkpoint and sample grids; rank 1's folders stay empty
    assert (tmp_path / "rank0/work/checkpoint.pt").is_file()
    assert sorted(p.name for p in (tmp_path / "rank0/work/samples").iterdir()) == [
        "epoch0001.png",
        "epoch0002.png",
    ]
    assert [p for p in (tmp_path / "rank1").rglob("*") if p.is_file()] == []

    # (b) one process with the same global batch: the same curves and translations
    one, one_ctx = _fit(tmp_path / "one", 2)
    _close_curves(ranks[0]["series"], one.series)
    single = _outputs(one.nets["G"].state_dict())
    assert (_outputs(ranks[0]["nets"]["G"]) - single).abs().max() < 1e-4
    assert (
        _outputs(ranks[0]["nets"]["ema"]) - _outputs(one.ema.shadow.state_dict())
    ).abs().max() < 1e-4
    assert "distributed" not in one_ctx.info

    # (d) the two-process checkpoint (epoch 2) resumes in one process to epoch 3, and ends
    # where one process running all 3 epochs ends
    from artforge_torch.pix2pix import Pix2PixTrainer

    ctx = _ctx(tmp_path / "rank0")
    resumed = Pix2PixTrainer(ctx, _params(3), _data())
    resumed.fit()
    assert ctx.info["resumed_from_epoch"] == 2 and "distributed" not in ctx.info
    assert (resumed.epoch, resumed.iteration) == (3, 6)
    full, _ = _fit(tmp_path / "full", 3)
    _close_curves(resumed.series, full.series)
    out = _outputs(resumed.nets["G"].state_dict())
    assert (out - _outputs(full.nets["G"].state_dict())).abs().max() < 1e-4
    print(f"two-process training: {two_seconds:.1f} s including start-up")


RECIPE = """name: ddp
seed: 3
device: cpu
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 10, holdout: 2, size: 32}
  - id: train
    uses: train-gan
    with: {source: '${scenes.night}', target: '${scenes.day}', image_size: 16, batch_size: 4,
           epochs: 2, ngf: 8, ndf: 8, n_layers_d: 1, norm: instance, dropout: false, ema: 0.9}
gallery: {enabled: false}
"""


def _files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


@pytest.mark.slow
def test_artforge_run_nproc_2_writes_only_from_rank_0(tmp_path):
    from artforge.cli import main
    from artforge_torch.gan_steps import build_generator

    recipe = tmp_path / "ddp.yaml"
    recipe.write_text(RECIPE)
    scratch = tmp_path / "tmp"  # the ranks' temporary folders go here
    scratch.mkdir()
    two, one = tmp_path / "two", tmp_path / "one"
    cmd = [sys.executable, "-m", "artforge", "run", str(recipe), "--out", str(two), "--nproc", "2"]
    proc = subprocess.run(
        [*cmd, "-q"], capture_output=True, text=True, cwd=ROOT, env=_env(TMPDIR=str(scratch))
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main(["run", str(recipe), "--out", str(one), "-q"]) == 0

    # the same run directory as one process writes, written by rank 0 alone: no stray file,
    # and rank 1's scratch folder is gone
    assert _files(two) == _files(one)
    assert not list(scratch.glob("artforge-rank*"))
    manifest = json.loads((two / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["launch"]["world_size"] == 2
    assert manifest["launch"]["plan"] == {"scenes": "run", "train": "run"}
    assert "launch" not in json.loads((one / "manifest.json").read_text())
    rec2, rec1 = (json.loads((d / "steps/train/record.json").read_text()) for d in (two, one))
    assert rec2["info"]["distributed"]["replicas_identical"] is True
    assert rec2["key"] == rec1["key"]  # the world size is not part of the cache key
    for name in rec1["series"]:
        np.testing.assert_allclose(rec2["series"][name], rec1["series"][name], rtol=1e-4)
    # the exported (EMA) generators translate the same
    x = torch.linspace(-1, 1, 2 * 3 * 16 * 16).reshape(2, 3, 16, 16)
    gens = []
    for rec, run in ((rec2, two), (rec1, one)):
        art = rec["outputs"]["generator"]
        gens.append(build_generator(art["meta"], run / "steps/train" / art["path"] / art["file"]))
    with torch.no_grad():
        assert (gens[0](x) - gens[1](x)).abs().max() < 1e-4
    # the same command again reuses both steps, also under torchrun
    again = subprocess.run(
        [*cmd, "-q"], capture_output=True, text=True, cwd=ROOT, env=_env(TMPDIR=str(scratch))
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 reused" in again.stdout
