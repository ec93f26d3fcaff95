"""Files that installed packages bring (bundled model weights), found without importing the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from audioqual.errors import ModelLoadError


def package_file(module: str, relative: str | Path, distribution: str | None = None) -> Path:
    """A file inside an installed package, found without importing the package (its imports can be heavy)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"package {module!r} is not installed: `pip install --no-deps {distribution or module}` brings its weights"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise ModelLoadError(f"{path}: missing from the installed {module!r} package (reinstall it)")
    return path
