"""Issue 9, item 1: every case of the bad-input corpus (corpus.py) gives exactly its error
class and words, in process and through the command line: exit status 2, one message (plus an
optional hint line) with ``file:line`` where there is a line, no traceback, and nothing
written, neither a new output folder nor a change to an existing run directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from artforge.errors import ArtforgeError
from artforge.plugins import PluginHost
from artforge.recipe import load_recipe

from .conftest import snapshot, subprocess_env
from .corpus import CASES, Case, many

GOOD = """name: previous
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 2, holdout: 0, size: 32}
"""


@pytest.fixture(scope="module")
def installed_steps() -> set[str]:
    return set(PluginHost().registry.step_names())


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory) -> Path:
    """A finished run directory that a bad recipe pointed at it must leave untouched."""
    from artforge.cli import main

    root = tmp_path_factory.mktemp("previous")
    (root / "good.yaml").write_text(GOOD)
    assert main(["run", str(root / "good.yaml"), "--out", str(root / "run"), "-q"]) == 0
    return root / "run"


def materialise(case: Case, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode("utf-8"))
    for name, text in case.files.items():
        (folder / name).write_text(text)
    return path


def check_message(err: str, case: Case, path: Path) -> None:
    """One ``error:`` line, at most one ``hint:`` line, the case's words, its location."""
    lines = err.rstrip("\n").split("\n")
    assert lines[0].startswith("error: "), err
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), err
    assert "Traceback" not in err and "internal error" not in err, err
    for word in case.words:
        assert word in err, f"{case.id}: {word!r} not in {err!r}"
    line = case.expected_line
    if line is not None:
        assert lines[0].startswith(f"error: {path}:{line}:"), err
    elif not case.overrides:
        assert lines[0].startswith(f"error: {path}: "), err


def test_the_corpus_is_large_and_covers_every_kind_of_mistake():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    kinds = {c.id.split("-")[0] for c in CASES}
    for kind in (
        "tab",
        "duplicate",
        "python",
        "top",
        "unknown",
        "misspelt",
        "zero",
        "negative",
        "scale",
        "cycle",
        "dangling",
        "reference",
        "plugin",
        "empty",
        "huge",
        "name",
        "id",
    ):
        assert kind in kinds, kind


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_recipe(
    case, tmp_path, monkeypatch, capsys, fresh_cli, installed_steps, previous_run, tally
):
    missing = [s for s in case.needs if s not in installed_steps]
    if missing:
        pytest.skip(f"step types not installed: {', '.join(missing)}")
    path = materialise(case, tmp_path / "recipes")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    # in process: the exact class, the words and the location
    with pytest.raises(ArtforgeError) as info:
        load_recipe(path, PluginHost(), case.overrides)
    exc = info.value
    assert type(exc) is case.error, f"{type(exc).__name__}: {exc}"
    for word in case.words:
        assert word in str(exc)
    location = getattr(exc, "location", None)
    assert (location.line if location else None) == case.expected_line, str(exc)

    # through the command line, from a folder where the default gallery/<name> would go
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    sets = [arg for o in case.overrides for arg in ("--set", o)]
    new_out = tmp_path / "new-out"
    recipes_before = snapshot(path.parent)
    assert fresh_cli(["run", str(path), "--out", str(new_out), *sets]) == 2
    check_message(capsys.readouterr().err, case, path)
    assert not new_out.exists()
    assert list(cwd.iterdir()) == []  # no gallery/ either
    assert snapshot(path.parent) == recipes_before

    # an existing run directory: not a byte, not a timestamp changes
    out = tmp_path / "existing"
    shutil.copytree(previous_run, out, symlinks=True)
    before = snapshot(out)
    assert fresh_cli(["run", str(path), "--out", str(out), *sets]) == 2
    check_message(capsys.readouterr().err, case, path)
    assert snapshot(out) == before

    if not case.id.startswith(("huge", "too-many")):
        assert fresh_cli(["validate", str(path), *sets]) == 2
        check_message(capsys.readouterr().err, case, path)
    tally["bad-input recipe cases passed"] += 1


REAL_PROCESS = [
    "tab-indent",
    "python-apply",
    "misspelt-param",
    "plugin-raises",
    "not-utf8",
    "deep-nesting",
]


@pytest.mark.parametrize("case_id", REAL_PROCESS)
def test_bad_recipe_in_a_real_process(case_id, tmp_path):
    """The installed ``artforge`` command: exit status 2, no traceback, nothing written,
    and no code from a YAML tag executed."""
    case = next(c for c in CASES if c.id == case_id)
    path = materialise(case, tmp_path / "recipes")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "artforge", "run", str(path), "--out", str(out)],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    check_message(proc.stderr, case, path)
    assert proc.stdout == ""
    assert not out.exists() and not (tmp_path / "gallery").exists()
    assert not (tmp_path / "pwned").exists()  # python-apply would `touch pwned`


def test_a_recipe_of_thousands_of_steps_validates_quickly(tmp_path, capsys, fresh_cli, tally):
    n = 5000
    path = tmp_path / "huge.yaml"
    path.write_text(many(n))
    t0 = time.perf_counter()
    recipe = load_recipe(path, PluginHost(load_installed=False))
    seconds = time.perf_counter() - t0
    assert len(recipe.steps) == n and recipe.steps[-1].deps == [f"s{n - 2}"]
    # linear work: about 1 s on one core; the bound leaves room for a busy machine
    assert seconds < 20, f"{n} steps took {seconds:.1f}s"
    assert fresh_cli(["validate", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok ({n} steps")
    tally[f"steps in the huge recipe (validated in {seconds:.1f}s)"] = n


def test_a_cycle_through_thousands_of_steps_is_named_briefly(tmp_path):
    n = 4000
    lines = ["name: ring", "steps:"]
    for i in range(n):
        lines += [
            f"  - id: s{i}",
            "    uses: collage",
            f"    with: {{sets: ['${{s{(i + 1) % n}.sheets}}']}}",
        ]
    path = tmp_path / "ring.yaml"
    path.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    with pytest.raises(ArtforgeError) as info:
        load_recipe(path, PluginHost(load_installed=False))
    assert time.perf_counter() - t0 < 20
    msg = str(info.value)
    assert "cycle: s0 -> s1" in msg and f"({n - 9} more)" in msg and len(msg) < 400
