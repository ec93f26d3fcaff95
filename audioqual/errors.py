"""Exception types shared across the package."""

from __future__ import annotations

from pathlib import Path


class AudioqualError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class AudioInputError(AudioqualError):
    """An input file cannot be used; names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Rebuild from (path, problem) when crossing a process boundary (worker pools, Ray).
        return (type(self), (self.path, self.problem))


class ManifestError(AudioqualError):
    """A manifest file or one of its rows is malformed."""


class ModelLoadError(AudioqualError):
    """A model directory or hub id cannot be loaded."""
