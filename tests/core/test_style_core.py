"""The ``stylize`` step the core owns, run with a throwaway numpy runtime (no torch or
tensorflow): the backend supplies only tensor code, the core does the rest."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from artforge.api import Backend, Diverged, RecipeError, hookimpl, run_recipe
from artforge.plugins import PluginHost
from artforge.style.gatys import CoarseToFine, Losses
from artforge.style.step import VERSION, run_stylize, step_type
from artforge.style.training import CropSampler, LossLog

LAYERS = SimpleNamespace(
    VGG19_LAYERS=["conv1_1"],
    DEFAULT_CONTENT_LAYERS=["conv1_1"],
    DEFAULT_STYLE_LAYERS=["conv1_1"],
    RandomMultiScaleFeatures=SimpleNamespace(
        LAYERS=["scale1", "scale2"],
        DEFAULT_CONTENT_LAYERS=["scale1"],
        DEFAULT_STYLE_LAYERS=["scale1", "scale2"],
    ),
)


def _features(x: np.ndarray) -> dict[str, np.ndarray]:
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    pooled = x[:, :h, :w].reshape(1, h // 2, 2, w // 2, 2, 3).mean((2, 4))
    return {"scale1": x, "scale2": pooled}


def _gram(f: np.ndarray) -> np.ndarray:
    flat = f.reshape(-1, f.shape[-1])
    return flat.T @ flat / len(flat)


class NumpyLossNet:
    """Pixels and 2x2-pooled pixels as 'features'; relative squared errors as losses."""

    def __init__(self, content, style, kind, description):
        self.content_layers, self.style_layers = content, style
        self.kind, self.description = kind, description

    def content_targets(self, x):
        f = _features(x)
        return {k: f[k] for k in self.content_layers}

    def style_targets(self, x):
        f = _features(x)
        return {k: _gram(f[k]) for k in self.style_layers}

    def losses(self, x, content_t, style_t):
        f = _features(x)
        lc = np.mean([np.mean((f[k] - t) ** 2) / np.mean(t**2) for k, t in content_t.items()])
        ls = np.mean([np.sum((_gram(f[k]) - g) ** 2) / np.sum(g**2) for k, g in style_t.items()])
        tv = float(np.mean(np.abs(np.diff(x, axis=1))) + np.mean(np.abs(np.diff(x, axis=2))))
        return float(lc), float(ls), tv


class NumpyGatys(CoarseToFine):
    """A 'optimiser' that is a seeded hill climb: enough to drive the core's driver."""

    color = None

    def _total(self, x, ct, st):
        c, s, t = self.net.losses(np.clip(x, 0, 1), ct, st)
        return c, s, t, self.cw * c + self.sw * s + self.tw * t

    def evaluate(self, x, ct, st):
        return Losses(*self._total(x, ct, st))

    def optimise(self, x0, ct, st, steps, on_eval=None):
        rng, x = np.random.default_rng(self.seed), x0.copy()
        best = self._total(x, ct, st)
        for _ in range(steps):
            cand = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
            got = self._total(cand, ct, st)
            if got[3] < best[3]:
                x, best = cand, got
            if on_eval is not None:
                on_eval(Losses(*best))
        return x

    def hw(self, x):
        return x.shape[1:3]

    def resize(self, x, size):
        from artforge.images import resize

        if tuple(x.shape[1:3]) == tuple(size):
            return x
        img = np.round(x[0] * 255).astype(np.uint8)
        return resize(img, (size[1], size[0]))[None].astype(np.float32) / 255

    def clip(self, x):
        return np.clip(x, 0, 1)

    def noise_source(self, seed):
        return np.random.default_rng(seed)

    def noise(self, source, like):
        return source.random(like.shape, dtype=np.float32)


