"""The allocator setting of the command line: freed blocks are reused, not faulted in again on each call."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from audioqual.allocator import ENVIRONMENT_SWITCH
from audioqual.cli import main as cli_main

# Allocates a block, writes it, frees it, and counts the page faults of doing that again.
REUSE_PROBE = """
import ctypes, resource, sys
if sys.argv[1] == "retain":
    from audioqual.allocator import retain_freed_memory
    print(retain_freed_memory())
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
size = 200 << 20

def write_and_free():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(ctypes.c_void_p(block))

write_and_free()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
write_and_free()
print("faults", resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def reuse_probe(mode: str, **environment: str) -> tuple[str, int]:
    """What the probe printed before its count, and the page faults of writing a freed block again."""
    done = subprocess.run([sys.executable, "-c", REUSE_PROBE, mode], capture_output=True, text=True, check=True,
                          env={**os.environ, **environment})  # fmt: skip
    *said, faults = done.stdout.strip().splitlines()
    return " ".join(said), int(faults.split()[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_freed_block_is_reused_without_page_faults():
    pages = (200 << 20) // 4096
    said, faults = reuse_probe("retain")
    assert "keeps freed blocks up to 1024 MiB" in said
    assert faults < pages // 50  # the heap block is written again in place
    _, default_faults = reuse_probe("default")
    assert default_faults > pages // 2  # glibc's own mapping of it went back to the kernel and is faulted in anew
    said, switched_off = reuse_probe("retain", **{ENVIRONMENT_SWITCH: "0"})
    assert "glibc defaults" in said and switched_off > pages // 2


def test_every_command_runs_with_the_allocator_set(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(cli_main, "retain_freed_memory", lambda: calls.append(1) or "set")
    absent = str(tmp_path / "absent.csv")
    assert cli_main.main(["evaluate", "--manifest", absent, "--predictions", absent, "-o", str(tmp_path / "out")]) == 2
    assert "absent.csv" in capsys.readouterr().err
    assert calls == [1]
