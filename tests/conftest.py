"""Shared fixtures. Core tests need neither torch nor tensorflow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Idle OpenMP threads sleep instead of spinning: several times faster on a shared CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def host():
    """A plugin host with only the core's default plugins (no installed plugins)."""
    from artforge.plugins import PluginHost

    return PluginHost(load_installed=False)


@pytest.fixture
def write_recipe(tmp_path):
    """Write a recipe file into tmp_path and return its path."""

    def write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