class NumpyRuntime:
    backend = "numpy"
    model_file = "style.npy"
    model_meta = {"format": "npy"}
    state_file = "style_train.npy"
    vgg_files = "no VGG19 at all"

    def __init__(self):
        self.sessions = 0

    @contextlib.contextmanager
    def session(self, ctx):
        self.sessions += 1
        ctx.info["device"] = "numpy"
        yield

    def find_vgg19(self):
        return None

    def feature_nets(self):
        return LAYERS

    def loss_network(self, kind, path, content, style, seed, description):
        return NumpyLossNet(content, style, kind, description)

    def tensor(self, img):
        return np.asarray(img, np.float32)[None, ..., :3] / 255

    def image(self, x):
        return np.round(np.clip(x[0], 0, 1) * 255).astype(np.uint8)

    def losses(self, net, x, content_t, style_t):
        return net.losses(x, content_t, style_t)[:2]

    def gatys(self, net, p, seed):
        from artforge.style.gatys import gatys_options

        return NumpyGatys(net, **gatys_options(p), seed=seed)

    def train_transformer(self, net, style, images, p, *, seed, log, state_path):
        """'Training' a per-channel gain towards the style's mean colour."""
        gain = np.ones(3)
        crops = CropSampler(images, p.train_size, seed)
        log.begin(0)
        for step in range(1, p.steps + 1):
            batch = np.stack(crops(p.batch_size)).astype(np.float64) / 255
            gain = 0.5 * gain + 0.5 * style.mean((0, 1, 2)) / batch.mean((0, 1, 2)).clip(1e-3)
            x = np.clip(batch[:1] * gain, 0, 1)
            c, s, t = net.losses(x, net.content_targets(batch[:1]), net.style_targets(style))
            log.step(step, c, s, t)
        return gain

    def load_transformer(self, path, what):
        return np.load(path), {"style": "npy"}

    def save_transformer(self, path, net, meta):
        with open(path, "wb") as f:
            np.save(f, net)

    def stylizer(self, net):
        return lambda img: np.clip(np.round(img * net), 0, 255).astype(np.uint8)


def make_plugin(backend: str, methods: tuple[str, ...] = ("gatys", "johnson")):
    class NumpyBackend:
        @hookimpl
        def register_backends(self, register):
            register(Backend(backend, description="numpy test runtime"))

        @hookimpl
        def register_steps(self, register):
            register(step_type(backend, lambda ctx, p: run_stylize(ctx, p, NumpyRuntime())))

        @hookimpl
        def register_style_optimisers(self, register):
            for name in methods:
                register(name, "builtins:object", backend=backend)

    return NumpyBackend()


HEAD = """name: style-core
seed: 4
backend: {backend}
gallery: {{enabled: false}}
steps:
  - {{id: scenes, uses: synthetic-scenes, with: {{count: 2, holdout: 2, size: 32}}}}
"""


def run(tmp_path: Path, steps: str, plugin=None, backend="numpy"):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(HEAD.format(backend=backend) + steps)
    return run_recipe(
        recipe, tmp_path / "run", plugins=[plugin or make_plugin(backend)], load_installed=False
    )


def test_optimise_feed_forward_and_the_offline_default_run_on_a_numpy_runtime(tmp_path):
    res = run(
        tmp_path,
        """
  - id: opt
    uses: stylize
    with: {images: "${scenes.holdout_night}", style: "builtin:mosaic", method: optimise,
           size: 32, steps: 6, scales: 2}
  - id: ff
    uses: stylize
    with: {images: "${scenes.holdout_night}", train_images: "${scenes.day}",
           style: "builtin:mosaic", method: feed-forward, size: 24, steps: 4, train_size: 16,
           batch_size: 2}
  - id: ff_again
    uses: stylize
    with: {images: "${scenes.holdout_night}", style: "builtin:mosaic", method: feed-forward,
           size: 24, model: "${ff.model}"}
  - id: auto
    uses: stylize
    with: {images: "${scenes.holdout_night}", style: "builtin:mosaic", size: 16}
""",
    )
    assert set(res.status.values()) == {"ran"}
    opt = res.record("opt")
    assert opt["device"] == "numpy" and "Gatys" in opt["info"]["method"]
    assert opt["info"]["scales"] == "16x16 -> 32x32"
    assert [x for x, _ in opt["series"]["style_loss"]] == list(range(1, 13))  # 2 levels x 6
    m = opt["metrics"]
    assert 0 < m["style_loss_drop"] <= 1 and m["content_within_bound"] == 2
    assert {"texture_distance", "texture_distance_colour_baseline"} <= set(m)
    assert [res.images("opt").load(i).shape for i in range(2)] == [(32, 32, 3)] * 2

    ff = res.record("ff")
    assert ff["metrics"]["train_steps"] == 4 and "images_per_second" in ff["metrics"]
    assert [x for x, _ in ff["series"]["content_loss"]] == [4]  # every 10 steps, and the last
    model = res.outputs["ff"]["model"]
    assert model.path.name == "style.npy" and model.meta["backend"] == "numpy"
    assert model.meta["format"] == "npy" and model.meta["arch"] == "johnson"
    again = res.images("ff_again")
    assert all(np.array_equal(again.load(i), res.images("ff").load(i)) for i in range(2))

    auto = res.record("auto")
    assert auto["info"]["method_choice"] == "method auto: patch (no VGG19 weights: offline)"
    assert "Elad & Milanfar" in auto["info"]["method"]
    assert auto["metrics"]["texture_beats_colour_baseline"] == 2


