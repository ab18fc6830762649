"""Issue 9, item 3: property-based tests of the recipe loader and the reference resolver.
Whatever the input (random text, YAML-like noise, generated recipes, mutated recipes, random
step graphs, random --set options), the result is a valid recipe or an artforge error
(ArtforgeError: exit status 2), never another exception."""

from __future__ import annotations

import heapq
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artforge.errors import ArtforgeError, PluginError, RecipeError
from artforge.params import REF_RE, find_refs, parse_ref
from artforge.plugins import PluginHost
from artforge.recipe import Recipe, parse_recipe
from artforge.yamlsrc import load_yaml

from .conftest import TALLY

SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLES = "property-test examples run"


class OfflineHost(PluginHost):
    """The installed plugins, but a recipe's ``plugins:`` never imports anything here
    (random text could name any module of the standard library)."""

    def load_spec(self, spec, base_dir=None):
        raise PluginError(f"recipe plugins are not loaded in property tests: {spec!r}")


@pytest.fixture(scope="module")
def host() -> OfflineHost:
    return OfflineHost()


def check(text: str, host, overrides=()) -> Recipe | None:
    """The property: a Recipe that holds together, or an ArtforgeError."""
    try:
        recipe = parse_recipe(text, host, file="fuzz.yaml", overrides=overrides)
    except ArtforgeError as exc:
        assert str(exc)  # a message for the user
        if isinstance(exc, RecipeError) and exc.location is not None and exc.location.line:
            assert exc.location.line >= 1
        return None
    ids = [s.id for s in recipe.steps]
    assert len(ids) == len(set(ids))
    position = {sid: i for i, sid in enumerate(ids)}
    for s in recipe.steps:
        for dep in s.deps:
            assert position[dep] < position[s.id]  # dependency order
        for _, ref_id, output in find_refs(s.spec.with_):
            assert output in recipe.step(ref_id).type.outputs
    return recipe


YAMLISH = st.text(alphabet=":-[]{},&*!|>'\"#%@`?~ \n\t\\$.=<abcnsteipu0123456789", max_size=120)


@settings(max_examples=300, **SETTINGS)
@given(text=st.text(max_size=200))
def test_any_text(host, text):
    TALLY[EXAMPLES] += 1
    check(text, host)
    try:
        load_yaml(text)
    except RecipeError:
        pass


@settings(max_examples=300, **SETTINGS)
@given(text=YAMLISH)
def test_yaml_like_noise(host, text):
    TALLY[EXAMPLES] += 1
    check(text, host)


# -- generated recipes -------------------------------------------------------------------------
STEP_TYPES = [
    "synthetic-scenes",
    "collage",
    "images",
    "train-gan",
    "super-resolve",
    "translate",
    "stylize",
    "teleport",
]
KEYS = [
    "count",
    "size",
    "holdout",
    "sets",
    "labels",
    "cell",
    "layout",
    "path",
    "skimage",
    "limit",
    "source",
    "target",
    "image_size",
    "epochs",
    "batch_size",
    "model",
    "scale",
    "method",
    "images",
    "style",
    "tile",
    "degradation",
    "blur",
    "cuont",
    "with",
    "id",
    "uses",
]
IDS = st.sampled_from(["a", "b", "c", "scenes", "train", "s_1", "x-y", "a", "b"]) | st.text(
    max_size=6
)
OUTPUTS = st.sampled_from(
    ["night", "day", "sheets", "images", "generator", "model", "samples", "nope"]
)
STEP_REFS = st.builds(lambda i, o: f"${{{i}.{o}}}", IDS, OUTPUTS)
VAR_REFS = st.builds(lambda n: f"${{vars.{n}}}", st.sampled_from(["n", "size", "n", "m"]))
REFS = st.one_of(STEP_REFS, STEP_REFS, STEP_REFS, VAR_REFS)  # 3 in 4 name a step
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["pix2pix", "dcgan", "bicubic", "espcn", "grid", "columns", "AtoB", "auto"])
    | REFS
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
STEP = st.fixed_dictionaries(
    {"id": IDS, "uses": st.sampled_from(STEP_TYPES)},
    optional={
        "with": st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
        "backend": st.sampled_from(["torch", "keras", "jax"]),
        "description": st.text(max_size=10),
        "wiht": VALUES,
    },
)
RECIPE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["t", "my-run", "a.b", "T1", "t2", "r", "../x", "a b"]),
        "steps": st.lists(STEP, min_size=1, max_size=6) | st.lists(STEP | VALUES, max_size=3),
        "vars": st.fixed_dictionaries({"n": SCALARS, "size": SCALARS}),
    },
    optional={
        "seed": st.integers() | st.floats() | st.booleans(),
        "backend": st.sampled_from(["torch", "keras", "tensorflow"]),
        "device": st.sampled_from(["auto", "cpu", "cuda", "cuda:1", "gpu"]) | st.text(max_size=6),
        "gallery": st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.booleans(),
                "thumbnail_size": st.integers(),
                "title": VALUES,
            },
        ),
        "plugins": st.lists(st.sampled_from(["nope.py", "./x/y.py"]), max_size=1),
        "setps": VALUES,
    },
)


@settings(max_examples=500, **SETTINGS)
@given(recipe=RECIPE)
def test_generated_recipes(host, recipe):
    TALLY[EXAMPLES] += 1
    check(yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False), host)


