"""Full-state checkpoints, written atomically and read back without unpickling code.

A checkpoint is a ``torch.save`` of plain containers and tensors (networks, optimisers,
schedulers, EMA, RNG states, epoch, iteration) and is loaded with ``weights_only=True``,
which refuses anything but tensors and primitive types. Final weights are exported as
safetensors.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artforge.api import CheckpointError, StepError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise CheckpointError(
            path, f"cannot read checkpoint {path} ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            path, f"checkpoint {path} holds a {type(state).__name__}, not an artforge checkpoint"
        )
    return state


def foreign(path: Path, exc: BaseException) -> CheckpointError:
    """A checkpoint that loads but does not fit (wrong keys or shapes): not this step's."""
    detail = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
    return CheckpointError(
        path, f"checkpoint {path} is not a checkpoint of this step ({detail.splitlines()[0]})"
    )


def rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": list(random.getstate()[1]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> dict[str, Any]:
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    ns = state["numpy"]
    np.random.set_state(
        ("MT19937", ns["keys"].numpy().astype(np.uint32), ns["pos"], ns["has_gauss"], ns["gauss"])
    )
    random.setstate((3, tuple(state["python"]), None))


def export_safetensors(
    path: Path, module: torch.nn.Module, metadata: dict[str, str] | None = None
) -> None:
    """Write a module's weights (and buffers) as safetensors, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # one key: safetensors writes a metadata map in random order, which would make the
        # file's bytes (and its sha256) differ between identical runs
        packed = {"artforge": json.dumps(metadata, sort_keys=True)} if metadata else None
        save_file(tensors, tmp, metadata=packed)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def import_safetensors(path: Path, module: torch.nn.Module) -> None:
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise StepError(f"cannot read weights {path}: {exc}") from None
    missing, unexpected = module.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise StepError(
            f"weights {path} do not fit the network: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
