"""Issue 14, item 7: one bad run never breaks another. A damaged or hand-edited manifest.json
or record.json makes its run "unreadable": ``artforge gallery build`` on it exits with status
2 naming the file and the key, the shared index shows an unreadable card for it, and its
neighbours build and are listed as usual. A damaged gallery cache is remade. Runs finishing
at the same moment into one folder all appear in the shared index (it is rebuilt under a
lock on the folder)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from artforge.gallery import build as gallery_build
from artforge.gallery.build import build_gallery
from tests.gallery.synth import make_run

from .conftest import subprocess_env

INF = float("inf")


def _set(*path_and_value):
    """A change to a JSON document: set the value at a key path."""
    *path, value = path_and_value

    def change(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return doc

    return change


def _drop_id(doc):
    del doc["steps"][0]["id"]
    return doc


def _twice(doc):
    doc["steps"].append(dict(doc["steps"][0]))
    return doc


# case -> (file in the run, the change (or raw text), words the message must hold)
DAMAGE = {
    "manifest-not-json": ("manifest.json", '{"steps": [', "not valid JSON"),
    "manifest-a-list": ("manifest.json", "[]", "a list where a mapping belongs"),
    "steps-of-numbers": ("manifest.json", _set("steps", [1, 2]), "steps[0]: 1 where a mapping"),
    "step-without-id": ("manifest.json", _drop_id, "steps[0]: the key 'id' is missing"),
    "step-id-a-list": ("manifest.json", _set("steps", 0, "id", [1]), "steps[0].id is a list"),
    "step-id-twice": ("manifest.json", _twice, "the step id 'scenes' appears twice"),
    "overrides-a-number": ("manifest.json", _set("recipe", "overrides", 5), "recipe.overrides"),
    "versions-a-list": ("manifest.json", _set("versions", ["x"]), "versions is a list"),
    "command-a-list": ("manifest.json", _set("command", ["run"]), "command is a list"),
    "record-not-json": ("steps/train/record.json", "{", "not valid JSON"),
    "files-a-string": (
        "steps/scenes/record.json",
        _set("outputs", "holdout_night", "files", "scene00000.png"),
        'outputs.holdout_night.files is "scene00000.png", expected a list',
    ),
    "meta-a-list": (
        "steps/scenes/record.json",
        _set("outputs", "holdout_night", "meta", [1]),
        "outputs.holdout_night.meta is a list",
    ),
    "series-text": ("steps/train/record.json", _set("series", "loss_g", "low"), "series.loss_g"),
    "series-of-words": (
        "steps/train/record.json",
        _set("series", "loss_g", [0.5, "nan?"]),
        'series.loss_g[1] is "nan?"',
    ),
    "warnings-text": (
        "steps/train/record.json",
        _set("warnings", "hot"),
        'warnings is "hot", expected a list',
    ),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A folder of two finished runs with their pages and the shared index."""
    root = tmp_path_factory.mktemp("runs") / "gallery"
    for name, started in (
        ("bad", "2026-01-02T00:00:00+00:00"),
        ("good", "2026-01-01T00:00:00+00:00"),
    ):
        make_run(root, name, count=2, size=16, started=started)
    for name in ("bad", "good"):
        build_gallery(root / name)
    return root


@pytest.fixture
def runs(pristine, tmp_path) -> Path:
    root = tmp_path / "gallery"
    shutil.copytree(pristine, root)
    return root


def damage(run: Path, rel: str, change) -> Path:
    path = run / rel
    if callable(change):
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    else:
        path.write_text(change)
    return path


def cards(index: Path) -> dict[str, str]:
    """Each run's card in the index page: the folder name -> the card's HTML."""
    html = index.read_text()
    found = {}
    for chunk in html.split('class="run-card"')[1:]:
        name = chunk.split('<div class="sub">', 1)[1].split(" ·", 1)[0].strip()
        found[name] = chunk.split("</a>" if chunk.startswith(" href") else "\n  </div>", 1)[0]
    return found


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_run_is_unreadable_and_its_neighbour_is_not(case, runs, fresh_cli, capsys, tally):
    rel, change, words = DAMAGE[case]
    path = damage(runs / "bad", rel, change)
    assert fresh_cli(["gallery", "build", str(runs / "bad")]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"error: {path}: ") and words in lines[0], err
    assert len(lines) == 2 and lines[1].startswith("  hint: ") and "Traceback" not in err
    # the neighbour: built as usual, and the index lists both runs
    assert fresh_cli(["gallery", "build", str(runs / "good")]) == 0, capsys.readouterr().err
    found = cards(runs / "index.html")
    assert set(found) == {"bad", "good"}
    assert 'href="good/index.html"' in runs.joinpath("index.html").read_text()
    assert (
        "unreadable" in found["bad"] and rel in found["bad"] and "unreadable" not in found["good"]
    )
    tally["damaged run files that left their neighbours unharmed"] += 1


