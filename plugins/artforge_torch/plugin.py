"""Registration of the PyTorch backend. Imports nothing heavy: torch is imported by the
factories and step functions, only when a recipe needs them."""

from __future__ import annotations

from artforge.api import Backend, hookimpl

BACKEND = "torch"


@hookimpl
def register_backends(register):
    register(
        Backend(
            name=BACKEND,
            requires=("torch",),
            install='pip install torch==2.13.0 (CPU) or the CUDA build for your GPU, then pip install -e ".[torch]"',
            description="PyTorch: CUDA with autocast and channels_last when present, else the CPU",
        )
    )
