"""Errors users see: each names the file and the problem in one line."""

from __future__ import annotations

from pathlib import Path


class RelitError(Exception):
    """Base of every error Relit reports to users instead of a traceback."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class CaptureError(RelitError):
    """A capture folder (or a file in it) cannot be used."""


class ImageError(RelitError):
    """An image file is missing, corrupt, or holds values Relit cannot use."""


class MeshError(RelitError):
    """A mesh file is missing, corrupt or degenerate."""


class SceneError(RelitError):
    """A saved scene cannot be read or written."""
