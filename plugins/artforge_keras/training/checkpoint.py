"""Full-state checkpoints in Keras' own format, written atomically.

A checkpoint is one ``.weights.h5`` file written by ``Model.save_weights`` of the GAN model:
the networks (and the EMA generator), both optimisers' variables (Adam's step count and
moments: the optimisers are attributes of the model, so Keras saves them with it) and the
loss trackers. The training progress goes into an extra ``artforge`` group of the same
file: epoch, iteration, rollbacks, base learning rates, curves, the divergence guard's
count (JSON) and the states of every ``keras.random.SeedGenerator`` (dropout and the
model's own), which ``save_weights`` leaves out. One file, so it is replaced in one
``os.replace``: an interrupted write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from artforge.api import CheckpointError

STATE_GROUP = "artforge"


def seed_states(model) -> list:
    """The state variables of every SeedGenerator in ``model``, in a stable order."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: Path, model, state: dict[str, Any]) -> None:
    """Write ``model``'s weights (with its optimisers) and ``state`` to ``path`` atomically."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".weights.h5", dir=path.parent)
    os.close(fd)
    try:
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            group = f.create_group(STATE_GROUP)
            group.attrs["state"] = json.dumps(state, sort_keys=True)
            for i, v in enumerate(seed_states(model)):
                group.create_dataset(f"seed_{i}", data=np.asarray(v.numpy()))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path, model) -> dict[str, Any]:
    """Restore ``model`` (weights, optimisers, seed states) from ``path``; return the state."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f[STATE_GROUP]
            state = json.loads(group.attrs["state"])
            seeds = [np.asarray(group[f"seed_{i}"]) for i in range(len(seed_states(model)))]
        model.load_weights(path)
    except Exception as exc:  # corrupt, foreign or from a different configuration
        what = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise CheckpointError(
            path, f"cannot read checkpoint {path} as this step's ({what.splitlines()[0]})"
        ) from None
    for var, value in zip(seed_states(model), seeds):
        var.assign(value)
    return state


def save_weights_file(path: Path, net) -> None:
    """A network's weights as ``.weights.h5`` (Keras' format), written atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".weights.h5", dir=path.parent)
    os.close(fd)
    try:
        net.save_weights(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
