"""The bad-input corpus: recipes a user may write, copy or mistype, each with the exact error
class and the words the user must see.

A line ending in ``# <`` marks where the message must point (``file:LINE:``); ``line=`` gives
it where a comment would change the case (tabs, broken syntax). ``line=None``: the message has
no line (an empty file, a ``--set`` option). Each case is checked in process (the exception's
class, message and location) and through ``artforge run`` (exit status 2, one message, no
traceback, nothing written): see test_bad_recipes.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from artforge.errors import RecipeError

MARK = "# <"


@dataclass(frozen=True)
class Case:
    id: str
    text: str | bytes
    words: tuple[str, ...]
    line: int | None | str = "mark"  # "mark": the line carrying MARK
    error: type = RecipeError
    overrides: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # written beside the recipe
    needs: tuple[str, ...] = ()  # step types that must be installed (e.g. train-gan)

    @property
    def expected_line(self) -> int | None:
        if self.line != "mark":
            return self.line  # type: ignore[return-value]
        text = self.text.decode("utf-8", "replace") if isinstance(self.text, bytes) else self.text
        marked = [n for n, ln in enumerate(text.splitlines(), 1) if ln.rstrip().endswith(MARK)]
        assert len(marked) == 1, f"case {self.id}: mark exactly one line with '{MARK}'"
        return marked[0]


SCENES = """name: t
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 4, size: 32}
"""

TWO = (
    SCENES
    + """  - id: sheet
    uses: collage
    with: {sets: ['${scenes.night}']}
"""
)


def pair(train_with: str, *, model: str = "") -> str:
    """scenes -> train-gan with extra parameters (pix2pix unless ``model``, which then takes
    the place of the source/target pair: a noise GAN refuses keys it does not use)."""
    data = model or "source: '${scenes.night}'\n      target: '${scenes.day}'\n      "
    return SCENES + (f"  - id: train\n    uses: train-gan\n    with:\n      {data}{train_with}\n")


def sr(sr_with: str) -> str:
    return SCENES + (
        "  - id: up\n"
        "    uses: super-resolve\n"
        "    with:\n"
        "      images: '${scenes.night}'\n"
        f"      {sr_with}\n"
    )


def many(n: int, bad_at: int | None = None) -> str:
    """A chain of ``n`` steps; step ``bad_at`` misspells a key."""
    lines = [
        "name: huge",
        "steps:",
        "  - id: s0",
        "    uses: synthetic-scenes",
        "    with: {count: 2, holdout: 0, size: 32}",
    ]
    for i in range(1, n):
        key = "cel" if i == bad_at else "cell"
        mark = f"  {MARK}" if i == bad_at else ""
        src = "${s0.night}" if i == 1 else f"${{s{i - 1}.sheets}}"
        lines += [
            f"  - id: s{i}",
            "    uses: collage",
            f"    with: {{sets: ['{src}'], {key}: 16}}{mark}",
        ]
    return "\n".join(lines) + "\n"


BROKEN_PLUGIN = "raise RuntimeError('this plugin is broken')\n"
MISSPELT_HOOK_PLUGIN = """from artforge.api import hookimpl

@hookimpl
def register_step(register):
    pass
"""
CLASHING_PLUGIN = """from artforge.api import Params, StepType, hookimpl

@hookimpl
def register_steps(register):
    register(StepType("collage", Params, lambda ctx, p: {}, ("sheets",)))
