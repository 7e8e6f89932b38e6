"""Linear-time checks without absolute timings: the time on an input of size 2N over the time on N.

Linear code gives about 2, quadratic about 4. Each size is timed in interleaved rounds with the
garbage collector off, by the thread's CPU time (time spent preempted on a loaded machine does not
count, and a longer run is preempted more often), and the fastest run of each counts. Noise on a busy machine only adds
time, so the fastest runs approach the true times from above; after ``min_rounds`` (enough for
the fastest small run to be near its true time, so noise cannot pull quadratic code under the
bound) the rounds stop once the ratio is under the bound, else they run to ``rounds``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

LINEAR_RATIO_BOUND = 3.0  # between linear (2) and quadratic (4)


def _time(fn: Callable[[Any], object], arg: Any) -> float:
    start = time.thread_time()
    fn(arg)
    return time.thread_time() - start


def doubling_ratio(fn: Callable[[Any], object], small: Any, large: Any, *, rounds: int = 15, min_rounds: int = 5,
                   bound: float = LINEAR_RATIO_BOUND) -> float:
    """Fastest ``fn(large)`` / fastest ``fn(small)``, where ``large`` is twice ``small``."""
    fn(small)  # warm caches and lazy imports
    t_small = t_large = float("inf")
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for done in range(1, max(rounds, min_rounds) + 1):
            t_small = min(t_small, _time(fn, small))
            t_large = min(t_large, _time(fn, large))
            if done >= min_rounds and t_large / t_small < bound:
                break
    finally:
        if enabled:
            gc.enable()
    return t_large / t_small


def swallow(fn: Callable[[Any], object], *errors: type[BaseException]) -> Callable[[Any], object]:
    """``fn`` with the given exceptions caught (to time a call that is expected to raise them)."""

    def call(arg: Any) -> object:
        try:
            return fn(arg)
        except errors as exc:
            return exc

    return call
