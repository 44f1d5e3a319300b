"""Cold start: build what the container keeps with the cyclic garbage collector paused.

The handler's imports, the boto3 clients and the HTTP resolver live as long as the container. A
collection while they are being built is wasted work, and grows with them: each one walks the
objects already built. ``make bench`` measured it at ~35 ms of a cold container's first answer
(README, Benchmarks). So those steps run with the collector paused, and the collector resumes
after them.

The two imports (the handler's, and the HTTP API's on the first API event) also freeze what they
built (``gc.freeze``: later collections skip it, as Python's docs advise before fork), once each
per process, and only when the import succeeded. Freezing takes every object tracked at that
moment, including the reference cycles that died during the pause: botocore's model data leaves
~27k such objects (~7 MB by ``sys.getsizeof``; +1.4 to 8 MB of RSS measured), kept for the
container's life, as collecting them first would cost most of the gain. Client creation pauses
but never freezes: a process that re-creates clients (the test suite resets them for every test)
would otherwise freeze everything alive each time and grow without bound.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic collector for the block, then resume it; with ``freeze``, first freeze
    what exists, if the block did not raise.

    Nested blocks, and a collector someone else turned off, are left alone: only the block that
    paused it resumes (and freezes)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    except BaseException:
        gc.enable()
        raise
    if freeze:
        gc.freeze()
    gc.enable()
