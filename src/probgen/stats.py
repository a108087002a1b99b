"""Small statistical estimates shared by the chapters' verdicts."""

from __future__ import annotations

import math
import numbers


def wilson_interval(events: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion events/n, inside [0, 1].

    Unlike p ± z·se it is well defined at 0 and n events and never of zero width; z = 1.96 gives 95 %.
    """
    if not (isinstance(events, numbers.Integral) and isinstance(n, numbers.Integral)) or n < 1 or not 0 <= events <= n:
        raise ValueError(f"need integers 0 <= events <= n and n >= 1, got events={events!r}, n={n!r}")
    f = events / n
    centre = (f + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(f * (1 - f) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)
