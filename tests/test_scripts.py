"""Every audioqual command line in scripts/*.sh parses with the parser it calls.

A recipe script is the documented way to rebuild a shipped model; one argument order that argparse
rejects (a positional list after an option, as `trainset OUT --seed 7 KEY=VALUE` was) breaks it only
when someone runs it from nothing. A word that is one shell variable (`$SEED`) becomes 1 (options
that take numbers); variables inside a word stay as their text: the parsers only see the words'
shape, which is what this checks.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
INVOCATION = re.compile(r'"?\$PY"? -m (audioqual\.cli\.(?:main|shipped_models)) (.*)')
VARIABLE = re.compile(r"\$\{?\w+\}?")
OVERRIDE = re.compile(r"[\w.]+=.*")


def command_lines() -> list[tuple[str, str, list[str]]]:
    """(script and line, module, arguments) of every `$PY -m audioqual.cli...` call, continuations joined."""
    found = []
    for script in sorted(SCRIPTS.glob("*.sh")):
        text = script.read_text().replace("\\\n", " ")
        for number, line in enumerate(text.splitlines(), 1):
            match = INVOCATION.search(line)
            if not match:
                continue
            words = shlex.split(match.group(2).split(" || ")[0].split(" | ")[0], comments=True)
            words = ["1" if VARIABLE.fullmatch(word) else word for word in words if not word.startswith(">")]
            found.append((f"{script.name}:{number}", match.group(1), words))
    return found


def parser_for(module: str, words: list[str]):
    if module.endswith("shipped_models"):
        from audioqual.cli.shipped_models import build_parser

        return build_parser()
    from audioqual.cli.main import _selected_command, build_parser

    return build_parser(_selected_command(words))


LINES = command_lines()


def test_scripts_call_audioqual() -> None:
    assert any(module.endswith("shipped_models") for _, module, _ in LINES)
    assert any(module.endswith("main") for _, module, _ in LINES)


@pytest.mark.parametrize(("where", "module", "words"), LINES, ids=[where for where, _, _ in LINES])
def test_script_command_parses(where: str, module: str, words: list[str]) -> None:
    parser = parser_for(module, words)
    try:
        args = parser.parse_args(words)
    except SystemExit as err:
        pytest.fail(f"{where}: {module} rejects {' '.join(words)!r} (exit {err.code})")
    if hasattr(args, "overrides"):  # KEY=VALUE lists must reach the list, not be dropped or misread
        expected = [word for word in words if OVERRIDE.fullmatch(word)]
        assert args.overrides == expected, where