"""

CASES: list[Case] = [
    # -- YAML syntax -------------------------------------------------------------------
    Case("unclosed-flow-list", "name: t\nsteps: [\n", ("invalid YAML",), line=3),
    Case("unclosed-flow-map", SCENES.replace("size: 32}", "size: 32"), ("invalid YAML",), line=6),
    Case("unclosed-quote", "name: 't\nsteps: []\n", ("invalid YAML", "quoted scalar"), line=3),
    Case(
        "mapping-in-scalar",
        "name: t\n  steps: x\n",
        ("invalid YAML", "mapping values are not allowed"),
        line=2,
    ),
    Case("bad-indentation", SCENES.replace("    uses:", "   uses:"), ("invalid YAML",), line=4),
    Case("stray-dash", "name: t\n- id: a\nsteps: []\n", ("invalid YAML",), line=2),
    Case("two-documents", SCENES + "---\n" + SCENES, ("invalid YAML", "single document"), line=6),
    Case(
        "undefined-alias", "name: *n\nsteps: []\n", ("invalid YAML", "undefined alias 'n'"), line=1
    ),
    Case(
        "duplicate-anchor",
        "a: &x 1\nb: &x 2\nname: t\n",
        ("invalid YAML", "duplicate anchor 'x'"),
        line=2,
    ),
    Case(
        "control-character",
        "name: t\nsteps: []\x00\n",
        ("invalid YAML", "#x0000", "not allowed"),
        line=2,
    ),
    Case("not-utf8", b"name: caf\xe9\nsteps: []\n", ("not UTF-8",), line=None),
    Case(
        "deep-nesting",
        "name: t\nsteps: " + "[" * 5000 + "]" * 5000 + "\n",
        ("nested more than 64 levels",),
        line=2,
    ),
    Case("self-alias", "name: t\nsteps: &s [*s]\n", ("nested more than 64 levels",), line=None),
    Case(
        "alias-bomb",
        "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 9 if p else ['x'] * 9)}]\n"
            for p, c in zip(["", "a", "b", "c", "d", "e"], "abcdef")
        ),
        ("recipe is too large",),
        line=1,
    ),
    # -- tabs --------------------------------------------------------------------------
    Case(
        "tab-indent", "name: t\nsteps:\n\t- id: s\n", ("invalid YAML", "indent with spaces"), line=3
    ),
    Case("tab-in-step", SCENES.replace("    uses:", "\tuses:"), ("indent with spaces",), line=4),
    Case(
        "tab-in-block-text",
        "description: |\n\tnight to day\n" + SCENES,
        ("indent with spaces",),
        line=2,
    ),
    # -- duplicate keys ----------------------------------------------------------------
    Case(
        "duplicate-top-key",
        "name: t\nname: u  # <\nsteps: []\n",
        ("duplicate key 'name'", "first defined on line 1"),
    ),
    Case(
        "duplicate-step-key",
        SCENES.replace("    with:", "    uses: collage  # <\n    with:"),
        ("duplicate key 'uses'",),
    ),
    Case(
        "duplicate-param-key",
        SCENES.replace("size: 32}", "size: 32, count: 5}  # <"),
        ("duplicate key 'count'",),
    ),
    Case(
        "duplicate-step-id",
        TWO.replace("id: sheet", "id: scenes  # <"),
        ("duplicate step id 'scenes'",),
    ),
    # -- unsafe and unknown tags -------------------------------------------------------
    Case(
        "python-apply",
        "name: !!python/object/apply:os.system ['touch pwned']  # <\nsteps: []\n",
        ("unsupported YAML tag", "python/object/apply:os.system", "never build Python objects"),
    ),
    Case(
        "python-name",
        "name: !!python/name:os.system  # <\nsteps: []\n",
        ("unsupported YAML tag", "python/name"),
    ),
    Case(
        "python-new",
        "name: t\nsteps: !!python/object/new:list [[]]  # <\n",
        ("unsupported YAML tag", "python/object/new"),
    ),
    Case(
        "python-object-map",
        "name: t\nsteps: !!python/object:argparse.Namespace {a: 1}  # <\n",
        ("unsupported YAML tag",),
    ),
    Case(
        "python-tuple",
        "name: t\nsteps: !!python/tuple [a]  # <\n",
        ("unsupported YAML tag", "python/tuple"),
    ),
    Case(
        "local-tag",
        "name: !include other.yaml  # <\nsteps: []\n",
        ("unsupported YAML tag '!include'",),
    ),
    Case("set-tag", "name: t\nsteps: !!set {a, b}  # <\n", ("unsupported YAML tag", "set")),
    Case(
        "binary-tag",
        SCENES.replace("count: 4", "count: !!binary aGk="),
        ("steps[0].with.count", "valid integer"),
        line=5,
    ),
    # -- wrong top-level types ---------------------------------------------------------
    Case("empty-file", "", ("recipe is empty", "needs at least `name:` and `steps:`"), line=None),
    Case("only-comments", "# nothing here\n# at all\n", ("recipe is empty",), line=None),
    Case("top-level-list", "- name: t  # <\n- steps: []\n", ("must be a mapping", "not a list")),
    Case("top-level-string", "just some words  # <\n", ("must be a mapping", "not a string")),
    Case("top-level-number", "42  # <\n", ("must be a mapping", "not a number")),
    Case(
        "steps-mapping", "name: t\nsteps: {id: a, uses: collage}  # <\n", ("steps:", "valid list")
    ),
    Case("steps-null", "name: t\nsteps:  # <\n", ("steps:", "valid list")),
    Case("steps-empty", "name: t\nsteps: []  # <\n", ("steps:", "at least 1 item")),
    Case("step-string", "name: t\nsteps:\n  - collage  # <\n", ("steps[0]", "valid dictionary")),
    Case(
        "with-list",
        SCENES.replace("{count: 4, size: 32}", "[4, 32]  # <"),
        ("steps[0].with", "valid dictionary"),
    ),
    Case("vars-list", "vars: [1, 2]  # <\n" + SCENES, ("vars", "valid dictionary")),
    Case("gallery-bool", SCENES + "gallery: yes  # <\n", ("gallery", "valid dictionary")),
    Case(
        "name-missing",
        SCENES.replace("name: t\n", "# no name\n"),
        ("missing required key 'name'",),
        line=2,
    ),
    Case("steps-missing", "name: t  # <\n", ("missing required key 'steps'",), line=1),
    # a misspelt required key: the unknown key and its did-you-mean, not only "missing"
    Case(
        "misspelt-required-steps",
        SCENES.replace("steps:", "stepz:  # <"),
        ("unknown key 'stepz'", "did you mean 'steps'?"),
    ),
    Case(
        "misspelt-required-uses",
        SCENES.replace("    uses:", "    usse:").replace(
            "synthetic-scenes", "synthetic-scenes  # <"
        ),
        ("steps[0].usse", "unknown key 'usse'", "did you mean 'uses'?"),
    ),
    Case(
        "uses-missing",
        SCENES.replace("    uses: synthetic-scenes\n", ""),
        ("steps[0]", "missing required key 'uses'"),
        line=3,
    ),
    Case(
        "id-missing",
        SCENES.replace("  - id: scenes\n    uses", "  - uses"),
        ("steps[0]", "missing required key 'id'"),
        line=3,
    ),
    # -- unknown step types ------------------------------------------------------------
    Case(
        "misspelt-step-type",
        SCENES.replace("uses: synthetic-scenes", "uses: synthetic-scene  # <"),
        ("unknown step type 'synthetic-scene'", "did you mean 'synthetic-scenes'?"),
    ),
    Case(
        "unknown-step-type",
        SCENES.replace("uses: synthetic-scenes", "uses: teleport  # <"),
        ("unknown step type 'teleport'", "artforge steps"),
    ),
    Case(
        "underscore-step-type",
        TWO.replace("uses: collage", "uses: Collage  # <"),
        ("unknown step type 'Collage'", "did you mean 'collage'?"),
    ),
    # -- misspelt and unknown keys at every level --------------------------------------
    Case(
        "misspelt-top-key",
        "name: t\nsetps: []  # <\nsteps:\n  - {id: a, uses: synthetic-scenes}\n",
        ("unknown key 'setps'", "did you mean 'steps'?"),
    ),
    Case(
        "unknown-top-key", "author: me  # <\n" + SCENES, ("unknown key 'author'", "valid keys here")
    ),
    Case(
        "misspelt-step-key",
        SCENES.replace("    with:", "    wiht:  # <\n     ").replace(
            "wiht:  # <\n      {", "wiht: {"
        ),
        ("steps[0]", "unknown key 'wiht'", "did you mean 'with'?"),
        line=5,
    ),
    Case(
        "misspelt-param",
        SCENES.replace("count: 4", "cuont: 4").replace("size: 32}", "size: 32}  # <"),
        ("steps[0].with.cuont", "unknown key 'cuont'", "did you mean 'count'?"),
    ),
    Case(
        "unknown-param",
        TWO.replace("sets: ['${scenes.night}']}", "sets: ['${scenes.night}'], colour: red}  # <"),
        ("steps[1].with.colour", "unknown key 'colour'"),
    ),
    Case(
        "misspelt-gallery-key",
        SCENES + "gallery:\n  thumbnail_sise: 64  # <\n",
        ("gallery.thumbnail_sise", "did you mean 'thumbnail_size'?"),
    ),
    Case(
        "misspelt-nested-param",
        sr("degradation: {blurr: 1.0}  # <"),
        ("steps[1].with.degradation.blurr", "unknown key 'blurr'", "did you mean 'blur'?"),
        needs=("super-resolve",),
    ),
    Case(
        "misspelt-train-param",
        pair("epocs: 5  # <"),
        ("steps[1].with.epocs", "did you mean 'epochs'?"),
        needs=("train-gan",),
    ),
    # -- wrong types -------------------------------------------------------------------
    Case(
        "string-for-int",
        SCENES.replace("count: 4", "count: many").replace("32}", "32}  # <"),
        ("steps[0].with.count", "valid integer", "'many'"),
    ),
    Case(
        "bool-for-int",
        SCENES.replace("count: 4", "count: yes").replace("32}", "32}  # <"),
        ("steps[0].with.count", "not a boolean"),
    ),
    Case(
        "float-for-int",
        SCENES.replace("count: 4", "count: 2.5").replace("32}", "32}  # <"),
        ("steps[0].with.count", "valid integer"),
    ),
    Case(
        "list-for-int",
        SCENES.replace("count: 4", "count: [4]").replace("32}", "32}  # <"),
        ("steps[0].with.count", "valid integer"),
    ),
    Case(
        "int-for-string",
        "name: 123  # <\nsteps:\n  - {id: a, uses: synthetic-scenes}\n",
        ("name:", "valid string"),
    ),
    Case(
        "date-for-string",
        "name: t\ndescription: 2024-01-31  # <\nsteps:\n  - {id: a, uses: synthetic-scenes}\n",
        ("description:", "valid string"),
    ),
    Case(
        "int-step-id", SCENES.replace("id: scenes", "id: 7  # <"), ("steps[0].id", "valid string")
    ),
    Case(
        "string-for-list",
        TWO.replace("sets: ['${scenes.night}']", "sets: '${scenes.night}'").replace(
            "night}'}", "night}'}  # <"
        ),
        ("steps[1].with.sets", "valid list"),
    ),
    Case(
        "bad-literal",
        TWO.replace(
            "sets: ['${scenes.night}']}", "sets: ['${scenes.night}'], layout: diagonal}  # <"
        ),
        ("steps[1].with.layout", "'columns' or 'grid'"),
    ),
    Case(
        "nan-float",
        pair("lr_g: .nan  # <"),
        ("steps[1].with.lr_g", "finite number"),
        needs=("train-gan",),
    ),
    Case(
        "inf-float",
        pair("lambda_l1: .inf  # <"),
        ("steps[1].with.lambda_l1", "finite number"),
        needs=("train-gan",),
    ),
    Case(
        "bool-epochs",
        pair("epochs: on  # <"),
        ("steps[1].with.epochs", "not a boolean"),
        needs=("train-gan",),
    ),
    # -- out-of-range values -----------------------------------------------------------
    Case(
        "zero-count",
        SCENES.replace("count: 4", "count: 0").replace("32}", "32}  # <"),
        ("steps[0].with.count", "greater than or equal to 1", "(got 0)"),
    ),
    Case(
        "negative-count",
        SCENES.replace("count: 4", "count: -3").replace("32}", "32}  # <"),
        ("greater than or equal to 1", "(got -3)"),
    ),
    Case("negative-seed", "seed: -1  # <\n" + SCENES, ("seed:", "greater than or equal to 0")),
    Case(
        "huge-seed",
        "seed: 99999999999999999999  # <\n" + SCENES,
        ("seed:", "less than or equal to 2147483647"),
    ),
    Case(
        "scene-size-too-small",
        SCENES.replace("size: 32", "size: 8").replace("32}", "8}").replace("8}", "8}  # <"),
        ("steps[0].with.size", "greater than or equal to 32"),
    ),
    Case(
        "thumbnail-too-small",
        SCENES + "gallery: {thumbnail_size: 5}  # <\n",
        ("gallery.thumbnail_size", "greater than or equal to 32"),
    ),
    Case(
        "negative-epochs",
        pair("epochs: -5  # <"),
        ("steps[1].with.epochs", "greater than or equal to 1", "(got -5)"),
        needs=("train-gan",),
    ),
    Case(
        "zero-batch-size",
        pair("batch_size: 0  # <"),
        ("steps[1].with.batch_size", "greater than or equal to 1", "(got 0)"),
        needs=("train-gan",),
    ),
    Case(
        "image-size-not-power-of-two",
        pair("image_size: 100"),
        ("steps[1].with", "image_size must be a power of two", "got 100"),
        line=8,
        needs=("train-gan",),
    ),
    Case(
        "image-size-too-small-for-patchgan",
        pair("image_size: 16"),
        ("n_layers_d=3 needs image_size >= 32",),
        line=8,
        needs=("train-gan",),
    ),
    Case(
        "dcgan-image-size",
        pair("image_size: 256", model="model: dcgan\n      data: '${scenes.night}'\n      "),
        ("dcgan supports image_size 32, 64 or 128",),
        line=8,
        needs=("train-gan",),
    ),
    Case(
        "scale-7",
        sr("scale: 7"),
        ("espcn supports scale 2, 3 or 4, not 7",),
        line=8,
        needs=("super-resolve",),
    ),
    Case(
        "scale-9",
        sr("scale: 9  # <"),
        ("steps[1].with.scale", "less than or equal to 8"),
        needs=("super-resolve",),
    ),
    Case(
        "zero-lr",
        pair("lr_g: 0  # <"),
        ("steps[1].with.lr_g", "greater than 0"),
        needs=("train-gan",),
    ),
    # -- references --------------------------------------------------------------------
    Case(
        "dangling-reference",
        TWO.replace("${scenes.night}']}", "${scnes.night}']}  # <"),
        ("unknown step 'scnes'", "did you mean 'scenes'?"),
    ),
    Case(
        "reference-to-missing-output",
        TWO.replace("${scenes.night}']}", "${scenes.nigth}']}  # <"),
        ("step 'scenes' (synthetic-scenes) has no output 'nigth'", "did you mean 'night'?"),
    ),
    Case(
        "reference-to-unknown-output",
        TWO.replace("${scenes.night}']}", "${scenes.sheets}']}  # <"),
        ("has no output 'sheets'", "night, day, holdout_night, holdout_day"),
    ),
    Case(
        "self-reference",
        TWO.replace("${scenes.night}']}", "${sheet.sheets}']}  # <"),
        ("cannot use its own output",),
    ),
    Case(
        "cycle-of-two",
        "name: t\nsteps:\n  - id: a\n    uses: collage\n    with: {sets: ['${b.sheets}']}  # <\n"
        "  - id: b\n    uses: collage\n    with: {sets: ['${a.sheets}']}\n",
        ("cycle: a -> b -> a",),
    ),
    Case(
        "cycle-of-three",
        "name: t\nsteps:\n  - id: a\n    uses: collage\n    with: {sets: ['${c.sheets}']}  # <\n"
        "  - id: b\n    uses: collage\n    with: {sets: ['${a.sheets}']}\n"
        "  - id: c\n    uses: collage\n    with: {sets: ['${b.sheets}']}\n",
        ("cycle: a -> c -> b -> a",),
    ),
    Case(
        "malformed-reference",
        TWO.replace("${scenes.night}']}", "${scenes}']}  # <"),
        ("expected a reference", "'${scenes}'"),
    ),
    Case(
        "plain-path-as-reference",
        TWO.replace("'${scenes.night}'", "'scenes/night'").replace("night']}", "night']}  # <"),
        ("steps[1].with.sets[0]", "expected a reference"),
    ),
    Case(
        "unknown-variable",
        "vars: {n: 3}\n"
        + SCENES.replace("count: 4", "count: '${vars.m}'").replace("32}", "32}  # <"),
        ("unknown variable 'm'", "define it under `vars:`"),
    ),
    Case(
        "variable-makes-bad-name",
        "vars: {n: ../escape}\nname: ${vars.n}  # <\nsteps:\n  - {id: a, uses: synthetic-scenes}\n",
        ("name:", "holds only letters", "'../escape'"),
    ),
    # -- backend, device ---------------------------------------------------------------
    Case(
        "unknown-backend",
        "backend: tensorflow  # <\n" + SCENES,
        ("unknown backend 'tensorflow'", "available backends"),
    ),
    Case(
        "misspelt-backend",
        "backend: torhc  # <\n" + SCENES,
        ("unknown backend 'torhc'", "did you mean 'torch'?"),
    ),
    Case(
        "unknown-step-backend",
        SCENES.replace("    with:", "    backend: jax  # <\n    with:"),
        ("steps[0].backend", "unknown backend 'jax'"),
    ),
    Case(
        "unknown-device",
        "device: gpu  # <\n" + SCENES,
        ("device:", "unknown device 'gpu'", "auto, cpu, cuda or cuda:N"),
    ),
    Case("bad-cuda-index", "device: 'cuda:x'  # <\n" + SCENES, ("unknown device 'cuda:x'",)),
    # -- names and ids that could escape the run directory -----------------------------
    Case(
        "name-parent-dir",
        "name: ../../etc  # <\nsteps:\n  - {id: a, uses: synthetic-scenes}\n",
        ("name:", "holds only letters"),
    ),
    Case(
        "name-absolute",
        "name: /tmp/evil  # <\nsteps:\n  - {id: a, uses: synthetic-scenes}\n",
        ("name:", "holds only letters"),
    ),
    Case(
        "name-hidden",
        "name: .hidden  # <\nsteps:\n  - {id: a, uses: synthetic-scenes}\n",
        ("name:", "holds only letters"),
    ),
    Case(
        "id-parent-dir",
        SCENES.replace("id: scenes", "id: ../../x  # <"),
        ("steps[0].id", "holds only letters"),
    ),
    Case(
        "id-absolute",
        SCENES.replace("id: scenes", "id: /etc/passwd  # <"),
        ("steps[0].id", "holds only letters"),
    ),
    Case(
        "id-with-space",
        SCENES.replace("id: scenes", "id: my scenes  # <"),
        ("steps[0].id", "holds only letters"),
    ),
    # -- recipe plugins ----------------------------------------------------------------
    Case(
        "plugin-file-missing",
        "plugins: [./nowhere/plugin.py]  # <\n" + SCENES,
        ("plugins[0]", "plugin file not found", "plugin.py"),
    ),
    Case(
        "plugin-module-missing",
        "plugins: [no_such_artforge_plugin]  # <\n" + SCENES,
        ("plugins[0]", "failed to import", "No module named"),
    ),
    Case(
        "plugin-raises",
        "plugins: [broken_plugin.py]  # <\n" + SCENES,
        ("plugins[0]", "failed to import", "this plugin is broken"),
        files={"broken_plugin.py": BROKEN_PLUGIN},
    ),
    Case(
        "plugin-exits",
        "plugins: [exit_plugin.py]  # <\n" + SCENES,
        ("plugins[0]", "exit_plugin.py", "called sys.exit(3) while importing"),
        files={"exit_plugin.py": "import sys\n\nsys.exit(3)\n"},
    ),
    Case(
        "plugin-misspelt-hook",
        "plugins: [misspelt_plugin.py]  # <\n" + SCENES,
        ("plugins[0]", "register_step", "register_steps"),
        files={"misspelt_plugin.py": MISSPELT_HOOK_PLUGIN},
    ),
    Case(
        "plugin-clashes-with-builtin",
        "plugins: [clash_plugin.py]  # <\n" + SCENES,
        ("plugins[0]", "'collage'", "registered twice"),
        files={"clash_plugin.py": CLASHING_PLUGIN},
    ),
    # -- --set overrides ---------------------------------------------------------------
    Case(
        "set-without-equals",
        SCENES,
        ("--set seed", "expected KEY.PATH=VALUE"),
        line=None,
        overrides=("seed",),
    ),
    Case(
        "set-unknown-step",
        SCENES,
        ("no step with id 'scnes'", "did you mean 'scenes'?"),
        line=None,
        overrides=("steps.scnes.with.count=1",),
    ),
    Case(
        "set-wrong-type",
        SCENES,
        ("--set steps.scenes.with.count=lots", "valid integer"),
        line=None,
        overrides=("steps.scenes.with.count=lots",),
    ),
    Case(
        "set-escaping-name",
        SCENES,
        ("--set name=../up", "holds only letters"),
        line=None,
        overrides=("name=../up",),
    ),
    # -- size ---------------------------------------------------------------------------
    Case(
        "huge-recipe-bad-last-step",
        many(3000, bad_at=2999),
        ("steps[2999].with.cel", "did you mean 'cell'?"),
    ),
    Case(
        "too-many-steps",
        "name: t\nsteps: [&s {id: a, uses: synthetic-scenes}" + ", *s" * 10_000 + "]  # <\n",
        ("steps", "at most 10000 items"),
    ),
]
