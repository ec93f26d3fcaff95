"""Locate an ffmpeg binary: the system one, else the imageio-ffmpeg wheel's."""

from __future__ import annotations

import functools
import os
import shutil

from audioqual.errors import AudioqualError


@functools.lru_cache(maxsize=1)
def ffmpeg_executable() -> str:
    """Path of the ffmpeg binary to run; AUDIOQUAL_FFMPEG overrides the search."""
    override = os.environ.get("AUDIOQUAL_FFMPEG")
    if override:
        return override
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError as err:
        raise AudioqualError("ffmpeg not found: install Debian's ffmpeg or `pip install imageio-ffmpeg`") from err
    return imageio_ffmpeg.get_ffmpeg_exe()
