"""A SIGKILL harness: run a recipe with ``artforge run`` in a child process, kill it (the
whole process group, SIGKILL: no handler, no cleanup) at a random moment, check the run
directory, run again, kill again, ... and finally let a run finish.

Generic: any recipe, any checks. Each trial records its seed, the log line it was anchored to,
the delay and what it found, so a failure can be replayed (``ARTFORGE_CRASH_SEED``).
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from artforge.images import load_image

from .conftest import subprocess_env

TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


@dataclass
class Trial:
    number: int
    cycle: int
    seed: int
    anchor: str
    delay: float
    killed: bool = False
    seconds: float = 0.0
    returncode: int | None = None
    log: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each log line came, from the start
    found: dict = field(default_factory=dict)  # what the checks saw (e.g. checkpoint epoch)


def start(
    recipe: Path, out: Path, args: Sequence[str] = ()
) -> tuple[subprocess.Popen, queue.Queue]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "artforge", "run", str(recipe), "--out", str(out), "-q", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=subprocess_env(),
        start_new_session=True,  # its own process group: the kill reaches every child
    )
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def drain(lines: queue.Queue, trial: Trial, t0: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            return
        trial.log.append(line)
        trial.times.append(round(time.monotonic() - t0, 3))


def seconds_between(trial: Trial, first: str, last: str) -> float:
    """Time between the first log lines matching ``first`` and ``last``."""
    a = next(t for line, t in zip(trial.log, trial.times) if re.search(first, line))
    b = next(t for line, t in zip(trial.log, trial.times) if re.search(last, line))
    return b - a


def run_once(recipe: Path, out: Path, trial: Trial, timeout: float = 300) -> Trial:
    """Start a run; once a log line matches ``trial.anchor``, wait ``trial.delay`` seconds and
    SIGKILL it (unless it has finished by then)."""
    t0 = time.monotonic()
    proc, lines = start(recipe, out)
    anchor = re.compile(trial.anchor)
    deadline = time.monotonic() + timeout
    anchored = eof = False
    while not anchored and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            eof = True
            break
        trial.log.append(line)
        trial.times.append(round(time.monotonic() - t0, 3))
        anchored = bool(anchor.search(line))
    if anchored:
        try:
            proc.wait(timeout=trial.delay)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            trial.killed = True
    trial.returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    if not eof:
        drain(lines, trial, t0)
    trial.seconds = round(time.monotonic() - t0, 2)
    if trial.killed and trial.returncode != -signal.SIGKILL:
        trial.killed = False  # it exited on its own just before the signal
    return trial


def crash_trials(
    recipe: Path,
    workdir: Path,
    *,
    kills: int,
    seed: int,
    anchors: Sequence[tuple[str, float]],
    check: Callable[[Path, Trial], None],
    finished: Callable[[Path, list[Trial]], None],
    max_trials: int = 200,
) -> list[Trial]:
    """Kill runs of ``recipe`` until ``kills`` trials were really killed: each trial picks an
    (anchor regex, max delay) and kills a uniform random delay after the first log line that
    matches the anchor. After each trial
    ``check(run_dir, trial)``; when a run completes (on its own, or the last one, which is not
    killed), ``finished(run_dir, trials of that run directory)``; then a new run directory."""
    rng = random.Random(seed)
    trials: list[Trial] = []
    cycle = 0
    cycle_trials: list[Trial] = []
    log_file = workdir / "trials.json"
    while sum(t.killed for t in trials) < kills:
        if len(trials) >= max_trials:
            raise AssertionError(
                f"only {sum(t.killed for t in trials)} kills in {len(trials)} trials"
            )
        out = workdir / f"run{cycle}"
        anchor, max_delay = rng.choice(list(anchors))
        trial = Trial(
            number=len(trials) + 1,
            cycle=cycle,
            seed=seed,
            anchor=anchor,
            delay=round(rng.uniform(0, max_delay), 3),
        )
        trials.append(trial)
        cycle_trials.append(trial)
        run_once(recipe, out, trial)
        log_file.write_text(json.dumps([asdict(t) for t in trials], indent=1))
        check(out, trial)
        if not trial.killed:
            assert trial.returncode == 0, _explain(trial, "the run failed")
            finished(out, cycle_trials)
            cycle, cycle_trials = cycle + 1, []
    if cycle_trials:  # the last run directory was killed: finish it
        out = workdir / f"run{cycle}"
        trial = Trial(len(trials) + 1, cycle, seed, anchor="(never)", delay=0.0)
        trials.append(trial)
        cycle_trials.append(trial)
        run_once(recipe, out, trial)
        assert trial.returncode == 0, _explain(trial, "the final run failed")
        check(out, trial)
        finished(out, cycle_trials)
    log_file.write_text(json.dumps([asdict(t) for t in trials], indent=1))
    return trials


def _explain(trial: Trial, what: str) -> str:
    return (
        f"{what}: trial {trial.number} (seed {trial.seed}, cycle {trial.cycle}, anchor "
        f"{trial.anchor!r}, delay {trial.delay}s, exit {trial.returncode}); log:\n"
        + "\n".join(trial.log[-15:])
    )


# -- checks that hold for any run directory at any moment ---------------------------------------
def check_run_dir(out: Path, trial: Trial, recipe_text: str) -> None:
    """What a killed run may leave: a complete manifest, complete published steps whose every
    output file exists and decodes, a complete gallery page, temporary files only where the next
    run sweeps them; never a half-written file under its final name."""
    why = _explain(trial, "run directory invalid")
    if not out.exists():
        return
    manifest = out / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())  # never half-written
        assert isinstance(data, dict) and isinstance(data.get("steps"), list), why
    if (out / "recipe.yaml").exists():
        assert (out / "recipe.yaml").read_text() == recipe_text, why
    if (out / "index.html").exists():
        assert (out / "index.html").read_text().rstrip().endswith("</html>"), why
    steps = out / "steps"
    for step_dir in sorted(steps.iterdir()) if steps.exists() else []:
        if step_dir.name.startswith("."):
            assert re.match(r"^\..+\.old-\d+$", step_dir.name), why  # set aside, swept next run
            continue
        record = json.loads((step_dir / "record.json").read_text())
        assert record["status"] == "ok" and record["id"] == step_dir.name, why
        for output in record["outputs"].values():
            folder = step_dir / output["path"]
            names = output["files"] if output["kind"] == "images" else [output["file"]]
            for name in names:  # (an image set may be empty: holdout: 0)
                path = folder / name
                assert path.is_file() and path.stat().st_size > 0, f"{why}\nmissing {path}"
                if output["kind"] == "images":
                    load_image(path)
        for path in step_dir.rglob("*"):
            assert not TEMP.match(path.name), f"{why}\ntemporary file published: {path}"


def assert_clean(out: Path) -> None:
    """After a run that finished: nothing half-done is left anywhere."""
    leftovers = [p for p in out.rglob("*") if TEMP.match(p.name) or ".old-" in p.name]
    assert not leftovers, leftovers
    assert not (out / ".staging").exists()
