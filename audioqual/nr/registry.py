"""The head registry of the no-reference model, re-exported from `audioqual.heads` where it lives.

Heads depend on `audioqual.heads.base` only; `audioqual.nr` depends on heads, never the reverse.
"""

from audioqual.heads.base import HeadFactory, InputInfo
from audioqual.heads.registry import BUILTIN_HEADS, head_factory

__all__ = ["BUILTIN_HEADS", "HeadFactory", "InputInfo", "head_factory"]
