"""Issue 14, item 4: cached results are verified before reuse. Every published file's size and
SHA-256 are in the step record; a changed, truncated or missing file is reported once (file
and step) and the step runs again with its dependents. Size and modification time are the
fast path; ``artforge run --verify`` hashes everything."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

RECIPE = """name: integ
gallery: {enabled: false}
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 4, holdout: 0, size: 32}
  - id: sheet
    uses: collage
    with: {sets: ['${scenes.night}', '${scenes.day}'], rows_per_sheet: 2}
"""
NIGHT = "steps/scenes/night/scene00001.png"


@pytest.fixture
def done(tmp_path, fresh_cli, capsys):
    """A finished run, and a function that runs it again: (exit status, stdout, manifest)."""
    recipe, out = tmp_path / "r.yaml", tmp_path / "run"
    recipe.write_text(RECIPE)

    def again(*args):
        rc = fresh_cli(["run", str(recipe), "--out", str(out), "-q", *args])
        cap = capsys.readouterr()
        assert "Traceback" not in cap.err, cap.err
        manifest = json.loads((out / "manifest.json").read_text())
        return rc, cap.out, {s["id"]: s["status"] for s in manifest["steps"]}

    assert again()[0] == 0
    return out, again


def test_publication_records_every_file_size_and_hash(done):
    out, _ = done
    for step in ("scenes", "sheet"):
        rec = json.loads((out / "steps" / step / "record.json").read_text())
        listed = {
            f"{o['path']}/{f}" for o in rec["outputs"].values() for f in o.get("files", [])
        } or {f"{o['path']}/{o['file']}" for o in rec["outputs"].values()}
        assert set(rec["files"]) == listed
        for rel, entry in rec["files"].items():
            data = (out / "steps" / step / rel).read_bytes()
            assert entry["size"] == len(data)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "damage, expect",
    [
        ("truncate", "is truncated"),
        ("delete", "is missing"),
        # same size, a new modification time
        ("rewrite", "has changed since the step published it (its SHA-256 differs)"),
        ("grow", "has changed size"),
    ],
)
def test_a_damaged_file_reruns_its_step_and_dependents(done, damage, expect, tally):
    out, again = done
    path = out / NIGHT
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "delete":
        path.unlink()
    elif damage == "rewrite":
        path.write_bytes(bytes(len(good)))
    else:
        path.write_bytes(good + b"x")
    rc, stdout, status = again()
    assert rc == 0 and status == {"scenes": "ran", "sheet": "ran"}
    warnings = [ln for ln in stdout.splitlines() if ln.startswith("warning:")]
    assert warnings == [
        f"warning: step 'scenes': {out / NIGHT} {expect}"
        + ("" if damage != "truncate" else f" ({len(good) // 2} of {len(good)} bytes)")
        + ("" if damage != "grow" else f" ({len(good)} bytes when published, {len(good) + 1} now)")
        + "; running it again, and the steps that use it (sheet)"
    ], stdout
    assert path.read_bytes() == good  # the same result, made again
    rc, stdout, status = again()  # and now intact: reused, nothing reported
    assert status == {"scenes": "reused", "sheet": "reused"} and "warning" not in stdout
    tally["damaged cached files detected"] += 1


def test_a_damaged_dependent_reruns_alone(done):
    out, again = done
    sheet = next((out / "steps/sheet").rglob("*.png"))
    sheet.write_bytes(b"")
    rc, stdout, status = again()
    assert rc == 0 and status == {"scenes": "reused", "sheet": "ran"}
    assert stdout.count("warning:") == 1 and "(sheet)" not in stdout


def test_a_silent_change_is_found_by_verify(done, tally):
    """Same size and modification time (bit rot, a tool that keeps the time): the fast path
    trusts it, ``--verify`` hashes it and runs the step again."""
    out, again = done
    path = out / NIGHT
    good, st = path.read_bytes(), path.stat()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert again()[2] == {"scenes": "reused", "sheet": "reused"}
    rc, stdout, status = again("--verify")
    assert rc == 0 and status == {"scenes": "ran", "sheet": "ran"}
    assert f"{out / NIGHT} has changed" in stdout and path.read_bytes() == good
    tally["damaged cached files detected"] += 1


def test_a_touched_but_unchanged_file_is_reused(done):
    """A copied or touched run directory: the hash decides, and it matches."""
    out, again = done
    for path in (out / "steps").rglob("*.png"):
        os.utime(path, (1, 1))
    rc, stdout, status = again()
    assert rc == 0 and status == {"scenes": "reused", "sheet": "reused"}
    assert "warning" not in stdout


def test_an_edited_record_pointing_elsewhere_is_not_trusted(done):
    """Outputs edited to name a file the step never published."""
    out, again = done
    rec_path = out / "steps/scenes/record.json"
    rec = json.loads(rec_path.read_text())
    (out / "steps/scenes/night/extra.png").write_bytes((out / NIGHT).read_bytes())
    rec["outputs"]["night"]["files"][0] = "extra.png"
    rec_path.write_text(json.dumps(rec))
    rc, stdout, status = again()
    assert rc == 0 and status["scenes"] == "ran"
    assert "extra.png is not among the files the step published" in stdout


def test_dry_run_says_why_a_step_runs(done, fresh_cli, capsys):
    out, _ = done
    (out / NIGHT).unlink()
    recipe = out.parent / "r.yaml"
    assert fresh_cli(["run", str(recipe), "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run    scenes") and lines[0].endswith(f"({out / NIGHT} is missing)")
    assert lines[1].startswith("run    sheet") and not Path(out / NIGHT).exists()
