"""Issue 9, item 7: resource errors. A full disk or a read-only output folder at any moment,
GPU (and CPU) out-of-memory, a backend whose framework is not installed: one clear message,
exit status 2, no partial file, no half-published step, and the next run carries on from
what was finished."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import stat
import tempfile
from pathlib import Path

import pytest

from .crash import TEMP, Trial, check_run_dir
from .plugin import CALLED

RECIPE = """name: res
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 6, holdout: 2, size: 32}
  - id: sheet
    uses: collage
    with: {sets: ['${scenes.night}', '${scenes.day}'], rows_per_sheet: 3}
"""


def digest(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.glob("steps/*/*/*"))
        if p.is_file()
    }


def run(main, capsys, recipe: Path, out: Path, *args) -> tuple[int, str, str]:
    rc = main(["run", str(recipe), "--out", str(out), "-q", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def one_message(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), err
    return lines


def is_folder(fd_or_path) -> bool:
    """A folder's fsync (after a rename) is best effort: artforge ignores its failure."""
    return isinstance(fd_or_path, int) and stat.S_ISDIR(os.fstat(fd_or_path).st_mode)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A clean run: its results, and how many files it creates and flushes."""
    from artforge.cli import main

    root = tmp_path_factory.mktemp("reference")
    (root / "r.yaml").write_text(RECIPE)
    calls = {"create": 0, "flush": 0}
    real_mkstemp, real_fsync = tempfile.mkstemp, os.fsync

    def counting(kind, real):
        def wrapper(*a, **k):
            calls[kind] += not (a and is_folder(a[0]))
            return real(*a, **k)

        return wrapper

    tempfile.mkstemp, os.fsync = counting("create", real_mkstemp), counting("flush", real_fsync)
    try:
        assert main(["run", str(root / "r.yaml"), "--out", str(root / "run"), "-q"]) == 0
    finally:
        tempfile.mkstemp, os.fsync = real_mkstemp, real_fsync
    return digest(root / "run"), calls


FRACTIONS = [0.0, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 0.97, 1.0]


@pytest.mark.parametrize("errno_", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
@pytest.mark.parametrize("when", ["create", "flush"])
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_disk_full_or_read_only_at_any_moment(
    fraction, when, errno_, reference, tmp_path, monkeypatch, fresh_cli, capsys, tally
):
    """The k-th file write of a run fails (creating its temporary file, or flushing it):
    one message, nothing half-written, and the next run finishes the job, reusing every step
    that was complete."""
    expected, writes = reference
    k = max(1, round(fraction * writes[when]))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    calls = [0]
    strerror = os.strerror(errno_)

    def failing(real):
        def wrapper(*a, **kw):
            if a and is_folder(a[0]):
                return real(*a, **kw)
            calls[0] += 1
            if calls[0] == k:
                raise OSError(errno_, strerror, a[0] if a and isinstance(a[0], str) else None)
            return real(*a, **kw)

        return wrapper

    if when == "create":
        monkeypatch.setattr(tempfile, "mkstemp", failing(tempfile.mkstemp))
    else:
        import artforge.atomic

        monkeypatch.setattr(artforge.atomic.os, "fsync", failing(os.fsync))
    rc, _, err = run(fresh_cli, capsys, recipe, out)
    monkeypatch.undo()
    assert calls[0] >= k and rc == 2, err
    lines = one_message(err)
    if errno_ == errno.ENOSPC:
        assert "the disk is full" in lines[0] and "free some space" in lines[1]
    else:
        assert "read-only" in lines[0]
    leftovers = [p for p in out.rglob("*") if TEMP.match(p.name)] if out.exists() else []
    assert not leftovers, leftovers
    assert not (out / ".staging").exists()
    check_run_dir(out, Trial(k, 0, 0, when, fraction), RECIPE)
    published = sorted(p.parent.name for p in out.glob("steps/*/record.json"))
    # the next run completes, and what was finished is reused, not redone
    rc, _, err = run(fresh_cli, capsys, recipe, out)
    assert rc == 0, err
    assert digest(out) == expected
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["id"] for s in manifest["steps"] if s["status"] == "reused"] == published
    tally["full-disk / read-only moments survived"] += 1


def test_an_output_folder_that_cannot_be_created(tmp_path, monkeypatch, fresh_cli, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    real = Path.mkdir

    def readonly(self, *a, **k):
        if self.name == "ro":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", readonly)
    rc, _, err = run(fresh_cli, capsys, recipe, tmp_path / "ro")
    lines = one_message(err)
    assert (
        rc == 2
        and f"cannot create the run directory {tmp_path / 'ro'}: Read-only file system" in lines[0]
    )
    assert "--out" in lines[1]


def test_an_output_folder_the_kernel_refuses(tmp_path, fresh_cli, capsys):
    """A real refusal, even for root: sysfs does not let anyone create a folder."""
    target = Path("/sys/artforge-reliability-test")
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    rc, _, err = run(fresh_cli, capsys, recipe, target)
    assert rc == 2 and f"cannot create the run directory {target}" in one_message(err)[0]
    assert not target.exists()


def test_a_read_only_run_directory(tmp_path, fresh_cli, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes through permission bits; the read-only cases above simulate it")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    assert run(fresh_cli, capsys, recipe, out)[0] == 0
    before = digest(out)
    os.chmod(out, 0o555)
    try:
        rc, _, err = run(fresh_cli, capsys, recipe, out, "--force", "scenes")
    finally:
        os.chmod(out, 0o755)
    assert rc == 2 and "is not writable" in one_message(err)[0]
    assert digest(out) == before


def test_an_output_path_that_is_a_file(tmp_path, fresh_cli, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    (tmp_path / "file").write_text("x")
    rc, _, err = run(fresh_cli, capsys, recipe, tmp_path / "file")
    assert rc == 2 and "is a file" in err and "Traceback" not in err


# -- out of memory ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cuda", "torch", "memory"])
def test_out_of_memory_suggests_smaller_batches_or_tiles(kind, tmp_path, rhost, capsys):
    from artforge.cli import main

    if kind == "torch":
        pytest.importorskip("torch")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE + f"  - id: big\n    uses: oom\n    with: {{kind: {kind}}}\n")
    out = tmp_path / "run"
    rc, _, err = run(main, capsys, recipe, out)
    lines = one_message(err)
    assert rc == 2
    if kind == "memory":
        assert lines[0] == "error: step 'big' ran out of memory"
        assert "batch_size (now 64; try 32)" in lines[1] and "device: cpu" not in lines[1]
    else:
        assert lines[0] == "error: step 'big' ran out of GPU memory"
        assert "a smaller batch_size (now 64; try 32)" in lines[1]
        assert "smaller tiles (tile: 256)" in lines[1] and "device: cpu" in lines[1]
    assert (out / "steps/scenes/record.json").exists() and (
        out / "steps/sheet/record.json"
    ).exists()
    assert not (out / "steps/big").exists() and not (out / ".staging").exists()
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"


def test_gpu_out_of_memory_in_real_training_keeps_the_checkpoint(
    tmp_path, monkeypatch, fresh_cli, capsys
):
    """train-gan runs out of GPU memory in its 5th iteration: a clear message naming its
    batch_size, the checkpoint stays, and the next run resumes from it."""
    torch = pytest.importorskip("torch")
    from artforge.plugins import PluginHost

    if "train-gan" not in PluginHost().registry.step_names():
        pytest.skip("train-gan is not installed")
    from artforge_torch.pix2pix import Pix2PixTrainer

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: oom\nsteps:\n  - id: scenes\n    uses: synthetic-scenes\n    with: {count: 4, holdout: 0, size: 32}\n"
        "  - id: train\n    uses: train-gan\n    with: {source: '${scenes.night}', target: '${scenes.day}', "
        "image_size: 16, n_layers_d: 2, batch_size: 2, epochs: 4, ngf: 4, ndf: 4}\n"
    )
    out = tmp_path / "run"
    real, calls = Pix2PixTrainer.train_step, [0]

    def step(self, batch):
        calls[0] += 1
        if calls[0] == 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
        return real(self, batch)

    monkeypatch.setattr(Pix2PixTrainer, "train_step", step)
    rc, _, err = run(fresh_cli, capsys, recipe, out)
    lines = one_message(err)
    assert rc == 2 and lines[0] == "error: step 'train' ran out of GPU memory"
    assert "batch_size (now 2; try 1)" in lines[1] and "image_size" in lines[1]
    state = torch.load(out / ".work/train/checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2  # 2 iterations an epoch: epochs 1 and 2 were saved
    monkeypatch.undo()
    rc, stdout, err = run(fresh_cli, capsys, recipe, out)
    assert rc == 0, err
    record = json.loads((out / "steps/train/record.json").read_text())
    assert record["info"]["resumed_from_epoch"] == 2 and record["metrics"]["epochs"] == 4


# -- a backend that is not installed ----------------------------------------------------------
def test_a_missing_backend_is_named_with_its_pip_command(tmp_path, rhost, capsys):
    from artforge.cli import main

    CALLED.clear()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: fake\nsteps:\n  - id: f\n    uses: needs-fake\n    backend: fakebk\n")
    out = tmp_path / "run"
    rc, _, err = run(main, capsys, recipe, out)
    lines = one_message(err)
    assert rc == 2
    assert lines[0] == (
        "error: step 'f' needs the fakebk backend, but "
        "artforge_reliability_no_such_module is not installed"
    )
    assert lines[1] == "  hint: install it with: pip install artforge-fakebk"
    assert not out.exists() and CALLED == []  # refused before anything was written or run


def test_keras_without_tensorflow(tmp_path, rhost, monkeypatch, capsys):
    """``backend: keras`` where TensorFlow is not installed: the message gives the pip
    command (simulated: the test machine may have TensorFlow)."""
    from artforge.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: (
            None if name.split(".")[0] in ("tensorflow", "keras") else real(name, *a, **k)
        ),
    )
    uses = ["keras-probe"] + (
        ["train-gan"] if ("train-gan", "keras") in rhost.registry.steps else []
    )
    for step in uses:
        recipe = tmp_path / "r.yaml"
        with_ = " with: {source: '${s.night}', target: '${s.day}'}" if step == "train-gan" else ""
        recipe.write_text(
            "name: k\nbackend: keras\nsteps:\n  - id: s\n    uses: synthetic-scenes\n"
            f"  - id: k\n    uses: {step}\n   {with_}\n"
        )
        rc, _, err = run(main, capsys, recipe, tmp_path / "run")
        lines = one_message(err)
        assert (
            rc == 2
            and "needs the keras backend, but keras, tensorflow are not installed" in lines[0]
        )
        assert lines[1].startswith("  hint: install it with: pip install") and "keras" in lines[1]
        assert not (tmp_path / "run").exists()


def test_a_finished_step_does_not_need_its_backend_again(tmp_path, rhost, monkeypatch, capsys):
    """Results made with a backend can be re-used (and the gallery rebuilt) on a machine
    without it."""
    from artforge.cli import main
    from artforge.registry import Backend

    CALLED.clear()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: fake\nsteps:\n  - id: f\n    uses: needs-fake\n    backend: fakebk\n")
    with monkeypatch.context() as m:
        m.setattr(Backend, "missing", lambda self: [])
        assert run(main, capsys, recipe, tmp_path / "run")[0] == 0
    rc, _, err = run(main, capsys, recipe, tmp_path / "run")
    assert rc == 0, err and CALLED == ["f"]
    rc, _, err = run(main, capsys, recipe, tmp_path / "run", "--force", "f")
    assert rc == 2 and "needs the fakebk backend" in err


def test_gallery_build_on_a_full_disk(tmp_path, monkeypatch, fresh_cli, capsys):
    """Any command, not only ``run``: a full disk is a clear message, not an internal error."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    assert run(fresh_cli, capsys, recipe, out)[0] == 0
    before = (out / "index.html").read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tempfile, "mkstemp", full)
    rc = fresh_cli(["gallery", "build", str(out)])
    lines = one_message(capsys.readouterr().err)
    assert rc == 2 and "the disk is full" in lines[0]
    assert (out / "index.html").read_bytes() == before
