"""Tolerances derived from floating-point rounding, so that tests pass on any CPU and still catch real bugs.

Float results depend on the kernels a CPU runs (AVX-512, AVX2, NEON or none split reductions differently), so a
test that compares two floating-point computations must allow for their rounding, and no more: a hard-coded 1e-6
on a float32 quantity of size 10 is below one rounding step, while 1e-3 would hide a missing factor.

One correctly rounded operation errs by at most eps/2 relative to its result (eps = `torch.finfo(dtype).eps`,
2^-23 ≈ 1.2e-7 for float32, 2^-52 ≈ 2.2e-16 for float64), so k operations on values of size |v| err by about
k·eps/2·|v| at worst. `rounding_tol(dtype, magnitude, ops)` is ops·eps·magnitude: choose `magnitude` as the size
of the terms that were rounded (for a sum, Σ|terms|, which can be much larger than the result), and `ops` as the
number of roundings that can pile up, and say at the call why.
"""

import torch


def rounding_tol(dtype: torch.dtype, magnitude=1.0, ops: float = 1):
    """ops · eps(dtype) · magnitude: an absolute tolerance (a float, or a tensor if `magnitude` is one).

    With magnitude = 1 it is a relative tolerance (pytest.approx's `rel`, assert_close's `rtol`).
    """
    return ops * torch.finfo(dtype).eps * magnitude
