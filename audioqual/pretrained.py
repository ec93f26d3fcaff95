"""One model-folder format for every saved model: `save_pretrained` / `from_pretrained`, hub id or local folder.

A model folder holds one JSON config file (each model class names it) that
records `format_version`, and whatever files the model writes beside it.
Saving builds the whole folder under a temporary name and swaps it in, so
neither a reader nor a crash ever sees half a model; top-level files that an
earlier save left there and this one does not write are kept, as they were.
Loading takes a local folder or a Hugging Face hub id and checks the version:
a folder without one was saved before versions were written and reads as
version 1; a folder from a newer audioqual is refused with a clear error.
Torch-free, so the smallest models (NSIM fusion) load without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from audioqual.data.files import jsonable
from audioqual.errors import ModelLoadError

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
LEGACY_FORMAT_VERSION = 1  # what a folder saved before format versions were written is


class Pretrained:
    """save_pretrained / from_pretrained over a model folder; subclasses write and read their own files.

    A subclass sets `config_file` (and `model_type` when its config names one), implements
    `_save_files(folder, ...) -> config` and `_from_files(directory, config, ...) -> model`.
    """

    config_file: ClassVar[str] = "config.json"
    model_type: ClassVar[str | None] = None  # the config's "model_type" (None: the config file alone tells)
    format_version: ClassVar[int] = 1  # the newest format this code writes and reads
    kind: ClassVar[str] = "model"  # what error messages call it

    def save_pretrained(self, directory: str | Path, **options: Any) -> Path:
        """Write the model folder atomically: the model's files, then its config with `format_version`."""

        def write(folder: Path) -> None:
            config = dict(self._save_files(folder, **options))
            config.setdefault("format_version", self.format_version)
            write_config(folder / self.config_file, config)

        return write_folder(directory, write)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *args: Any, revision: str | None = None, **options: Any) -> Self:
        """Load a folder written by `save_pretrained` (or a hub id of one); refuses newer formats."""
        directory = resolve_model_dir(name_or_path, revision, marker=cls.config_file, kind=cls.kind)
        return cls._from_files(directory, cls.read_config(directory), *args, **options)

    @classmethod
    def read_config(cls, directory: str | Path) -> dict[str, Any]:
        """The folder's config, checked: readable, of this class's model type, a format version it reads."""
        path = Path(directory) / cls.config_file
        config = read_config(path, cls.format_version)
        if cls.model_type is not None and config.get("model_type") != cls.model_type:
            raise ModelLoadError(f"{path}: model_type {config.get('model_type')!r} is not a {cls.kind}")
        return config

    @classmethod
    def is_saved_in(cls, directory: Path) -> bool:
        """Whether `directory` holds this class's config (and model type); reads nothing else."""
        path = directory / cls.config_file
        return path.is_file() and (cls.model_type is None or _model_type(path) == cls.model_type)

    def _save_files(self, folder: Path, **options: Any) -> dict[str, Any]:
        """Write the model's files into the (new, empty) `folder`; return its config."""
        raise NotImplementedError

    @classmethod
    def _from_files(cls, directory: Path, config: dict[str, Any], *args: Any, **options: Any) -> Self:
        """Build the model from a checked config and the folder's other files."""
        raise NotImplementedError


def load_pretrained(
    name_or_path: str | Path, classes: Sequence[type[Pretrained]], *args: Any, revision: str | None = None, **options: Any
) -> Pretrained:
    """The model saved at a folder (or hub id), as whichever of `classes` wrote it."""
    directory = resolve_model_dir(name_or_path, revision)
    for cls in classes:
        if cls.is_saved_in(directory):
            return cls.from_pretrained(directory, *args, **options)
    kinds = " or ".join(cls.kind for cls in classes)
    found = sorted({cls.config_file for cls in classes if (directory / cls.config_file).is_file()})
    if found:
        raise ModelLoadError(f"{name_or_path}: model_type {_model_type(directory / found[0])!r} is not a {kinds}")
    raise ModelLoadError(f"{name_or_path}: not a {kinds} directory (no {' or '.join(c.config_file for c in classes)})")


def _model_type(path: Path) -> Any:
    """The "model_type" of a JSON config, or None when it names none or cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def read_config(path: Path, newest_version: int) -> dict[str, Any]:
    """A model folder's JSON config, with a clear error when it is unreadable or of a newer format."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{path}: cannot read model config ({err})") from err
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: not a model config")
    check_format_version(config, path, newest_version)
    return config


def check_format_version(config: dict[str, Any], path: Path, newest_version: int) -> int:
    """The config's format_version (1 when absent); a ModelLoadError for one newer than `newest_version`."""
    version = config.get("format_version", LEGACY_FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelLoadError(f"{path}: format_version {version!r} is not a format version")
    if version > newest_version:
        raise ModelLoadError(
            f"{path}: format_version {version} is newer than this audioqual reads (up to {newest_version}); "
            "upgrade audioqual to load this model"
        )
    return version


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Indented JSON (NaN and infinity as null, numpy values as numbers, anything else by its str)."""
    path.write_text(json.dumps(jsonable(config), indent=2, default=str) + "\n", encoding="utf-8")


def write_folder(directory: str | Path, write: Callable[[Path], None]) -> Path:
    """Let `write` fill a new folder, then swap it in for `directory` (earlier top-level files it lacks are kept)."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ModelLoadError(f"{target}: exists and is not a directory")
    absolute = target.absolute()
    absolute.parent.mkdir(parents=True, exist_ok=True)
    staging = absolute.with_name(f".{absolute.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write(staging)
        if absolute.exists():
            _copy_missing(absolute, staging)
            retired = absolute.with_name(f".{absolute.name}.old-{os.getpid()}")
            os.replace(absolute, retired)
            os.replace(staging, absolute)
            shutil.rmtree(retired)
        else:
            os.replace(staging, absolute)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _copy_missing(source: Path, destination: Path) -> None:
    """Copy the top-level files and folders of `source` that `destination` does not have."""
    for entry in source.iterdir():
        copy = destination / entry.name
        if copy.exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, copy)
        else:
            shutil.copy2(entry, copy)


def resolve_model_dir(
    name_or_path: str | Path, revision: str | None = None, marker: str | None = None, kind: str = "model"
) -> Path:
    """A local directory as is; a hub id through the hub cache (clear error when offline).

    `marker` is the file that makes a directory a `kind` directory (config.json for transformers models).
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if marker is not None and not (path / marker).exists():
            raise ModelLoadError(f"{path}: not a {kind} directory (no {marker})")
        return path
    if path.exists():
        raise ModelLoadError(f"{path}: expected a model directory, got a file")
    if not HUB_ID.fullmatch(str(name_or_path)):
        raise ModelLoadError(f"{path}: model directory does not exist (and it is not a hub id like 'org/name')")
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                str(name_or_path),
                revision=revision,
                allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt"],
            )
        )
    except Exception as err:
        raise ModelLoadError(
            f"cannot fetch {name_or_path!r} from the Hugging Face hub ({type(err).__name__}: {err}). "
            "Without hub access, download the model elsewhere and pass its local directory."
        ) from err
