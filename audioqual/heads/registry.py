"""Quality heads by name: the built-in ones are imported only when used.

A name of the form "package.module:ATTRIBUTE" points at a `HeadFactory`
anywhere, so new heads plug in without editing this file. Saved models
record the head's name, so a name or path once written stays resolvable.
"""

from __future__ import annotations

import importlib

from audioqual.errors import AudioqualError
from audioqual.heads.base import HeadFactory

BUILTIN_HEADS = {
    "multigauss": "audioqual.heads.multigauss:FACTORY",
    "aesthetics": "audioqual.heads.aesthetics:FACTORY",
}
MOVED_HEADS = {"audioqual.aesthetics:FACTORY": BUILTIN_HEADS["aesthetics"]}  # paths saved before the heads moved


def head_factory(name: str) -> HeadFactory:
    """The factory registered under `name` (or at "module:ATTRIBUTE")."""
    target = BUILTIN_HEADS.get(name, MOVED_HEADS.get(name, name))
    if ":" not in target:
        raise AudioqualError(f"unknown head {name!r}; known: {sorted(BUILTIN_HEADS)} or 'package.module:FACTORY'")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise AudioqualError(f"head {name!r} is not available in this version ({err})") from err
    factory = getattr(module, attribute, None)
    if not isinstance(factory, HeadFactory):
        raise AudioqualError(f"{target} is not a HeadFactory")
    return factory
