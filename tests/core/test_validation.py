"""Each kind of validation error: one message with file:line, the key path and a suggestion."""

import pytest

from artforge.errors import RecipeError
from artforge.recipe import load_recipe

SCENES = """name: t
steps:
  - id: scenes
    uses: synthetic-scenes
    with:
      count: 4
"""


def _err(write_recipe, host, text, overrides=()):
    path = write_recipe(text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, host, overrides)
    return str(info.value), path


def test_valid_recipe(write_recipe, host):
    rec = load_recipe(write_recipe(SCENES), host)
    assert [s.id for s in rec.steps] == ["scenes"]
    assert rec.steps[0].params.count == 4


def test_misspelt_key_suggests(write_recipe, host):
    msg, path = _err(write_recipe, host, SCENES.replace("count", "cuont"))
    assert msg.startswith(f"{path}:6:7: steps[0].with.cuont: unknown key 'cuont'")
    assert "did you mean 'count'?" in msg


def test_misspelt_top_level_key(write_recipe, host):
    msg, path = _err(write_recipe, host, "name: t\nsetps: []\nsteps:\n  - {id: a, uses: collage}\n")
    assert f"{path}:2:1" in msg and "did you mean 'steps'?" in msg


def test_unknown_step_type(write_recipe, host):
    msg, path = _err(write_recipe, host, SCENES.replace("synthetic-scenes", "synthetic-scene"))
    assert f"{path}:4:11" in msg
    assert (
        "unknown step type 'synthetic-scene'" in msg and "did you mean 'synthetic-scenes'?" in msg
    )


def test_wrong_type(write_recipe, host):
    msg, path = _err(write_recipe, host, SCENES.replace("count: 4", "count: many"))
    assert f"{path}:6:14" in msg and "steps[0].with.count" in msg and "'many'" in msg


def test_out_of_range(write_recipe, host):
    msg, _ = _err(write_recipe, host, SCENES.replace("count: 4", "count: 0"))
    assert "greater than or equal to 1" in msg


def test_dangling_reference(write_recipe, host):
    text = SCENES + "  - id: sheet\n    uses: collage\n    with:\n      sets: ['${scnes.night}']\n"
    msg, path = _err(write_recipe, host, text)
    assert (
        f"{path}:10:14" in msg and "unknown step 'scnes'" in msg and "did you mean 'scenes'?" in msg
    )


def test_reference_to_missing_output(write_recipe, host):
    text = SCENES + "  - id: sheet\n    uses: collage\n    with:\n      sets: ['${scenes.nigth}']\n"
    msg, _ = _err(write_recipe, host, text)
    assert "has no output 'nigth'" in msg and "did you mean 'night'?" in msg


def test_cycle(write_recipe, host):
    text = """name: t
steps:
  - id: a
    uses: collage
    with: {sets: ['${b.sheets}']}
  - id: b
    uses: collage
    with: {sets: ['${a.sheets}']}
"""
    msg, path = _err(write_recipe, host, text)
    assert f"{path}:5" in msg and "cycle: a -> b -> a" in msg


def test_yaml_syntax_error(write_recipe, host):
    msg, path = _err(write_recipe, host, "name: t\nsteps: [\n")
    assert msg.startswith(f"{path}:") and "invalid YAML" in msg


def test_duplicate_key(write_recipe, host):
    msg, path = _err(write_recipe, host, "name: t\nname: u\nsteps: []\n")
    assert f"{path}:2:1" in msg and "duplicate key 'name'" in msg


def test_python_tag_is_refused(write_recipe, host):
    msg, _ = _err(
        write_recipe, host, "name: !!python/object/apply:os.system ['echo hi']\nsteps: []\n"
    )
    assert "unsupported YAML tag" in msg


def test_scientific_float_is_a_number(write_recipe, host):
    from artforge.yamlsrc import load_yaml

    data, _ = load_yaml("lr: 2e-4\nbig: 1E5\nname: 1e\n")
    assert data == {"lr": 2e-4, "big": 1e5, "name": "1e"}


def test_unknown_variable(write_recipe, host):
    msg, path = _err(
        write_recipe, host, "vars: {size: 32}\n" + SCENES.replace("count: 4", "size: ${vars.sise}")
    )
    assert f"{path}:7" in msg and "unknown variable 'sise'" in msg and "did you mean 'size'?" in msg


def test_variables_keep_their_type(write_recipe, host):
    rec = load_recipe(
        write_recipe("vars: {n: 5}\n" + SCENES.replace("count: 4", "count: ${vars.n}")), host
    )
    assert rec.steps[0].params.count == 5


def test_set_overrides(write_recipe, host):
    path = write_recipe(SCENES)
    rec = load_recipe(path, host, ["steps.scenes.with.count=9", "seed=3", "steps.0.with.size=32"])
    assert rec.steps[0].params.count == 9 and rec.spec.seed == 3 and rec.steps[0].params.size == 32


def test_set_errors_name_the_option(write_recipe, host):
    msg, _ = _err(write_recipe, host, SCENES, ["steps.scenes.with.count=abc"])
    assert msg.startswith("--set steps.scenes.with.count=abc:") and "'abc'" in msg
    msg, _ = _err(write_recipe, host, SCENES, ["steps.scnes.with.count=1"])
    assert "no step with id 'scnes'" in msg and "did you mean 'scenes'?" in msg


def test_duplicate_step_id(write_recipe, host):
    msg, path = _err(write_recipe, host, SCENES + "  - id: scenes\n    uses: synthetic-scenes\n")
    assert f"{path}:7" in msg and "duplicate step id 'scenes'" in msg


def test_bad_device(write_recipe, host):
    msg, path = _err(write_recipe, host, "device: gpu\n" + SCENES)
    assert f"{path}:1:9" in msg and "unknown device 'gpu'" in msg


def test_empty_and_wrong_top_level(write_recipe, host):
    msg, _ = _err(write_recipe, host, "")
    assert "recipe is empty" in msg
    msg, _ = _err(write_recipe, host, "- a\n- b\n")
    assert "must be a mapping" in msg


def test_cli_validation_error_exit_status(write_recipe, capsys, tmp_path):
    from artforge.cli import main

    path = write_recipe(SCENES.replace("count", "cuont"))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") <= 2 and "Traceback" not in err and "did you mean 'count'?" in err
    assert not out.exists()