def test_a_method_the_backend_does_not_run_is_refused_at_load_with_file_and_line(tmp_path):
    plugin = make_plugin("numpy2", methods=("gatys",))  # no johnson: no feed-forward
    step = """
  - id: ff
    uses: stylize
    with: {images: "${scenes.day}", style: "builtin:ink", method: feed-forward, steps: 1}
"""
    with pytest.raises(RecipeError) as err:
        run(tmp_path, step, plugin, backend="numpy2")
    assert f"{tmp_path / 'recipe.yaml'}:10:67" in str(err.value)
    assert "method feed-forward is not supported by backend numpy2" in str(err.value)
    assert "method: patch runs on every backend" in err.value.hint
    # patch, backend-free, is accepted (validation only: --dry-run's loading)
    from artforge.recipe import load_recipe

    host = PluginHost(load_installed=False)
    host.add_module(plugin, name="numpy2", source="test")
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD.format(backend="numpy2") + step.replace("feed-forward", "patch"))
    assert load_recipe(path, host).steps[1].params.method == "patch"


def test_crops_are_the_same_draws_for_the_same_seed_and_divergence_names_the_step():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 30, 3), dtype=np.uint8) for _ in range(3)]
    a, b, c = CropSampler(images, 16, 7), CropSampler(images, 16, 7), CropSampler(images, 16, 8)
    first = a(4)
    assert all(np.array_equal(x, y) for x, y in zip(first, b(4)))
    assert not all(np.array_equal(x, y) for x, y in zip(first, c(4)))
    assert all(x.shape == (16, 16, 3) for x in first)
    seen = []
    log = LossLog(3, on_step=lambda *v: seen.append(v), log_every=2)
    log.step(1, 1.0, 2.0, 3.0)
    log.step(2, 3.0, 2.0, 1.0)
    assert seen == [(2, pytest.approx(1.2), pytest.approx(2.0), pytest.approx(2.8))]
    with pytest.raises(Diverged, match="diverged at step 3"):
        log.step(3, float("nan"), 1.0, 1.0)


def test_both_backends_register_the_one_stylize_step_of_the_core():
    host = PluginHost()  # registration imports neither torch nor tensorflow
    found = [host.registry.steps.get(("stylize", b)) for b in ("torch", "keras")]
    found = [st for st in found if st is not None]
    if not found:
        pytest.skip("no backend plugin installed")
    assert {st.version for st in found} == {VERSION}
    assert all(st.params.__name__ == "StylizeParams" for st in found)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_the_style_modules_of_a_backend_import_no_circle(backend):
    """Issue 15: keras' color.py and gatys.py imported each other. Every import between the
    modules of a backend's style package, at top level or inside a function, read from the
    source: no module reaches itself."""
    import ast

    folder = Path(__file__).resolve().parents[2] / "plugins" / f"artforge_{backend}" / "style"
    graph = {}
    for path in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names)
        graph[path.stem] = deps & {p.stem for p in folder.glob("*.py")}
    assert "color" in graph and "gatys" in graph

    def reaches(start, goal, seen=()):
        return any(
            d == goal or (d not in seen and reaches(d, goal, (*seen, d))) for d in graph[start]
        )

    assert [m for m in graph if reaches(m, m)] == []
