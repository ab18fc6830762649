import json

import numpy as np
import pytest

from artforge.images import load_image
from artforge.recipe import load_recipe
from artforge.runner import Runner
from tests.core.helpers import CALLS, RECIPE, TestPlugin


@pytest.fixture
def thost(host):
    host.add_module(TestPlugin(), name="testplugin", source="test")
    CALLS.clear()
    return host


def _run(path, host, out, overrides=(), force=()):
    rec = load_recipe(path, host, overrides)
    return Runner(rec, host, out, force=force, quiet=True, log=lambda m: None).run()


def test_run_writes_records_manifest_and_gallery(thost, write_recipe, tmp_path):
    out = tmp_path / "run"
    summary = _run(write_recipe(RECIPE), thost, out)
    assert [o.status for o in summary.outcomes] == ["ran", "ran"]
    record = json.loads((out / "steps/inv/record.json").read_text())
    assert (
        record["status"] == "ok" and record["uses"] == "invert" and record["plugin"] == "testplugin"
    )
    assert record["outputs"]["images"]["files"] == ["g0.png", "g1.png", "g2.png"]
    assert "versions" in record and record["seconds"] >= 0
    a = load_image(out / "steps/src/images/g1.png")
    b = load_image(out / "steps/inv/images/g1.png")
    assert np.array_equal(255 - a, b)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and [s["status"] for s in manifest["steps"]] == ["ran", "ran"]
    assert (out / "index.html").is_file() and (out / "recipe.yaml").read_text() == RECIPE
    assert not (out / ".staging").exists()


def test_second_run_reuses_everything(thost, write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "run"
    _run(path, thost, out)
    summary = _run(path, thost, out)
    assert [o.status for o in summary.outcomes] == ["reused", "reused"]
    assert CALLS == {"gradient": 1, "invert": 1}


def test_changed_parameter_reruns_only_dependents(thost, write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "run"
    _run(path, thost, out)
    summary = _run(path, thost, out, ["steps.inv.with.strength=0.5"])
    assert [o.status for o in summary.outcomes] == ["reused", "ran"]
    summary = _run(path, thost, out, ["steps.src.with.count=2"])
    assert [o.status for o in summary.outcomes] == ["ran", "ran"]


def test_force_redoes_a_step_and_its_dependents(thost, write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "run"
    _run(path, thost, out)
    summary = _run(path, thost, out, force=["src"])
    assert [o.status for o in summary.outcomes] == ["ran", "ran"]
    summary = _run(path, thost, out, force=["inv"])
    assert [o.status for o in summary.outcomes] == ["reused", "ran"]


def test_seed_changes_the_key(thost, write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "run"
    _run(path, thost, out)
    summary = _run(path, thost, out, ["seed=2"])
    assert [o.status for o in summary.outcomes] == ["ran", "ran"]


def test_interrupted_step_leaves_no_partial_artifact(thost, write_recipe, tmp_path):
    path, out = write_recipe(RECIPE), tmp_path / "run"
    _run(path, thost, out)
    before = sorted(p.name for p in (out / "steps/src/images").iterdir())
    with pytest.raises(KeyboardInterrupt):
        _run(path, thost, out, ["steps.src.with.count=5", "steps.src.with.fail_after=3"])
    # the old, complete step folder is untouched; no half-written new one is visible
    assert sorted(p.name for p in (out / "steps/src/images").iterdir()) == before
    assert not (out / ".staging").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    # the next run continues: the interrupted step runs again and completes
    summary = _run(path, thost, out, ["steps.src.with.count=5"])
    assert [o.status for o in summary.outcomes] == ["ran", "ran"]
    assert len(list((out / "steps/src/images").iterdir())) == 5


def test_step_error_is_clean(thost, write_recipe, tmp_path, capsys):
    from artforge.cli import main

    text = RECIPE.replace(
        "uses: gradient\n    with: {count: 3}", "uses: gradient\n    with: {count: 3, size: 1}"
    )
    path = write_recipe(text)
    assert main(["validate", str(path)]) == 2


def test_run_lock_refuses_second_writer(thost, write_recipe, tmp_path):
    import fcntl

    from artforge.errors import RunLocked
    from artforge.ownership import claim

    out = tmp_path / "run"
    claim(out)  # a run directory another artforge run holds
    with open(out / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunLocked, match="is writing to"):
            _run(write_recipe(RECIPE), thost, out)
    summary = _run(write_recipe(RECIPE), thost, out)  # released: a dead holder blocks nothing
    assert summary.outcomes


def test_each_step_gets_its_own_seed(thost, write_recipe, tmp_path):
    from artforge.seeding import derive_seed

    out = tmp_path / "run"
    _run(write_recipe(RECIPE), thost, out)
    rec = json.loads((out / "steps/src/record.json").read_text())
    assert rec["seed"] == derive_seed(1, "src") != derive_seed(1, "inv")
