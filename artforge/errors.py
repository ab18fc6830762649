"""The one error hierarchy of artforge.

Every error a user can cause derives from :class:`ArtforgeError`. The CLI turns these into a
single clear message and exit status 2; anything else is an internal error (exit status 1,
traceback only with ``--debug``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in a file a value came from (1-based line and column)."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


class ArtforgeError(Exception):
    """Base class of every error a user can cause or fix. Exit status 2."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class RecipeError(ArtforgeError):
    """A recipe is malformed: bad YAML, unknown key, wrong type, dangling reference, cycle."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        key_path: str | None = None,
        hint: str | None = None,
    ):
        self.location = location
        self.key_path = key_path
        prefix = f"{location}: " if location else ""
        key = f"{key_path}: " if key_path else ""
        super().__init__(f"{prefix}{key}{message}", hint=hint)
        self.bare_message = message


class PluginError(ArtforgeError):
    """A plugin is broken: fails to import, misspelt hook, duplicate registration, bad schema."""


class StepError(ArtforgeError):
    """A step failed because of its input or parameters (bad image, impossible size, ...)."""


class DataError(StepError):
    """An input file is missing, unreadable, truncated, too large or otherwise unusable."""


class BackendUnavailable(ArtforgeError):
    """A recipe asks for a backend whose framework is not installed."""


class ResourceError(ArtforgeError):
    """The machine ran out of something: disk space, GPU memory, a writable output folder."""


class RunLocked(ArtforgeError):
    """Another artforge process is writing to the same run directory."""


class Diverged(StepError):
    """Training diverged (NaN/inf losses, or a collapsed discriminator)."""


class CheckpointError(StepError):
    """A step's own checkpoint (in ``.work/``) cannot be resumed from: unreadable, or readable
    but not this step's (wrong keys or shapes). Raise it from the code that loads the
    checkpoint; the runner names the step and the recovery, ``--force STEP``."""

    def __init__(self, path: object, message: str):
        self.path = str(path)
        super().__init__(
            message,
            hint="run again with --force STEP to start the step afresh (it discards the checkpoint)",
        )


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """Return a "did you mean 'x'?" hint for a misspelt word, or None."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
