"""Registration of the Keras 3 (TensorFlow) backend. Imports nothing heavy: keras is imported by the
factories and step functions, only when a recipe needs them.

Each feature module listed in ``FEATURES`` offers module-level lists that this plugin
registers: ``STEPS`` (StepType), ``MODELS`` ((kind, name, factory, description)),
``TRAINERS`` and ``STYLE_OPTIMISERS`` ((name, factory, description); a GAN trainer adds
its ``data`` kind: (name, factory, description, data)). Feature modules import
only pydantic and artforge, never keras or tensorflow.
"""

from __future__ import annotations

import importlib

from artforge.api import Backend, hookimpl

BACKEND = "keras"
FEATURES = (
    "artforge_keras.features.gan",
    "artforge_keras.features.style",
    "artforge_keras.features.sr",
)


def _features():
    for name in FEATURES:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module
                raise


@hookimpl
def register_backends(register):
    register(
        Backend(
            name=BACKEND,
            requires=("keras", "tensorflow"),
            install='pip install -e ".[keras]"  (tensorflow-cpu and keras 3)',
            description="Keras 3 on TensorFlow: GPU with a mixed-precision policy when present, else the CPU",
        )
    )


@hookimpl
def register_steps(register):
    for mod in _features():
        for step_type in getattr(mod, "STEPS", ()):
            register(step_type)


@hookimpl
def register_models(register):
    for mod in _features():
        for kind, name, factory, description in getattr(mod, "MODELS", ()):
            register(kind, name, factory, backend=BACKEND, description=description)


@hookimpl
def register_trainers(register):
    for mod in _features():
        for name, factory, description, *data in getattr(mod, "TRAINERS", ()):
            # a 4th item: the training data train-gan builds (a GAN trainer: model: NAME)
            register(
                name, factory, backend=BACKEND, description=description, data=next(iter(data), None)
            )


@hookimpl
def register_style_optimisers(register):
    for mod in _features():
        for name, factory, description in getattr(mod, "STYLE_OPTIMISERS", ()):
            register(name, factory, backend=BACKEND, description=description)
