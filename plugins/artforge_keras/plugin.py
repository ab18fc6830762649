"""Registration of the Keras 3 (TensorFlow) backend. Imports neither keras nor tensorflow."""

from __future__ import annotations

from artforge.api import Backend, hookimpl

BACKEND = "keras"


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
