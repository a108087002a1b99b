"""Run functions in several spawned processes at the same moment, round after round (for race tests).

Each process gets its own `(target, args)`; a barrier starts every round in all
of them at once, so the writes overlap as they would when two notebooks run
side by side. Targets must be importable top-level functions (spawn pickles
them by name); keep their modules light, each child imports them.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Callable, Sequence

_TIMEOUT_S = 120


def _loop(target, args, rounds, barrier, errors) -> None:
    for r in range(rounds):
        barrier.wait(_TIMEOUT_S)
        try:
            target(*args)
        except Exception as exc:  # reported to the parent, which fails the test
            errors.put(f"round {r}, {target.__name__}: {type(exc).__name__}: {exc}")
        barrier.wait(_TIMEOUT_S)


def race(jobs: Sequence[tuple[Callable, tuple]], *, rounds: int, between: Callable[[int], None] | None = None) -> list[str]:
    """Run every `target(*args)` of `jobs` in its own process, all at once, `rounds` times.

    `between(r)` runs in this process after round `r` has finished everywhere
    (e.g. to empty a cache before the next round). Returns the errors raised
    in the children, one line each.
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs) + 1)
    errors = ctx.SimpleQueue()  # put() writes straight to the pipe: everything is there when a round ends
    procs = [ctx.Process(target=_loop, args=(t, a, rounds, barrier, errors), daemon=True) for t, a in jobs]
    for p in procs:
        p.start()
    found = []
    try:
        for r in range(rounds):
            barrier.wait(_TIMEOUT_S)  # everyone starts round r
            barrier.wait(_TIMEOUT_S)  # everyone has finished it
            while not errors.empty():
                found.append(errors.get())
            if between is not None:
                between(r)
    finally:
        for p in procs:
            p.join(_TIMEOUT_S)
    return found
