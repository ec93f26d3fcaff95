"""audioqual: learned, perceptual audio quality assessment."""

__version__ = "0.1.0"
