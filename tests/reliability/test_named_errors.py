"""Issue 14, item 5: resource errors are named as such everywhere, even inside framework code
(a full disk while torch, safetensors or Keras/h5py write a checkpoint is "the disk is full",
exit 2, not "a bug in the plugin"); a checkpoint that loads but is not the step's names the
file and ``--force STEP``; a run that stops anywhere leaves a manifest that says so; Ctrl-C
prints what the README says."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest

from artforge.runner import resource_oserror

from .conftest import ROOT, subprocess_env

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
TRAIN = (
    "name: named\ngallery: {enabled: false}\nsteps:\n"
    "  - id: scenes\n    uses: synthetic-scenes\n    with: {count: 4, holdout: 0, size: 32}\n"
    "  - id: train\n    uses: train-gan\n    with: {source: '${scenes.night}', "
    "target: '${scenes.day}', image_size: 16, n_layers_d: 2, batch_size: 2, epochs: 1, "
    "ngf: 4, ndf: 4}\n"
)


class FullRaw(io.RawIOBase):
    """A file on a full disk: every write fails with ENOSPC."""

    def writable(self):
        return True

    def write(self, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def caught(fn):
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the exception is what is tested
        return exc
    raise AssertionError("no exception")


def one_message(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    assert len(lines) == 2 and lines[1].startswith("  hint: "), err
    return lines


# -- the wrappings, as the frameworks really raise them ------------------------------------------
def test_torch_save_on_a_full_disk_hides_the_oserror_in_a_runtimeerror():
    torch = pytest.importorskip("torch")
    exc = caught(lambda: torch.save({"w": torch.zeros(64, 64)}, io.BufferedWriter(FullRaw(), 64)))
    assert isinstance(exc, RuntimeError) and "No space" not in str(exc)  # torch's own wrapping
    assert resource_oserror(exc).errno == errno.ENOSPC


@pytest.mark.parametrize(
    "exc, code, filename",
    [
        # safetensors (Rust) keeps only the text (message as raised on a full tmpfs)
        (
            RuntimeError(
                "Error while serializing: I/O error: No space left on device (os error 28)"
            ),
            errno.ENOSPC,
            None,
        ),
        # HDF5 (h5py, Keras' save_weights) as raised on a full tmpfs: errno and file in the text
        (
            OSError(
                errno.ENOSPC,
                "Can't synchronously write data (file write failed: time = Mon Dec  7 19:00:54 "
                "2026\n, filename = '/run/m.weights.h5', file descriptor = 3, errno = 28, error "
                "message = 'No space left on device', buf = 0x5, total write size = 142920)",
            ),
            errno.ENOSPC,
            "/run/m.weights.h5",
        ),
        (RuntimeError("I/O error: Disk quota exceeded (os error 122)"), errno.EDQUOT, None),
        (ValueError("wrapped", OSError(errno.EROFS, "Read-only file system")), errno.EROFS, None),
        (RuntimeError("size mismatch for weight"), None, None),
        (KeyError("nets"), None, None),
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), None, None),
    ],
    ids=["safetensors", "h5py", "quota", "args-text", "bug", "keyerror", "enoent"],
)
def test_resource_oserror_reads_framework_messages(exc, code, filename):
    found = resource_oserror(exc)
    assert (found.errno if found else None) == code
    if found is not None:
        assert found.filename == filename


@pytest.fixture
def full_disk(tmp_path):
    """A real, tiny, full file system (tmpfs of 64 KiB): needs root and mount."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_real_full_disk_in_torch_safetensors_and_h5py(full_disk, tally):
    torch = pytest.importorskip("torch")
    h5py = pytest.importorskip("h5py")
    import numpy as np

    from artforge_torch.training.checkpoint import export_safetensors, save_checkpoint

    net = torch.nn.Linear(256, 256)

    def h5():
        with h5py.File(full_disk / "x.h5", "w") as f:
            f.create_dataset("x", data=np.zeros((256, 256)))

    for write in (
        lambda: save_checkpoint(full_disk / "checkpoint.pt", {"w": torch.zeros(256, 256)}),
        lambda: export_safetensors(full_disk / "model.safetensors", net),
        h5,
    ):
        exc = caught(write)
        assert resource_oserror(exc).errno == errno.ENOSPC, repr(exc)
        tally["full disks inside framework code named"] += 1
    assert not [p for p in full_disk.iterdir() if p.name.endswith(".tmp")]


