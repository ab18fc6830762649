"""Keras 3 on TensorFlow: import, thread settings, device and mixed-precision policy.

Everything that touches keras goes through :func:`keras_module` first. It pins
``KERAS_BACKEND=tensorflow`` *before* keras is first imported (keras reads the variable once,
at import), refuses clearly when another backend is forced (by the variable, by
``~/.keras/keras.json`` after an earlier import, or when keras 2 is installed), and sets
TensorFlow's thread pools once:

- intra-op threads: the cores this process may use (``os.sched_getaffinity``), or
  ``OMP_NUM_THREADS`` / ``ARTFORGE_THREADS`` when set: the same number torch's backend uses,
  so that with both frameworks in one process (the benchmarks, the parity tests) neither
  pool is larger than the machine;
- inter-op threads: 1 on the CPU (the training graphs are chains of large ops, and a second
  pool would compete with the intra-op threads for the same cores), 2 with a GPU.

On a GPU, memory grows on demand (TensorFlow would otherwise reserve all of it, starving a
torch process on the same card) and layers compute in ``mixed_bfloat16`` where the GPU has
bf16 (compute capability 8.0+), else ``mixed_float16`` with loss scaling; on the CPU
everything is float32 (CPU mixed precision is slower for convolutions).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from artforge.api import BackendUnavailable, StepError

INSTALL = 'pip install -e ".[keras]"  (tensorflow-cpu >= 2.16 and keras 3)'
_configured = False


def _threads() -> int:
    for var in ("ARTFORGE_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) > 0:
            return int(v)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def keras_module() -> Any:
    """Import keras on the TensorFlow backend (once) and return the module.

    Raises ``BackendUnavailable`` when tensorflow or keras 3 is missing or when keras is
    (or would be) running on another backend.
    """
    forced = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules:
        if forced and forced != "tensorflow":
            raise BackendUnavailable(
                f"the keras backend of artforge runs Keras 3 on TensorFlow, but "
                f"KERAS_BACKEND={forced} is set",
                hint="unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow",
            )
        missing = [m for m in ("tensorflow", "keras") if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendUnavailable(
                f"the keras backend needs {' and '.join(missing)}, which is not installed",
                hint=f"install it with: {INSTALL}",
            )
        os.environ["KERAS_BACKEND"] = "tensorflow"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with _quiet_native_stderr():
            import keras
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise BackendUnavailable(
            f"keras failed to import: {exc}", hint=f"reinstall it: {INSTALL}"
        ) from None
    version = getattr(keras, "__version__", "0")
    if int(version.split(".")[0]) < 3:
        raise BackendUnavailable(
            f"the keras backend needs Keras 3, but keras {version} is installed",
            hint=f"upgrade it: {INSTALL}",
        )
    active = keras.config.backend()
    if active != "tensorflow":
        raise BackendUnavailable(
            f"keras was already imported with the {active} backend in this process; the "
            "artforge keras backend needs TensorFlow",
            hint="set KERAS_BACKEND=tensorflow before anything imports keras",
        )
    _configure()
    return keras


# Native start-up lines TensorFlow prints on stderr whatever TF_CPP_MIN_LOG_LEVEL says (absl
# logs from static initialisers): informational only.
_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on")


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hide TensorFlow's start-up banner (printed by C++ on file descriptor 2 while it is
    imported); every other line written meanwhile is passed on."""
    if "tensorflow" in sys.modules or os.environ.get("ARTFORGE_TF_VERBOSE"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured): nothing to hide
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            kept = [
                ln for ln in text.splitlines() if ln.strip() and not any(n in ln for n in _NOISE)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _configure() -> None:
    """Thread pools and GPU memory growth: settable only before TensorFlow starts up."""
    global _configured
    if _configured:
        return
    _configured = True
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(_threads())
        tf.config.threading.set_inter_op_parallelism_threads(2 if gpus else 1)
    except RuntimeError:  # TensorFlow already running (someone else configured it)
        pass
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass


@dataclass
class Runtime:
    """Where a step runs and in what precision."""

    device: str  # a TensorFlow device string: "/CPU:0" or "/GPU:N"
    policy: str  # keras dtype policy: float32, mixed_float16 or mixed_bfloat16
    name: str

    @property
    def is_gpu(self) -> bool:
        return "GPU" in self.device

    @property
    def loss_scaling(self) -> bool:
        return self.policy == "mixed_float16"

    def describe(self) -> dict[str, Any]:
        import tensorflow as tf

        return {
            "device": self.device.strip("/").lower(),
            "device_name": self.name,
            "amp": {"float32": "off", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[
                self.policy
            ],
            "threads": tf.config.threading.get_intra_op_parallelism_threads() or _threads(),
            "framework": f"keras {sys.modules['keras'].__version__} / tensorflow {tf.__version__}",
        }

    def scope(self):
        """``with rt.scope():`` places ops on this runtime's device."""
        import tensorflow as tf

        return tf.device(self.device)

    def apply_policy(self) -> None:
        """Set keras' global dtype policy (call before building the networks)."""
        keras_module().mixed_precision.set_dtype_policy(self.policy)


def runtime(spec: str = "auto", amp: str = "auto") -> Runtime:
    """``auto``: TensorFlow's first GPU when there is one, else the CPU; ``cuda``/``cuda:N``
    must exist. ``amp``: auto (bf16 where supported, else fp16 with loss scaling, on a GPU
    only), bf16, fp16, off."""
    keras_module()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    spec = (spec or "auto").lower()
    if spec in ("cpu", "mps") or (spec == "auto" and not gpus):
        if spec == "mps":
            raise StepError(
                "device 'mps' is not available to the keras backend", hint="use device: auto"
            )
        return Runtime("/CPU:0", "float32", "cpu")
    if spec.startswith(("cuda", "gpu")):
        if not gpus:
            raise StepError(
                f"device '{spec}' was requested but TensorFlow sees no GPU here",
                hint="use device: auto (falls back to the CPU) or device: cpu",
            )
        index = int(spec.split(":", 1)[1]) if ":" in spec else 0
        if index >= len(gpus):
            raise StepError(f"device '{spec}' does not exist ({len(gpus)} GPUs)")
    elif spec == "auto":
        index = 0
    else:
        raise StepError(f"unknown device '{spec}'", hint="use auto, cpu, cuda or cuda:N")
    details = tf.config.experimental.get_device_details(gpus[index]) or {}
    name = details.get("device_name", f"GPU {index}")
    cc = details.get("compute_capability") or (0, 0)
    if amp == "off":
        policy = "float32"
    elif amp == "bf16" or (amp == "auto" and tuple(cc) >= (8, 0)):
        policy = "mixed_bfloat16"
    else:
        policy = "mixed_float16"
    return Runtime(f"/GPU:{index}", policy, name)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and keras' global seed generator."""
    keras_module().utils.set_random_seed(int(seed) % (2**32))


def fresh_session(seed: int) -> None:
    """Start a step from a clean Keras state: automatic layer names numbered from zero again
    (they name the groups of a ``.weights.h5`` file, so the same run gives the same bytes
    whatever ran before it in the process) and all generators seeded with ``seed``."""
    keras = keras_module()
    keras.backend.clear_session(free_memory=False)
    set_seed(seed)
