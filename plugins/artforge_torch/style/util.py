"""Small torch helpers shared by the style-transfer and super-resolution code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artforge.api import StepError, atomic_open


def resolve_device(name: str | None) -> torch.device:
    """``auto`` -> the first CUDA GPU if there is one, else the CPU (the shared rule of the
    torch backend); also uses every core unless OMP_NUM_THREADS says otherwise."""
    from ..training.device import configure_threads
    from ..training.device import resolve_device as shared

    configure_threads()
    return shared(name or "auto")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    return str(device)


def to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 HxWx3 -> float 1x3xHxW in [0, 1]."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    a = np.require(a[..., :3], requirements=["C", "W"])  # a writable copy only if needed
    t = torch.from_numpy(a).permute(2, 0, 1).float().div_(255.0)
    return t.unsqueeze(0).contiguous().to(device)


def batch_to_tensor(imgs: list[np.ndarray], device: torch.device | str = "cpu") -> torch.Tensor:
    """A list of same-sized uint8 HxWx3 images -> float Nx3xHxW in [0, 1]."""
    a = np.stack([np.asarray(i)[..., :3] for i in imgs])
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0).contiguous().to(device)


def to_image(t: torch.Tensor) -> np.ndarray:
    """float (1x)3xHxW in [0, 1] -> uint8 HxWx3 (rounded, clipped)."""
    if t.dim() == 4:
        t = t[0]
    a = t.detach().float().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(a)


def save_safetensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Write tensors with JSON metadata (``artforge`` key) atomically."""
    from safetensors.torch import save

    blob = save(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
        metadata={"artforge": json.dumps(meta, sort_keys=True)},
    )
    with atomic_open(path, "wb") as fh:
        fh.write(blob)


def load_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and the ``artforge`` metadata of a file written by :func:`save_safetensors`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise StepError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("artforge", "{}"))
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except StepError:
        raise
    except Exception as exc:
        raise StepError(
            f"cannot read checkpoint {path}: {exc}",
            hint="expected a .safetensors file written by artforge",
        ) from None
    return tensors, meta


def save_state(path: Path, state: dict[str, Any]) -> None:
    """A resumable training state (tensors, numbers, optimiser state) written atomically;
    read back with ``torch.load(weights_only=True)``, which never unpickles code."""
    from ..training.checkpoint import save_checkpoint

    save_checkpoint(path, state)


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, or None if there is none or it is damaged (then training restarts)."""
    from ..training.checkpoint import load_checkpoint

    if not path.is_file():
        return None
    try:
        return load_checkpoint(path)
    except StepError:
        return None