KERAS_FULL_DISK = """
import errno, os, sys
import keras
from artforge.runner import resource_oserror
from artforge_keras.training.checkpoint import save_weights_file
net = keras.Sequential([keras.Input((128,)), keras.layers.Dense(256)])
try:
    save_weights_file(os.path.join(sys.argv[1], "g.weights.h5"), net)
except BaseException as exc:
    found = resource_oserror(exc)
    print("errno", found.errno if found else None, repr(exc)[:200], flush=True)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # HDF5 may crash in its own exit-time clean-up after a failed write (see below)
"""


@pytest.mark.slow  # TensorFlow's import: the mechanism (h5py) is tested above
def test_a_real_full_disk_in_keras_save_weights(full_disk, tally):
    """Keras' save_weights on a full disk is named ENOSPC. It runs in a child process: after
    a write that failed inside HDF5, HDF5's own clean-up at interpreter exit can end the
    process with a segmentation fault, which would take the test session down with it."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    r = subprocess.run(
        [sys.executable, "-c", KERAS_FULL_DISK, str(full_disk)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert f"errno {errno.ENOSPC} " in r.stdout, r.stdout + r.stderr[-2000:]
    tally["full disks inside framework code named"] += 1


H5SAVE = """import os
from pathlib import Path

from artforge.api import Params, StepType, hookimpl


class P(Params):
    pass


def run(ctx, p):
    import keras
    from artforge_keras.training.checkpoint import save_weights_file

    net = keras.Sequential([keras.Input((128,)), keras.layers.Dense(256)])
    save_weights_file(Path(os.environ["FULL_DISK"]) / "g.weights.h5", net)


@hookimpl
def register_steps(register):
    register(StepType(name="h5save", params=P, run=run))