def test_building_a_folder_of_runs_builds_all_but_the_damaged_one(runs, fresh_cli, capsys):
    path = damage(runs / "bad", "manifest.json", _drop_id)
    (runs / "good/index.html").unlink()
    assert fresh_cli(["gallery", "build", str(runs)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: steps[0]: the key 'id' is missing" in err
    assert "1 of the 2 runs" in err and "Traceback" not in err
    assert (runs / "good/index.html").is_file()
    found = cards(runs / "index.html")
    assert "unreadable" in found["bad"] and 'href="good/index.html"' in found["good"]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # matplotlib, 1e308
def test_infinite_and_huge_losses_are_drawn_or_flagged_never_fatal(runs, fresh_cli, capsys):
    record = "steps/translate/record.json"
    damage(runs / "bad", record, _set("series", {"loss": [1.0, INF, 0.5]}))
    assert fresh_cli(["gallery", "build", str(runs / "bad")]) == 0, capsys.readouterr().err
    assert "non-finite values from 1 on" in (runs / "bad/index.html").read_text()
    damage(runs / "bad", record, _set("series", {"loss": [1e308, -1e308]}))
    assert fresh_cli(["gallery", "build", str(runs / "bad")]) == 0, capsys.readouterr().err
    assert "the training curves cannot be drawn" in (runs / "bad/index.html").read_text()


@pytest.mark.parametrize(
    "cache",
    [
        "[]",
        '{"version": 2, "thumb_size": 64, "thumbs": [], "dims": "x", "derived": []}',
        "SHORT",  # the right layout, but every thumbnail entry cut short
    ],
)
def test_a_damaged_gallery_cache_is_remade(cache, runs, fresh_cli, capsys, tally):
    path = runs / "bad/_gallery/cache.json"
    if cache == "SHORT":
        data = json.loads(path.read_text())
        data["thumbs"] = {k: v[:3] for k, v in data["thumbs"].items()}
        cache = json.dumps(data)
    path.write_text(cache)
    assert fresh_cli(["gallery", "build", str(runs / "bad")]) == 0, capsys.readouterr().err
    data = json.loads(path.read_text())
    assert data["thumbs"] and all(len(v) == 6 for v in data["thumbs"].values())
    assert set(cards(runs / "index.html")) == {"bad", "good"}
    tally["damaged gallery caches remade"] += 1


def test_runs_finishing_together_all_appear_in_the_index(runs, monkeypatch, tally):
    """Run "bad" rebuilds the index and has read "good" (no page yet) when "good" finishes
    and writes its own page and index. Without the lock "bad" then writes its index last,
    listing "good" without its page; with it, "good" waits and reads both pages."""
    (runs / "good/index.html").unlink()
    read_good = threading.Event()
    card = gallery_build._run_card

    def slow_card(run_dir):
        result = card(run_dir)
        if run_dir.name == "good" and threading.current_thread() is not threading.main_thread():
            read_good.set()
            threading.Event().wait(0.5)  # "bad" is slow to write its index
        return result

    monkeypatch.setattr(gallery_build, "_run_card", slow_card)
    first = threading.Thread(target=build_gallery, args=(runs / "bad",))
    first.start()
    assert read_good.wait(30)
    build_gallery(runs / "good")  # finishes while "bad" is still writing the index
    first.join(30)
    html = (runs / "index.html").read_text()
    assert 'href="good/index.html"' in html and 'href="bad/index.html"' in html
    tally["runs finishing together, all in the index"] += 2


@pytest.mark.slow
def test_runs_built_at_once_in_separate_processes_all_appear(tmp_path):
    """The same as real processes: four runs' galleries built at the same moment."""
    root = tmp_path / "gallery"
    names = [f"run{i}" for i in range(4)]
    for name in names:
        make_run(root, name, count=1, size=16)
        damage(root / name, "steps/train/record.json", _set("series", {}))  # no plots: quicker
    code = (
        "import sys, time\n"
        "from artforge.gallery.build import build_gallery\n"
        "while time.time() < float(sys.argv[2]): time.sleep(0.005)\n"
        "build_gallery(sys.argv[1])\n"
    )
    import time

    start = time.time() + 3  # every process imports first, then all build at once
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(root / n), str(start)], env=subprocess_env()
        )
        for n in names
    ]
    assert [p.wait(120) for p in procs] == [0] * len(names)
    html = (root / "index.html").read_text()
    assert all(f'href="{n}/index.html"' in html for n in names), html
