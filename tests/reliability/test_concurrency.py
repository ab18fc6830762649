"""Issue 9, item 5: two ``artforge run`` on the same output directory at once. The second
refuses at once with a clear message naming the first; nothing is corrupted; a killed run
does not hold the lock (flock: the kernel releases it with the process)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from .conftest import subprocess_env
from .crash import Trial, assert_clean, check_run_dir, start

SLOW = """name: slow
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 600, holdout: 0, size: 64}
  - id: sheet
    uses: collage
    with: {sets: ['${scenes.night}'], limit: 16}
"""


def wait_for(lines, pattern: str, timeout: float = 60) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except Exception:
            continue
        assert line is not None, f"the run ended before {pattern!r}: {seen}"
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no {pattern!r} in {seen}")


def artforge(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "artforge", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_second_run_on_the_same_directory_refuses(tmp_path):
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(SLOW)
    out = tmp_path / "out"
    first, lines = start(recipe, out)
    try:
        wait_for(lines, r"scenes \(synthetic-scenes\) running")
        intruder = tmp_path / "intruder.yaml"
        intruder.write_text(SLOW.replace("name: slow", "name: intruder").replace("600", "3"))
        t0 = time.monotonic()
        second = artforge("run", str(intruder), "--out", str(out), cwd=tmp_path)
        assert time.monotonic() - t0 < 30  # refuses, does not wait for the first
        assert first.poll() is None, "the first run must still be running for this test"
        assert second.returncode == 2
        err = second.stderr.strip().splitlines()
        assert err[0] == f"error: another artforge run (pid {first.pid}) is writing to {out}"
        assert err[1].startswith("  hint: wait for it to finish, or use --out")
        assert len(err) == 2 and second.stdout == ""
        # a dry run only reads: allowed while the first run writes
        dry = artforge("run", str(recipe), "--out", str(out), "--dry-run", cwd=tmp_path)
        assert dry.returncode == 0 and "scenes" in dry.stdout
    finally:
        assert first.wait(timeout=300) == 0
    check_run_dir(out, Trial(0, 0, 0, "", 0.0), SLOW)
    assert_clean(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["recipe"]["name"] == "slow"
    assert len(list((out / "steps/scenes/night").iterdir())) == 600
    # the refused run left no trace
    assert not [p for p in out.rglob("*") if p.is_file() and b"intruder" in p.read_bytes()]


def test_a_killed_run_does_not_hold_the_lock(tmp_path):
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(SLOW)
    out = tmp_path / "out"
    first, lines = start(recipe, out)
    wait_for(lines, r"scenes \(synthetic-scenes\) running")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert (out / ".lock").read_text() == f"pid {first.pid}"  # the dead holder's note stays
    second = artforge("run", str(recipe), "--out", str(out), "-q", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    assert_clean(out)


def test_two_runs_started_together(tmp_path):
    """Whoever wins the lock runs; the other refuses (or, if the winner was already done,
    reuses everything). Either way the run directory is whole."""
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(SLOW.replace("count: 600", "count: 200"))
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "artforge", "run", str(recipe), "--out", str(out), "-q"],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 2], [0, 0]), results
    for rc, err in results:
        if rc == 2:
            assert "is writing to" in err and "Traceback" not in err
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    check_run_dir(out, Trial(0, 0, 0, "", 0.0), recipe.read_text())
    assert_clean(out)