def mutate(text: str, edits: list[tuple[int, int, int, str]]) -> str:
    for kind, a, b, s in edits:
        if not text:
            break
        i, j = sorted((a % len(text), b % len(text)))
        if kind == 0:
            text = text[:i] + text[j:]  # delete
        elif kind == 1:
            text = text[:i] + s + text[i:]  # insert
        elif kind == 2:
            lines = text.splitlines(keepends=True)
            k = i % len(lines)
            text = "".join(lines[: k + 1] + lines[k:])  # duplicate a line
        else:
            lines = text.splitlines(keepends=True)
            x, y = i % len(lines), j % len(lines)
            lines[x], lines[y] = lines[y], lines[x]  # swap two lines
            text = "".join(lines)
    return text


VALID = """name: mutant
seed: 3
vars: {n: 4}
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: '${vars.n}', holdout: 2, size: 32}
  - id: sheet
    uses: collage
    with:
      sets: ['${scenes.night}', '${scenes.day}']
      labels: [night, day]
      layout: grid
  - id: again
    uses: collage
    with: {sets: ['${sheet.sheets}'], cell: 64}
gallery: {title: Mutants, thumbnail_size: 128}
"""


@settings(max_examples=400, **SETTINGS)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 10**4),
            st.integers(0, 10**4),
            st.text(alphabet=string.printable + "\t", max_size=8),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_valid_recipe(host, edits):
    TALLY[EXAMPLES] += 1
    check(mutate(VALID, edits), host)


def test_the_unmutated_recipe_is_valid(host):
    assert [s.id for s in check(VALID, host).steps] == ["scenes", "sheet", "again"]


# -- the reference resolver on random step graphs -----------------------------------------------
def smallest_order(n: int, deps: dict[int, set[int]]) -> list[int] | None:
    """The oracle: the topological order that always takes the earliest ready step, or None
    for a cyclic graph."""
    indeg = {i: len(deps[i]) for i in range(n)}
    users = {i: [j for j in range(n) if i in deps[j]] for i in range(n)}
    ready = [i for i in range(n) if not indeg[i]]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if not indeg[u]:
                heapq.heappush(ready, u)
    return order if len(order) == n else None


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 12))
    deps = {i: set(draw(st.lists(st.integers(0, n - 1), max_size=3))) - {i} for i in range(n)}
    return n, deps


@settings(max_examples=400, **SETTINGS)
@given(graph=graphs())
def test_random_step_graphs(host, graph):
    TALLY[EXAMPLES] += 1
    n, deps = graph
    lines = ["name: graph", "steps:", "  - id: root", "    uses: synthetic-scenes"]
    for i in range(n):
        refs = ["'${root.night}'"] + [f"'${{s{d}.sheets}}'" for d in sorted(deps[i])]
        lines += [f"  - id: s{i}", "    uses: collage", f"    with: {{sets: [{', '.join(refs)}]}}"]
    text = "\n".join(lines) + "\n"
    expected = smallest_order(n, deps)
    if expected is not None:
        recipe = check(text, host)
        assert [s.id for s in recipe.steps] == ["root"] + [f"s{i}" for i in expected]
        return
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, host, file="graph.yaml")
    cycle = info.value.bare_message.split("cycle: ", 1)[1].split(" -> ")
    assert cycle[0] == cycle[-1] and len(cycle) >= 3
    for a, b in zip(cycle, cycle[1:]):  # every arrow is a real dependency
        assert int(b[1:]) in deps[int(a[1:])]


# -- --set options ---------------------------------------------------------------------------------
SET_KEYS = st.lists(
    st.sampled_from(
        [
            "steps",
            "scenes",
            "sheet",
            "0",
            "1",
            "7",
            "with",
            "count",
            "sets",
            "seed",
            "name",
            "vars",
            "n",
            "gallery",
            "title",
            "",
        ]
    ),
    min_size=0,
    max_size=5,
).map(".".join)


@settings(max_examples=300, **SETTINGS)
@given(
    sets=st.lists(
        st.tuples(SET_KEYS, st.sampled_from(["=", "", "=="]), st.text(max_size=10)), max_size=3
    )
)
def test_random_set_options(host, sets):
    TALLY[EXAMPLES] += 1
    check(VALID, host, [k + eq + v for k, eq, v in sets])


# -- references inside any parameter value -----------------------------------------------------------
@settings(max_examples=300, **SETTINGS)
@given(value=VALUES)
def test_find_refs_finds_exactly_the_references(value):
    TALLY[EXAMPLES] += 1
    for path, step_id, output in find_refs(value):
        node = value
        for part in path:
            node = node[part]
        assert REF_RE.match(node) and parse_ref(node) == (step_id, output)


REFISH = st.builds(
    lambda a, b, c, d: f"{a}${{{b}.{c}}}{d}",
    st.sampled_from(["", " ", "x"]),
    st.text(max_size=6),
    st.text(max_size=6),
    st.sampled_from(["", "}", " "]),
)


@settings(max_examples=300, **SETTINGS)
@given(text=st.text(max_size=30) | REFISH)
def test_parse_ref_accepts_exactly_whole_references(text):
    TALLY[EXAMPLES] += 1
    ref = parse_ref(text)
    if ref is not None:
        assert text == f"${{{ref[0]}.{ref[1]}}}" and REF_RE.match(text)
    else:
        assert not REF_RE.match(text)
