"""Super-resolution for the PyTorch backend: the core's ``super-resolve`` step on this
backend's runtime (:mod:`artforge_torch.sr.runtime`), and its networks, SRGAN included.

Registration only: nothing here imports torch.
"""

from __future__ import annotations

from artforge.sr_step import registrations

STEPS, MODELS, TRAINERS = registrations("torch", "artforge_torch", srgan=True)
