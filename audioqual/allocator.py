"""Keep freed memory in the process between scorings instead of faulting it back in on every call.

glibc malloc gives every block above its mmap threshold (128 KiB at start, rising with use to at
most 32 MiB) its own mapping, returned to the kernel when freed, and hands the top of the heap
back above its trim threshold. A model's activations on a long clip are such blocks, so each call
faults all of them in again, a page at a time: scoring a 30 s pair with default-v1 took 300 000
page faults and 1 s of its 1.8 s in the kernel, and how many depended on what the process had run
before (the same 10 s pair took 0.024-0.052 s per audio-second in six fresh processes). With both
thresholds at `RETAIN_BYTES` the blocks come from the heap and stay there: no faults after the
first call, 0.026-0.034 s per audio-second at 30 s over three processes.

The price is memory: up to `RETAIN_BYTES` freed memory stays with the process (its peak is what
the largest clip needs either way). The command line calls `retain_freed_memory` before every
command; set AUDIOQUAL_RETAIN_FREED_MEMORY=0 to keep glibc's defaults. Library users call it
themselves. Not glibc (macOS, musl): nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

RETAIN_BYTES = 1 << 30  # blocks up to this size come from the heap; this much freed heap top is kept
ENVIRONMENT_SWITCH = "AUDIOQUAL_RETAIN_FREED_MEMORY"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def retain_freed_memory(limit: int = RETAIN_BYTES) -> str:
    """Set glibc's mmap and trim thresholds to `limit` bytes (which also stops their drift); returns what was done."""
    if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0":
        return f"allocator: glibc defaults ({ENVIRONMENT_SWITCH}=0)"
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, TypeError, AttributeError):
        return "allocator: not glibc, left as it is"
    if not (mallopt(_M_MMAP_THRESHOLD, limit) and mallopt(_M_TRIM_THRESHOLD, limit)):
        return "allocator: glibc refused the thresholds, left as they are"
    return f"allocator: glibc malloc keeps freed blocks up to {limit >> 20} MiB (mmap and trim thresholds)"
