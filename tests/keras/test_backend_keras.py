"""The Keras backend's set-up: TensorFlow pinned before keras loads (clear errors otherwise),
registration without heavy imports, no dependency on the torch plugin, device selection,
threads."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "artforge_keras"


def _python(code: str, **env) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    e.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=240
    )


def test_nothing_in_the_plugin_imports_torch_or_the_torch_plugin():
    for path in PLUGIN.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in ("torch", "torchvision", "artforge_torch"), f"{path}: {name}"


def test_registration_imports_neither_keras_nor_tensorflow():
    r = _python(
        "import sys; from artforge.plugins import PluginHost; h = PluginHost();"
        "reg = h.registry; st = reg.find_step('train-gan', 'keras');"
        "print(st.plugin, [m for m in ('keras', 'tensorflow', 'torch') if m in sys.modules])"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["keras", "[]"]


def test_another_forced_keras_backend_is_a_clear_error():
    r = _python(
        "from artforge_keras.backend import keras_module\n"
        "try:\n    keras_module()\nexcept Exception as e:\n"
        "    print(type(e).__name__, '|', e)\n",
        KERAS_BACKEND="jax",
    )
    assert (
        "BackendUnavailable | the keras backend of artforge runs Keras 3 on TensorFlow" in r.stdout
    )
    assert "KERAS_BACKEND=jax" in r.stdout and "unset KERAS_BACKEND" in r.stdout


@pytest.mark.slow
def test_keras_already_loaded_on_another_backend_is_a_clear_error():
    pytest.importorskip("torch")
    r = _python(
        "import os; os.environ['KERAS_BACKEND'] = 'torch'; import keras\n"
        "del os.environ['KERAS_BACKEND']\n"
        "from artforge_keras.backend import keras_module\n"
        "try:\n    keras_module()\nexcept Exception as e:\n"
        "    print(type(e).__name__, '|', e)\n"
    )
    assert "BackendUnavailable | keras was already imported with the torch backend" in r.stdout


def test_a_run_with_the_wrong_keras_backend_fails_with_exit_status_2(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: wrong\nbackend: keras\nsteps:\n"
        "  - id: p\n    uses: images\n    with: {skimage: [astronaut], size: 32}\n"
        "  - id: s\n    uses: super-resolve\n"
        "    with: {images: '${p.images}', method: espcn, steps: 1, train: '${p.images}'}\n"
        "gallery: {enabled: false}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "artforge", "run", str(recipe), "--out", str(tmp_path / "o"), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        timeout=240,
    )
    assert r.returncode == 2, r.stderr
    assert "KERAS_BACKEND=jax" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_start_up_banner_is_hidden_and_threads_follow_the_cores():
    r = _python(
        "from artforge_keras.backend import keras_module, runtime\n"
        "keras_module(); import os, tensorflow as tf\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads(), len(os.sched_getaffinity(0)))\n"
        "print(runtime('auto').describe()['device'], runtime('cpu').policy)\n",
    )
    assert r.returncode == 0, r.stderr
    intra, inter, cores = r.stdout.split()[:3]
    assert int(intra) == int(cores) and int(inter) == 1
    assert "oneDNN custom operations" not in r.stderr
    r2 = _python(
        "from artforge_keras.backend import keras_module\nkeras_module()\n"
        "import tensorflow as tf; print(tf.config.threading.get_intra_op_parallelism_threads())",
        OMP_NUM_THREADS="1",
    )
    assert r2.stdout.strip() == "1"


def test_cuda_without_a_gpu_is_a_step_error():
    import tensorflow as tf

    from artforge.errors import StepError
    from artforge_keras.backend import runtime

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present")
    assert runtime("auto").device == "/CPU:0" and runtime("cpu").policy == "float32"
    with pytest.raises(StepError, match="no GPU"):
        runtime("cuda:0")
