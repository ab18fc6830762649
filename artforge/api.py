"""The public plugin API: everything a plugin may import from artforge lives here.

Anything not listed in ``__all__`` is private and may change between versions. A plugin
can declare the versions it supports with a module attribute ``ARTFORGE_REQUIRES =
">=0.1,<0.2"``; an incompatible plugin is refused with a message naming both versions.
"""

from __future__ import annotations

from . import __version__
from .artifacts import Artifact, FileArtifact, ImageSet, ModelArtifact
from .atomic import atomic_open, write_bytes, write_json, write_text
from .context import ImageSetWriter, StepContext, safe_name
from .errors import (
    ArtforgeError,
    BackendUnavailable,
    DataError,
    Diverged,
    PluginError,
    ResourceError,
    StepError,
)
from .hookspecs import hookimpl
from .images import as_uint8, load_image, resize, resize_crop, save_png
from .params import InputRef, Params
from .registry import Backend, StepType
from .seeding import derive_seed

API_VERSION = __version__

__all__ = [
    "API_VERSION",
    "Artifact",
    "ArtforgeError",
    "Backend",
    "BackendUnavailable",
    "DataError",
    "Diverged",
    "FileArtifact",
    "ImageSet",
    "ImageSetWriter",
    "InputRef",
    "ModelArtifact",
    "Params",
    "PluginError",
    "ResourceError",
    "StepContext",
    "StepError",
    "StepType",
    "as_uint8",
    "atomic_open",
    "derive_seed",
    "hookimpl",
    "load_image",
    "resize",
    "resize_crop",
    "safe_name",
    "save_png",
    "write_bytes",
    "write_json",
    "write_text",
]