"""


@pytest.mark.slow  # TensorFlow's import
def test_the_artforge_command_exits_2_after_a_full_disk_in_keras(full_disk, tmp_path, tally):
    """Through `python -m artforge`: "the disk is full" and exit status 2, not the
    segmentation fault HDF5's exit-time clean-up can cause after its failed write."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    (tmp_path / "h5save.py").write_text(H5SAVE)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: s\nbackend: keras\nplugins: [h5save.py]\nsteps:\n  - id: z\n    uses: h5save\n"
    )
    env = {**subprocess_env(), "FULL_DISK": str(full_disk)}
    r = subprocess.run(
        [sys.executable, "-m", "artforge", "run", str(recipe), "--out", str(tmp_path / "o"), "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "disk is full" in r.stderr, r.stderr[-2000:]
    tally["full disks inside framework code named"] += 1


# -- through a real training step ----------------------------------------------------------------
@pytest.fixture
def train_recipe(tmp_path):
    pytest.importorskip("torch")
    from artforge.plugins import PluginHost

    if "train-gan" not in PluginHost().registry.step_names():
        pytest.skip("train-gan is not installed")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(TRAIN)
    return recipe


@pytest.mark.parametrize("where", ["checkpoint", "export"])
def test_a_full_disk_while_training_saves_is_named(
    where, train_recipe, tmp_path, monkeypatch, fresh_cli, capsys, tally
):
    """torch.save of the checkpoint (a RuntimeError from torch), or the safetensors export
    (a SafetensorError) on a full disk: "the disk is full", exit 2 (that the next run then
    finishes the job is tested in test_resources.py)."""
    import safetensors.torch

    from artforge_torch.training import checkpoint

    if where == "checkpoint":

        def fdopen(fd, mode="r", *a, **k):
            os.close(fd)
            return io.BufferedWriter(FullRaw(), 64)

        fake_os = types.SimpleNamespace(**{n: getattr(os, n) for n in dir(os)})
        fake_os.fdopen = fdopen
        monkeypatch.setattr(checkpoint, "os", fake_os)
    else:
        from safetensors import SafetensorError

        def save_file(*a, **k):
            raise SafetensorError(
                "Error while serializing: I/O error: No space left on device (os error 28)"
            )

        monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    out = tmp_path / "run"
    rc = fresh_cli(["run", str(train_recipe), "--out", str(out), "-q"])
    lines = one_message(capsys.readouterr().err)
    assert rc == 2 and lines[0].startswith("error: step 'train': the disk is full (writing ")
    assert "free some space" in lines[1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    tally["full disks inside framework code named"] += 1


def test_a_checkpoint_that_is_not_the_steps_names_the_file_and_force(
    train_recipe, tmp_path, fresh_cli, capsys, tally
):
    """A readable torch checkpoint with other keys in .work/train/: exit 2 naming the file and
    --force train, which then starts the step afresh."""
    import torch

    from artforge.ownership import claim
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe
    from artforge.runner import Runner

    out = tmp_path / "run"
    host = PluginHost()
    keys = {s.id: k for s, k, _ in Runner(load_recipe(train_recipe, host), host, out).plan()}
    claim(out)  # the run directory of an earlier run
    work = out / ".work" / "train"
    work.mkdir(parents=True)
    (work / "KEY").write_text(keys["train"])  # the runner keeps it for a resume
    torch.save({"epoch": 3, "weights": torch.zeros(2)}, work / "checkpoint.pt")
    rc = fresh_cli(["run", str(train_recipe), "--out", str(out), "-q"])
    lines = one_message(capsys.readouterr().err)
    assert rc == 2 and lines[0] == (
        f"error: step 'train': checkpoint {work / 'checkpoint.pt'} is not a checkpoint of this "
        "step (missing key 'nets')"
    )
    assert "--force train" in lines[1]
    rc = fresh_cli(["run", str(train_recipe), "--out", str(out), "-q", "--force", "train"])
    assert rc == 0, capsys.readouterr().err
    record = json.loads((out / "steps/train/record.json").read_text())
    assert "resumed_from_epoch" not in record["info"]
    tally["foreign checkpoints named"] += 1


# -- the manifest of a run that stops ------------------------------------------------------------
RECIPE = """name: stops
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 2, holdout: 0, size: 32}
  - id: sheet
    uses: collage
    with: {sets: ['${scenes.night}'], rows_per_sheet: 2}
"""


def _runner(tmp_path, log):
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe
    from artforge.runner import Runner

    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    host = PluginHost(load_installed=False)
    return Runner(load_recipe(recipe, host), host, tmp_path / "run", quiet=True, log=log)


def test_ctrl_c_between_steps_leaves_an_interrupted_manifest(tmp_path):
    def log(msg):
        if "scenes (synthetic-scenes) done" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _runner(tmp_path, log).run()
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["finished"]
    assert [s["status"] for s in manifest["steps"]] == ["ran", "pending"]


def test_a_failure_after_the_steps_leaves_a_failed_manifest(tmp_path, monkeypatch):
    """The gallery (or a run_finished hook) fails: the run did not finish, and says so."""
    import artforge.gallery

    def broken(run_dir, **kwargs):
        raise RuntimeError("gallery exploded")

    monkeypatch.setattr(artforge.gallery, "build_gallery", broken)
    with pytest.raises(RuntimeError):
        _runner(tmp_path, lambda m: None).run()
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"] == "gallery exploded"


SLEEPY = """from artforge.api import Params, StepType, hookimpl


class P(Params):
    pass


def run(ctx, p):
    import time

    ctx.log("sleepy started")
    time.sleep(60)


@hookimpl
def register_steps(register):
    register(StepType(name="sleepy", params=P, run=run))
"""


def documented_interrupt_message() -> str:
    """The message the README says Ctrl-C prints (in the paragraph on exit status)."""
    text = (ROOT / "README.md").read_text()
    para = text[text.index("Exit status:") :].split("\n\n")[0]
    quoted = para[para.index("Ctrl-C, which prints") :].split("`")[1]
    assert quoted.startswith("interrupted")
    return quoted


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_print_the_documented_message(sig, code, tmp_path, tally):
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: s\nplugins: [sleepy.py]\nsteps:\n  - id: z\n    uses: sleepy\n")
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "artforge", "run", str(recipe), "--out", str(out), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    try:
        for line in proc.stdout:
            if "sleepy started" in line:
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip() == documented_interrupt_message() and "Traceback" not in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["steps"][0]["status"] == "interrupted"
    assert not (out / ".staging").exists() and not Path(out / "steps/z").exists()
    tally["interrupts that leave an interrupted manifest"] += 1


@pytest.mark.slow  # TensorFlow's import
def test_a_keras_checkpoint_without_artforge_state_is_a_checkpoint_error(tmp_path):
    """Keras weights that load but carry no artforge training state (someone else's file)."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from artforge.errors import CheckpointError
    from artforge_keras.training.checkpoint import load_checkpoint, save_weights_file

    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "checkpoint.weights.h5"
    save_weights_file(path, net)  # readable, but not an artforge checkpoint
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*checkpoint.weights.h5"):
        load_checkpoint(path, net)
